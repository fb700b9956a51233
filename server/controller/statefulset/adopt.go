package statefulset

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// byOrphanNamespace files pods with no controller under their namespace.
const byOrphanNamespace = "orphans"

func orphanIndex(p *api.Pod) []string {
	if controllerOf(&p.ObjectMeta) != nil {
		return nil
	}
	return []string{p.Namespace}
}

// adopt makes s the controller of the live pods in its namespace that
// its selector matches, that no one controls and whose names are
// <set>-<ordinal> (left by a stateful set deleted with orphan
// propagation, say), as Kubernetes does: the replica is the pod of that
// name, and it must not wait for a pod that no one will delete. It
// returns the pods adopted.
func (c *Controller) adopt(ctx context.Context, s *api.StatefulSet) ([]*api.Pod, error) {
	sel, err := api.LabelSelectorAsSelector(s.Spec.Selector)
	if err != nil || sel.Empty() || s.DeletionTimestamp != nil {
		return nil, nil
	}
	var orphans []*api.Pod
	for _, p := range c.pods.ByIndex(byOrphanNamespace, s.Namespace) {
		if p.DeletionTimestamp == nil && !isFinished(p) && sel.Matches(p.Labels) && ordinalOf(s, p) >= 0 {
			orphans = append(orphans, p)
		}
	}
	if len(orphans) == 0 {
		return nil, nil
	}
	// The cache may be behind: adopt only for a stateful set that still
	// exists, is this one, and is not being deleted.
	fresh, err := client.For[*api.StatefulSet](c.cfg.Backend, s.Namespace).Get(ctx, s.Name)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("check stateful set before adopting: %w", err)
	}
	if fresh.UID != s.UID || fresh.DeletionTimestamp != nil {
		return nil, nil
	}
	var out []*api.Pod
	var errs []error
	pods := client.For[*api.Pod](c.cfg.Backend, s.Namespace)
	for _, p := range orphans {
		next := api.Clone(p)
		next.OwnerReferences = append(next.OwnerReferences, ownerRef(s))
		got, err := pods.Update(ctx, next) // carries the cached resourceVersion
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("adopt pod %s: %w", p.Namespace+"/"+p.Name, err))
			continue
		}
		out = append(out, got)
	}
	return out, errors.Join(errs...)
}
