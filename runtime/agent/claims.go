package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// A persistentVolumeClaim volume is a local-path volume: a directory on
// the node that holds the claim, <data-dir>/volumes/<ns>/<claim>_<uid>.
// The UID is part of the name so that a claim deleted and made again
// under the same name starts empty, as a new claim should. The scheduler
// sends every pod of a claim to the claim's node; the agent checks it
// once more (a pod may name its node itself) and deletes the directory
// once the claim is gone.

// claimDir is the directory of claim c.
func (a *Agent) claimDir(c *api.PersistentVolumeClaim) string {
	return filepath.Join(a.cfg.DataDir, "volumes", c.Namespace, c.Name+"_"+c.UID)
}

// claimVolume makes ready the directory behind the pod's claim name.
func (a *Agent) claimVolume(pod *api.Pod, name string, src *sources) (string, error) {
	c, err := src.claim(name)
	if err != nil {
		return "", err
	}
	if c == nil {
		return "", configErrorf("persistentvolumeclaim %q not found", name)
	}
	if node := c.Annotations[api.AnnotationSelectedNode]; node == "" {
		// Nothing chose a node (the pod named its node itself): this
		// node takes the claim, unless another took it meanwhile.
		if c, err = a.takeClaim(src.ctx, c); err != nil {
			return "", err
		}
	} else if node != a.cfg.NodeName {
		return "", configErrorf("persistentvolumeclaim %q keeps its data on node %s, not on this node (%s)", name, node, a.cfg.NodeName)
	}
	dir := a.claimDir(c)
	if c.DeletionTimestamp != nil && len(a.cache.runs(pod.UID)) == 0 {
		// A claim being deleted serves the pods already using it (that
		// have containers here), and no new one.
		return "", configErrorf("persistentvolumeclaim %q is being deleted", name)
	}
	if err := a.adoptLegacyVolume(c, dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o777)
}

// adoptLegacyVolume moves the directory an older skiff kept for the
// claim's name (<data-dir>/volumes/<ns>/<claim>, before claims were
// objects with UIDs) to the claim's directory, so an upgrade keeps the
// data.
func (a *Agent) adoptLegacyVolume(c *api.PersistentVolumeClaim, dir string) error {
	legacy := filepath.Join(a.cfg.DataDir, "volumes", c.Namespace, c.Name)
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if fi, err := os.Stat(legacy); err != nil || !fi.IsDir() {
		return nil
	}
	if err := os.Rename(legacy, dir); err != nil {
		return fmt.Errorf("move the volume of claim %s/%s from %s: %w", c.Namespace, c.Name, legacy, err)
	}
	a.log.Info("kept the data of a claim made before claims had UIDs", "claim", c.Namespace+"/"+c.Name, "from", legacy, "to", dir)
	return nil
}

// takeClaim writes this node on a claim that names none, unless another
// node took it meanwhile.
func (a *Agent) takeClaim(ctx context.Context, c *api.PersistentVolumeClaim) (*api.PersistentVolumeClaim, error) {
	out, err := client.BindClaim(ctx, a.cfg.Client, c, a.cfg.NodeName)
	var elsewhere *client.ClaimElsewhereError
	if errors.As(err, &elsewhere) {
		return nil, configErrorf("persistentvolumeclaim %q keeps its data on node %s, not on this node (%s)", c.Name, elsewhere.Node, a.cfg.NodeName)
	}
	return out, err
}

// claim returns the named claim of the sources' namespace, nil if it does
// not exist.
func (s *sources) claim(name string) (*api.PersistentVolumeClaim, error) {
	if c, ok := s.claims[name]; ok {
		return c, nil
	}
	c, err := client.For[*api.PersistentVolumeClaim](s.backend, s.namespace).Get(s.ctx, name)
	if errdefs.IsNotFound(err) {
		c, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get persistentvolumeclaim %s/%s: %w", s.namespace, name, err)
	}
	s.claims[name] = c
	return c, nil
}

// claimGCLoop collects the volumes of deleted claims every ClaimGCPeriod.
func (a *Agent) claimGCLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.ClaimGCPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.collectClaimVolumes(ctx)
	}
}

// collectClaimVolumes deletes the directories of claims that no longer
// exist (deleted, or deleted and made again: another UID). It deletes
// user data, so it acts only on firm answers:
//   - a successful list of the namespace's claims that lacks the UID (a
//     404 on one claim may be a server without the kind, or a proxy);
//   - seen so in two passes in a row, a period apart;
//   - while no pod of this node that has not finished names the claim,
//     and no container of a pod the agent no longer knows still runs
//     (a force-deleted pod being stopped).
//
// A claim is only deleted once no pod uses it (the pvc-protection
// finalizer), so this is the last step of its life, not a guess.
func (a *Agent) collectClaimVolumes(ctx context.Context) {
	root := filepath.Join(a.cfg.DataDir, "volumes")
	namespaces, err := os.ReadDir(root)
	if err != nil {
		return // none yet
	}
	for _, uid := range a.cache.podUIDs() {
		if len(a.pods.ByIndex(indexUID, uid)) > 0 {
			continue
		}
		for _, r := range a.cache.runs(uid) {
			if r.State == container.StateRunning {
				return // a pod being stopped may still use a volume
			}
		}
	}
	used := map[string]bool{}
	for _, p := range a.pods.List() {
		if p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				used[p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName] = true
			}
		}
	}
	gone := map[string]bool{}
	for _, ns := range namespaces {
		dirs, err := os.ReadDir(filepath.Join(root, ns.Name()))
		if err != nil {
			continue
		}
		var live map[string]bool // claim UIDs of the namespace, listed once
		for _, d := range dirs {
			name, uid, ok := strings.Cut(d.Name(), "_")
			if !ok || !d.IsDir() {
				continue // not a claim's volume
			}
			if used[ns.Name()+"/"+name] {
				continue
			}
			if live == nil {
				claims, _, _, err := client.For[*api.PersistentVolumeClaim](a.cfg.Client, ns.Name()).List(ctx, api.ListOptions{})
				if err != nil {
					break // cannot tell: keep them all
				}
				live = make(map[string]bool, len(claims))
				for _, c := range claims {
					live[c.UID] = true
				}
			}
			if live[uid] {
				continue
			}
			dir := filepath.Join(root, ns.Name(), d.Name())
			gone[dir] = true
			if !a.claimsGone[dir] {
				continue // the first sighting: once more next pass
			}
			if err := os.RemoveAll(dir); err != nil {
				a.log.Warn("delete the volume of a deleted claim", "dir", dir, "err", err)
				continue
			}
			delete(gone, dir)
			a.log.Info("deleted the volume of a deleted claim", "claim", ns.Name()+"/"+name, "uid", uid)
		}
	}
	a.claimsGone = gone
}
