// Package deployment rolls Deployments out through ReplicaSets, as
// Kubernetes' deployment controller does. It owns the replica sets of each
// deployment (by controller ownerReference), names each after a hash of
// the pod template (<deployment>-<hash>, with the pod-template-hash label
// on its selector and template), numbers them with the
// deployment.kubernetes.io/revision annotation, and moves replicas from
// the old ones to the new one: RollingUpdate within maxSurge and
// maxUnavailable, or Recreate (old to zero, their pods gone, then new).
// It scales proportionally while a rollout is paused or in flight,
// prunes old replica sets beyond revisionHistoryLimit, and reports
// progress in the deployment's status: replica counts, the Available
// condition and the Progressing condition, which turns False with reason
// ProgressDeadlineExceeded when a rollout stalls for
// progressDeadlineSeconds.
//
// It does not create or delete pods (the replica set controller does),
// decide when a pod is available (the replica set's availableReplicas,
// which honours minReadySeconds, says so), delete the replica sets of a
// deleted deployment (the garbage collector does) or roll back (the CLI
// copies an old replica set's template into the deployment, as kubectl
// does).
//
// It is level-triggered: informers on Deployments, ReplicaSets and Pods
// feed a work queue of deployment keys ("namespace/name"). Every write to
// a replica set carries the resourceVersion read from the cache, so a
// decision taken on a stale cache fails with a conflict and is taken
// again on fresh state.
package deployment

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
	"github.com/skiffhq/skiff/server/controller/record"
)

// Config says where the deployments are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Events records ScalingReplicaSet and failure Events; nil means a
	// coalescing recorder (server/controller/record) that Run runs.
	Events record.Eventer
	// Workers is how many deployments are synced at once (default 2).
	Workers int
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
	Log *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("deployment: a backend is required")
	}
	if c.Workers < 0 {
		return errors.New("deployment: workers may not be negative")
	}
	return nil
}

// Controller is the deployment controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	events *record.Given // Config.Events, or a recorder of its own
	deps   *client.Informer[*api.Deployment]
	rsets  *client.Informer[*api.ReplicaSet]
	pods   *client.Informer[*api.Pod]
	queue  *client.Queue[string]
}

// The informer indexes.
const ()

// New builds a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Informers == nil {
		cfg.Informers = client.NewInformers(cfg.Backend, cfg.Log)
	}
	c := &Controller{
		cfg:    cfg,
		log:    cfg.Log,
		now:    cfg.Now,
		events: record.OrNew(cfg.Events, cfg.Backend, "deployment-controller", cfg.Now, cfg.Log),
		deps:   client.Shared[*api.Deployment](cfg.Informers, "", api.ListOptions{}),
		rsets:  client.Shared[*api.ReplicaSet](cfg.Informers, "", api.ListOptions{}),
		pods:   client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{}),
		queue:  client.NewQueue[string](nil),
	}
	c.deps.AddIndex(owner.ByNamespace, owner.NamespaceIndex[*api.Deployment])
	c.rsets.AddIndex(owner.ByNamespace, owner.NamespaceIndex[*api.ReplicaSet])
	c.rsets.AddIndex(owner.ByController, owner.ControllerIndex[*api.ReplicaSet])
	c.pods.AddIndex(owner.ByController, owner.ControllerIndex[*api.Pod])
	c.deps.AddHandler(client.HandlerFuncs[*api.Deployment]{
		AddFunc:    func(d *api.Deployment) { c.queue.Add(key(d)) },
		UpdateFunc: func(_, d *api.Deployment) { c.queue.Add(key(d)) },
		DeleteFunc: func(d *api.Deployment) {
			c.events.Forget(d.UID)
			c.queue.Add(key(d))
		},
	})
	c.rsets.AddHandler(client.HandlerFuncs[*api.ReplicaSet]{
		AddFunc:    c.replicaSetChanged,
		UpdateFunc: func(old, cur *api.ReplicaSet) { c.replicaSetMoved(old, cur); c.replicaSetChanged(cur) },
		DeleteFunc: c.replicaSetChanged,
	})
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{
		// Recreate waits for the old pods to be gone.
		UpdateFunc: func(old, cur *api.Pod) {
			if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil || isTerminal(cur) && !isTerminal(old) {
				c.podGone(cur)
			}
		},
		DeleteFunc: c.podGone,
	})
	return c, nil
}

// Run syncs deployments until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(k string, err error) {
			if errdefs.IsConflict(err) {
				// The cache was behind a write: look again once it catches up.
				c.log.Debug("sync deployment: stale cache", "deployment", k, "err", err)
				return
			}
			c.log.Warn("sync deployment", "deployment", k, "err", err)
		},
		Informers: []worker.Informer{c.deps, c.rsets, c.pods},
		Also:      []func(context.Context) error{c.events.Run},
	}.Run(ctx)
}

// ref is the Event reference of a deployment.
func ref(d *api.Deployment) api.ObjectReference {
	return api.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: d.Namespace, Name: d.Name, UID: d.UID}
}

func key(o api.Object) string {
	m := o.GetObjectMeta()
	return m.Namespace + "/" + m.Name
}

// resolve returns the deployment ref names, if it is the one cached.
func (c *Controller) resolve(ns string, ref *api.OwnerReference) *api.Deployment {
	return owner.Resolve[*api.Deployment](c.deps, "Deployment", ns, ref)
}

// replicaSetChanged queues rs's deployment, or, for an orphan, every
// deployment that could adopt it.
func (c *Controller) replicaSetChanged(rs *api.ReplicaSet) {
	if ref := api.ControllerOf(&rs.ObjectMeta); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.queue.Add(key(d))
		}
		return
	}
	for _, d := range c.deps.ByIndex(owner.ByNamespace, rs.Namespace) {
		sel, err := api.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(rs.Labels) {
			c.queue.Add(key(d))
		}
	}
}

// replicaSetMoved queues the former owner of a replica set released or
// taken over.
func (c *Controller) replicaSetMoved(old, cur *api.ReplicaSet) {
	oldRef, curRef := api.ControllerOf(&old.ObjectMeta), api.ControllerOf(&cur.ObjectMeta)
	if oldRef != nil && (curRef == nil || curRef.UID != oldRef.UID) {
		if d := c.resolve(old.Namespace, oldRef); d != nil {
			c.queue.Add(key(d))
		}
	}
}

// podGone queues a Recreate deployment whose old pod went away.
func (c *Controller) podGone(p *api.Pod) {
	ref := api.ControllerOf(&p.ObjectMeta)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, ok := c.rsets.Get(p.Namespace, ref.Name)
	if !ok || rs.UID != ref.UID {
		return
	}
	if d := c.resolve(rs.Namespace, api.ControllerOf(&rs.ObjectMeta)); d != nil && d.Spec.Strategy.Type == api.RecreateDeploymentStrategyType {
		c.queue.Add(key(d))
	}
}

func isTerminal(p *api.Pod) bool {
	return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
}
