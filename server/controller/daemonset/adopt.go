package daemonset

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
)

// adopt makes ds the controller of the live pods in its namespace that
// its selector matches and no one controls (left by a daemon set deleted
// with orphan propagation, say), as Kubernetes does, so that a node does
// not get a second daemon. It returns the pods adopted.
func (c *Controller) adopt(ctx context.Context, ds *api.DaemonSet) ([]*api.Pod, error) {
	return owner.AdoptOrphans[*api.DaemonSet](ctx, c.cfg.Backend, c.pods, "daemon set", ownerRef(ds), ds.Namespace,
		ds.Spec.Selector, ds.DeletionTimestamp != nil, nil)
}
