package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// ClaimOfLabel marks a claim record (a ConfigMap standing in for the
// PersistentVolumeClaim kind skiff does not have yet) with the set whose
// replica uses the claim.
const ClaimOfLabel = "skiff.dev/claim-of"

// claimNodes knows which node holds each claim's local volume. It learns
// from bound pods (at once, in memory, from the informer's events) and
// keeps what it learns in claim records, so that a restarted controller
// still pins a replica whose pod is gone. Reads go to memory first, then
// to the record.
type claimNodes struct {
	backend client.Backend
	log     *slog.Logger

	mu    sync.Mutex
	nodes map[string]string // ns/claim → node
	saved map[string]string // ns/claim → node written in the record
}

func newClaimNodes(b client.Backend, log *slog.Logger) *claimNodes {
	return &claimNodes{backend: b, log: log, nodes: map[string]string{}, saved: map[string]string{}}
}

// seen notes that claim's volume is on node.
func (c *claimNodes) seen(ns, claim, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[ns+"/"+claim] = node
}

// nodeFor returns the node that holds any of claims, "" if none has one.
func (c *claimNodes) nodeFor(ctx context.Context, ns string, claims []string) (string, error) {
	c.mu.Lock()
	for _, cl := range claims {
		if n := c.nodes[ns+"/"+cl]; n != "" {
			c.mu.Unlock()
			return n, nil
		}
	}
	c.mu.Unlock()
	cms := client.For[*api.ConfigMap](c.backend, ns)
	for _, cl := range claims {
		cm, err := cms.Get(ctx, cl)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read claim record %s/%s: %w", ns, cl, err)
		}
		if cm.Labels[ClaimOfLabel] == "" {
			continue // someone else's config map of that name
		}
		if n := cm.Annotations[SelectedNodeAnnotation]; n != "" {
			c.mu.Lock()
			c.nodes[ns+"/"+cl] = n
			c.saved[ns+"/"+cl] = n
			c.mu.Unlock()
			return n, nil
		}
	}
	return "", nil
}

// save writes the records of s's claims whose node is known and not yet
// written.
func (c *claimNodes) save(ctx context.Context, s *api.StatefulSet, claims []string) error {
	for _, cl := range claims {
		k := s.Namespace + "/" + cl
		c.mu.Lock()
		node, saved := c.nodes[k], c.saved[k]
		c.mu.Unlock()
		if node == "" || node == saved {
			continue
		}
		if err := c.write(ctx, s, cl, node); err != nil {
			return err
		}
		c.mu.Lock()
		c.saved[k] = node
		c.mu.Unlock()
	}
	return nil
}

// write creates or updates the record of claim to say node.
func (c *claimNodes) write(ctx context.Context, s *api.StatefulSet, claim, node string) error {
	cms := client.For[*api.ConfigMap](c.backend, s.Namespace)
	return client.RetryOnConflict(ctx, func() error {
		cm, err := cms.Get(ctx, claim)
		if errdefs.IsNotFound(err) {
			_, err = cms.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{
				Name: claim, Namespace: s.Namespace,
				Labels:      map[string]string{ClaimOfLabel: s.Name},
				Annotations: map[string]string{SelectedNodeAnnotation: node},
			}})
			if errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("claim record %s/%s: %w", s.Namespace, claim, errdefs.ErrConflict) // retry as an update
			}
			return err
		}
		if err != nil {
			return err
		}
		if cm.Labels[ClaimOfLabel] == "" {
			// A config map of the claim's name that is not a record: leave
			// it; the node is kept in memory only.
			c.log.Warn("config map has the name of a claim; its node is not recorded", "configmap", s.Namespace+"/"+claim)
			return nil
		}
		if cm.Annotations[SelectedNodeAnnotation] == node {
			return nil
		}
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[SelectedNodeAnnotation] = node
		_, err = cms.Update(ctx, cm)
		return err
	})
}
