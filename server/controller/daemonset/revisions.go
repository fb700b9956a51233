package daemonset

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/history"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/statuswrite"
)

// A daemon set's rolling update history is its ControllerRevisions, as
// in Kubernetes: one per template it has had, named <ds>-<hash> (hash is
// its pods' controller-revision-hash label), controlled by the daemon
// set, labelled with the template's labels and
// controller-revision-hash=<hash>, with data {"spec":{"template":…}}
// and a revision number, the newest highest. `skiff rollout
// history|undo` reads them.

// errNamespaceClosing: the daemon set's namespace is being deleted, so
// no revision (nor pod) may be created in it; none need be. It is
// history's, which a revision's create returns.
var errNamespaceClosing = history.ErrNamespaceClosing

// history finds or makes the revision of ds's template, as Kubernetes'
// constructHistory does (history.Record): one holding the template
// already (the daemon set went back to it) becomes the newest by taking
// the next number. It returns it and all of ds's revisions, oldest first.
func (c *Controller) history(ctx context.Context, ds *api.DaemonSet, hash string) (*api.ControllerRevision, []*api.ControllerRevision, error) {
	return history.Record(ctx, c.cfg.Backend, c.historyOwner(ds), owner.Controlled(c.revs, ds.Namespace, ds.UID), ds.Name+"-"+hash, hash)
}

// historyOwner is ds as the owner of its revisions; a hash collision
// raises its status.collisionCount.
func (c *Controller) historyOwner(ds *api.DaemonSet) history.Owner {
	return history.Owner{
		Namespace:      ds.Namespace,
		Ref:            ownerRef(ds),
		Annotations:    ds.Annotations,
		Template:       &ds.Spec.Template,
		CollisionCount: ds.Status.CollisionCount,
		SetCollisionCount: func(ctx context.Context, count int32) error {
			return statuswrite.Write(ctx, c.cfg.Backend, ds, func(next *api.DaemonSet) { next.Status.CollisionCount = &count })
		},
		What: "daemon set " + dsKey(ds),
	}
}

// trimHistory deletes ds's oldest revisions beyond revisionHistoryLimit
// that no pod uses and that are not current, as Kubernetes'
// cleanupHistory does.
func (c *Controller) trimHistory(ctx context.Context, ds *api.DaemonSet, current *api.ControllerRevision, all []*api.ControllerRevision, pods []*api.Pod) error {
	live := map[string]bool{current.Labels[RevisionLabel]: true}
	for _, p := range pods {
		live[p.Labels[RevisionLabel]] = true
	}
	isLive := func(r *api.ControllerRevision) bool { return r.Name == current.Name || live[r.Labels[RevisionLabel]] }
	return history.Trim(ctx, c.cfg.Backend, all, isLive, ds.Spec.RevisionHistoryLimit, "daemon set "+dsKey(ds))
}

// revisionChanged queues the daemon set that controls r, if any.
func (c *Controller) revisionChanged(r *api.ControllerRevision) {
	if ds := owner.Resolve[*api.DaemonSet](c.dsets, "DaemonSet", r.Namespace, api.ControllerOf(&r.ObjectMeta)); ds != nil {
		c.queue.Add(dsKey(ds))
	}
}
