package endpoints

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
)

// sync brings the Endpoints of service key in line with its pods. A
// service that is gone, being deleted or without a selector is left
// alone (the garbage collector deletes the Endpoints of one that is
// gone; those of one without a selector are its user's).
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := owner.SplitKey(key)
	svc, ok := c.services.Get(ns, name)
	if !ok || svc.DeletionTimestamp != nil || len(svc.Spec.Selector) == 0 {
		return nil
	}
	cached, inCache := c.endpoints.Get(ns, name)
	cur, exists := c.written.current(key, cached, inCache)
	pods := c.podsFor(svc)
	c.noteSelected(svc, slices.ContainsFunc(pods, func(p *api.Pod) bool { return selects(svc.Spec.Selector, p.Labels) }))
	want := desired(svc, pods)
	if exists && same(cur, want) {
		return nil
	}
	eps := client.For[*api.Endpoints](c.cfg.Backend, ns)
	var written *api.Endpoints
	var err error
	if !exists {
		written, err = eps.Create(ctx, want)
	} else {
		next := api.Clone(cur)
		next.Labels = want.Labels
		next.OwnerReferences = ownerRefs(cur, want)
		next.Subsets = want.Subsets
		written, err = eps.Update(ctx, next)
	}
	switch {
	case err == nil:
		c.written.wrote(key, written)
		return nil
	case (errdefs.IsNotFound(err) || errdefs.IsForbidden(err)) && !exists:
		// The namespace is gone or being deleted; the service goes with
		// it.
		return nil
	case errdefs.IsAlreadyExists(err) || errdefs.IsConflict(err) || errdefs.IsNotFound(err):
		// Someone else wrote or deleted them since: the cache's event for
		// that queues the service again, and this retry (backing off) is
		// a guard.
		c.written.forget(key)
		return fmt.Errorf("endpoints %s changed since they were read: %w", key, err)
	}
	return fmt.Errorf("write endpoints %s: %w", key, err)
}

// desired is the Endpoints object svc should have: its name, its labels
// (and LabelHeadless for a headless service), svc as its controller, and
// the subsets of its pods.
func desired(svc *api.Service, pods []*api.Pod) *api.Endpoints {
	labels := maps.Clone(svc.Labels)
	if svc.Spec.ClusterIP == api.ClusterIPNone {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelHeadless] = ""
	}
	return &api.Endpoints{
		ObjectMeta: api.ObjectMeta{
			Name: svc.Name, Namespace: svc.Namespace, Labels: labels,
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(svc, "v1", "Service")},
		},
		Subsets: subsets(svc, pods),
	}
}

// same reports whether the stored Endpoints cur already are want: the
// same labels and subsets, and the owner references ownerRefs gives.
func same(cur, want *api.Endpoints) bool {
	return maps.Equal(cur.Labels, want.Labels) &&
		equalJSON(&api.Endpoints{Subsets: cur.Subsets}, &api.Endpoints{Subsets: want.Subsets}) &&
		equalJSON(cur.OwnerReferences, ownerRefs(cur, want))
}

// ownerRefs is cur's owner references with want's controller (its
// service) as the only controller: the references of other owners stay,
// another controller's (an earlier service of the name, a hand-made
// reference) goes.
func ownerRefs(cur, want *api.Endpoints) []api.OwnerReference {
	ctl := want.OwnerReferences[0]
	refs := []api.OwnerReference{ctl}
	for _, r := range cur.OwnerReferences {
		if r.UID != ctl.UID && (r.Controller == nil || !*r.Controller) {
			refs = append(refs, r)
		}
	}
	return refs
}

// equalJSON compares a and b as they are stored: an empty list is none.
func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
