package statefulset

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
)

// adopt makes s the controller of the live pods in its namespace that
// its selector matches, that no one controls and whose names are
// <set>-<ordinal> (left by a stateful set deleted with orphan
// propagation, say), as Kubernetes does: the replica is the pod of that
// name, and it must not wait for a pod that no one will delete. It
// returns the pods adopted.
func (c *Controller) adopt(ctx context.Context, s *api.StatefulSet) ([]*api.Pod, error) {
	return owner.AdoptOrphans[*api.StatefulSet](ctx, c.cfg.Backend, c.pods, "stateful set", ownerRef(s), s.Namespace,
		s.Spec.Selector, s.DeletionTimestamp != nil, func(p *api.Pod) bool { return ordinalOf(s, p) >= 0 })
}
