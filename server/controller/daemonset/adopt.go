package daemonset

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

// adopt makes ds the controller of the live pods in its namespace that
// its selector matches and no one controls (left by a daemon set deleted
// with orphan propagation, say), as Kubernetes does, so that a node does
// not get a second daemon. It returns the pods adopted.
func (c *Controller) adopt(ctx context.Context, ds *api.DaemonSet) ([]*api.Pod, error) {
	sel, err := api.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() || ds.DeletionTimestamp != nil {
		return nil, nil
	}
	var orphans []*api.Pod
	for _, p := range c.pods.ByIndex(byOrphanNamespace, ds.Namespace) {
		if p.DeletionTimestamp == nil && !isFinished(p) && sel.Matches(p.Labels) {
			orphans = append(orphans, p)
		}
	}
	if len(orphans) == 0 {
		return nil, nil
	}
	// The cache may be behind: adopt only for a daemon set that still
	// exists, is this one, and is not being deleted.
	fresh, err := client.For[*api.DaemonSet](c.cfg.Backend, ds.Namespace).Get(ctx, ds.Name)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("check daemon set before adopting: %w", err)
	}
	if fresh.UID != ds.UID || fresh.DeletionTimestamp != nil {
		return nil, nil
	}
	var out []*api.Pod
	var errs []error
	pods := client.For[*api.Pod](c.cfg.Backend, ds.Namespace)
	for _, p := range orphans {
		next := api.Clone(p)
		next.OwnerReferences = append(next.OwnerReferences, ownerRef(ds))
		got, err := pods.Update(ctx, next) // carries the cached resourceVersion
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("adopt pod %s: %w", podKey(p), err))
			continue
		}
		out = append(out, got)
	}
	return out, errors.Join(errs...)
}
