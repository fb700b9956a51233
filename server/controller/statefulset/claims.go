package statefulset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/history"
	"github.com/skiffhq/skiff/server/controller/internal/namespaces"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/record"
)

// claimNames are the claims of replica ordinal: <template>-<set>-<i>.
func claimNames(s *api.StatefulSet, ordinal int) []string {
	out := make([]string, len(s.Spec.VolumeClaimTemplates))
	for i, t := range s.Spec.VolumeClaimTemplates {
		out[i] = claimName(s, &t, ordinal)
	}
	return out
}

func claimName(s *api.StatefulSet, t *api.PersistentVolumeClaim, ordinal int) string {
	return t.Name + "-" + podName(s, ordinal)
}

// newClaim is the claim template t makes for replica ordinal of s, as
// Kubernetes makes it: a copy of the template named <template>-<set>-<i>
// in the set's namespace, labelled with the template's labels and the
// set's selector matchLabels (these win). It has no owner reference: a
// claim outlives its set and its pod (Kubernetes' default, Retain), so
// that a replica created again finds its data.
func newClaim(s *api.StatefulSet, t *api.PersistentVolumeClaim, ordinal int) *api.PersistentVolumeClaim {
	c := api.Clone(t)
	c.TypeMeta = api.TypeMeta{}
	c.Name = claimName(s, t, ordinal)
	c.Namespace = s.Namespace
	c.Status = api.PersistentVolumeClaimStatus{}
	labels := maps.Clone(t.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if s.Spec.Selector != nil {
		maps.Copy(labels, s.Spec.Selector.MatchLabels)
	}
	if len(labels) == 0 {
		labels = nil
	}
	c.Labels = labels
	return c
}

// claimWait says why a replica's pod cannot be created yet: a claim of
// its is being deleted. Once the claim is gone (claimGone queues the set)
// the claim is made afresh and the pod follows.
type claimWait struct{ claim string }

func (w *claimWait) Error() string {
	return fmt.Sprintf("claim %s is being deleted; the pod waits until it is gone and the claim is made afresh", w.claim)
}

// errNamespaceClosing: the namespace is being deleted, so nothing new may
// be made in it (no claim, pod nor revision); not a failure. It is
// history's, which a revision's create returns.
var errNamespaceClosing = history.ErrNamespaceClosing

// ensureClaims creates the claims of replica ordinal that the cache does
// not hold. It returns a *claimWait if a claim is being deleted (the pod
// must not be created on it: its data is going), errNamespaceClosing, or
// the errors of the creates that failed, each recorded as an Event.
func (c *Controller) ensureClaims(ctx context.Context, s *api.StatefulSet, ordinal int) error {
	var wait *claimWait
	var errs []error
	for i := range s.Spec.VolumeClaimTemplates {
		t := &s.Spec.VolumeClaimTemplates[i]
		name := claimName(s, t, ordinal)
		if cur, ok := c.claims.Get(s.Namespace, name); ok {
			if cur.DeletionTimestamp != nil && wait == nil {
				wait = &claimWait{claim: name}
			}
			continue
		}
		deleting, err := c.createClaim(ctx, s, newClaim(s, t, ordinal), podName(s, ordinal))
		switch {
		case err != nil:
			errs = append(errs, err)
		case deleting && wait == nil:
			wait = &claimWait{claim: name}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if wait != nil {
		return wait
	}
	return nil
}

// createClaim creates claim for pod. A claim of that name that exists
// already (the cache is behind) is the replica's, as in Kubernetes; it
// reports whether that claim is being deleted.
func (c *Controller) createClaim(ctx context.Context, s *api.StatefulSet, claim *api.PersistentVolumeClaim, pod string) (deleting bool, err error) {
	claims := client.For[*api.PersistentVolumeClaim](c.cfg.Backend, s.Namespace)
	old, err := c.legacyRecord(ctx, s, claim.Name)
	if err != nil {
		return false, err
	}
	if node := old.node(); node != "" {
		if claim.Annotations == nil {
			claim.Annotations = map[string]string{}
		}
		claim.Annotations[api.AnnotationSelectedNode] = node
	}
	_, err = claims.Create(ctx, claim)
	if err == nil && old != nil {
		c.dropLegacyRecord(ctx, old)
	}
	if errdefs.IsAlreadyExists(err) {
		cur, gerr := claims.Get(ctx, claim.Name)
		if gerr == nil {
			return cur.DeletionTimestamp != nil, nil
		}
		if !errdefs.IsNotFound(gerr) {
			err = gerr
		} // else gone again since: retry
	}
	if err != nil {
		if errdefs.IsForbidden(err) && namespaces.Closing(ctx, c.cfg.Backend, s.Namespace) {
			return false, errNamespaceClosing
		}
		c.events.Eventf(objectRef(s), api.EventTypeWarning, record.ReasonFailedCreate,
			"create Claim %s for Pod %s in StatefulSet %s failed error: %v", claim.Name, pod, s.Name, err)
		return false, fmt.Errorf("create claim %s for pod %s of stateful set %s/%s: %w", claim.Name, pod, s.Namespace, s.Name, err)
	}
	c.events.Eventf(objectRef(s), api.EventTypeNormal, record.ReasonSuccessfulCreate,
		"create Claim %s Pod %s in StatefulSet %s success", claim.Name, pod, s.Name)
	return false, nil
}

// legacyClaimLabel marked the ConfigMap an older skiff kept per replica
// claim, before claims were objects: named as the claim, labelled with
// its set, annotated with the node holding the claim's directory.
const legacyClaimLabel = "skiff.dev/claim-of"

// legacyClaimRecord is such a ConfigMap.
type legacyClaimRecord struct{ cm *api.ConfigMap }

func (r *legacyClaimRecord) node() string {
	if r == nil {
		return ""
	}
	return r.cm.Annotations[api.AnnotationSelectedNode]
}

// legacyRecord finds the record an older skiff kept for claim of s, so
// that the claim made now names the node its data is on (the agent moves
// the old directory to the claim's). nil if there is none.
func (c *Controller) legacyRecord(ctx context.Context, s *api.StatefulSet, claim string) (*legacyClaimRecord, error) {
	cm, err := client.For[*api.ConfigMap](c.cfg.Backend, s.Namespace).Get(ctx, claim)
	switch {
	case errdefs.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("look for the old record of claim %s/%s: %w", s.Namespace, claim, err)
	case cm.Labels[legacyClaimLabel] != s.Name:
		return nil, nil // someone's own config map of that name
	}
	return &legacyClaimRecord{cm: cm}, nil
}

// dropLegacyRecord deletes a record once its claim exists; a failure only
// leaves it (it is not read again once the claim exists).
func (c *Controller) dropLegacyRecord(ctx context.Context, r *legacyClaimRecord) {
	uid := r.cm.UID
	if _, err := client.For[*api.ConfigMap](c.cfg.Backend, r.cm.Namespace).Delete(ctx, r.cm.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}}); err != nil && !errdefs.IsNotFound(err) {
		c.log.Warn("delete the old claim record", "configmap", r.cm.Namespace+"/"+r.cm.Name, "err", err)
	}
}

// claimGone queues the sets a deleted claim belongs to, by its name: a
// replica may be waiting for it to go.
func (c *Controller) claimGone(cl *api.PersistentVolumeClaim) {
	for _, s := range c.sets.ByIndex(owner.ByNamespace, cl.Namespace) {
		if claimOrdinal(s, cl.Name) >= 0 {
			c.queue.Add(setKey(s))
		}
	}
}

// claimOrdinal is the ordinal of the replica whose claim is named name,
// -1 if name is not <template>-<set>-<i> for one of s's templates.
func claimOrdinal(s *api.StatefulSet, name string) int {
	for _, t := range s.Spec.VolumeClaimTemplates {
		if rest, ok := strings.CutPrefix(name, t.Name+"-"); ok {
			if ord := parseOrdinal(rest, s.Name); ord >= 0 {
				return ord
			}
		}
	}
	return -1
}
