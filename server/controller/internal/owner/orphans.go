package owner

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

// OrphanIndex files a pod that no controller owns under its namespace:
// the pods an owner may adopt. Add it to a pod informer as
// ByOrphanNamespace.
func OrphanIndex(p *api.Pod) []string {
	if api.ControllerOf(&p.ObjectMeta) != nil {
		return nil
	}
	return []string{p.Namespace}
}

// OrphanIndexer is what AdoptOrphans needs of a pod cache indexed by
// OrphanIndex; *client.Informer[*api.Pod] is one.
type OrphanIndexer interface {
	ByIndex(index, value string) []*api.Pod
}

var _ OrphanIndexer = (*client.Informer[*api.Pod])(nil)

// AdoptOrphans makes ref the controller of the cached orphans in ns (the
// owner's namespace) that selector matches, that are neither being
// deleted nor finished, and that keep (if not nil) accepts, as
// Kubernetes does for the pods a deleted owner left with orphan
// propagation. It adopts nothing for an owner that is being deleted
// (deleting) or has an empty or invalid selector, and, as Claim, only
// once the owner (a T, what in messages: "daemon set") is read afresh
// and may still adopt. It returns the pods as written and every failed
// write.
func AdoptOrphans[T api.Object](ctx context.Context, b client.Backend, pods OrphanIndexer, what string, ref api.OwnerReference, ns string, selector *api.LabelSelector, deleting bool, keep func(*api.Pod) bool) ([]*api.Pod, error) {
	sel, err := api.LabelSelectorAsSelector(selector)
	if err != nil || sel.Empty() || deleting {
		return nil, nil
	}
	var orphans []*api.Pod
	for _, p := range pods.ByIndex(ByOrphanNamespace, ns) {
		if p.DeletionTimestamp == nil && !podstate.Finished(p) && sel.Matches(p.Labels) && (keep == nil || keep(p)) {
			orphans = append(orphans, p)
		}
	}
	if len(orphans) == 0 {
		return nil, nil
	}
	// The cache may be behind: adopt only for an owner that still
	// exists, is this one, and is not being deleted.
	ok, err := canAdopt[T](ctx, b, ns, ref.Name, ref.UID)
	if err != nil {
		return nil, fmt.Errorf("check %s before adopting: %w", what, err)
	}
	if !ok {
		return nil, nil
	}
	var out []*api.Pod
	var errs []error
	for _, p := range orphans {
		got, err := setController(ctx, b, p, ref, true) // carries the cached resourceVersion
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got != nil {
			out = append(out, got)
		}
	}
	return out, errors.Join(errs...)
}
