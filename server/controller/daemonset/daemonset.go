// Package daemonset runs one pod of each DaemonSet on every node its pod
// template may go to: nodes that match the template's nodeSelector and
// required node affinity and whose NoSchedule and NoExecute taints the
// template tolerates (with the tolerations Kubernetes gives every daemon
// pod: not-ready, unreachable, the pressure taints and unschedulable).
// It creates the missing pods, deletes pods on nodes that no longer fit
// (or are gone) and extra pods on a node, replaces old pods node by node
// within maxUnavailable, or starts the new pod beside the old one within
// maxSurge (RollingUpdate), or only when someone deletes them (OnDelete),
// adopts orphan pods its selector matches, and writes the daemon set's
// status when it changes.
//
// It does not bind pods. Like Kubernetes since 1.12, each pod carries a
// required node affinity term "metadata.name In [<node>]" (matchFields)
// and the scheduler binds it, so that resources, host ports and
// preemption are decided in one place. It does not delete the pods of a
// deleted daemon set (the garbage collector does).
//
// Its rolling update history is kept as Kubernetes keeps it: one
// ControllerRevision <ds>-<hash> per template (hash is the pods'
// controller-revision-hash label), controlled by the daemon set and
// numbered in rollout order; going back to an old template renumbers
// its revision as the newest, and revisions no pod uses beyond
// revisionHistoryLimit are deleted, oldest first (revisions.go).
//
// It is level-triggered: informers on DaemonSets, Pods, Nodes and
// ControllerRevisions feed a work queue of daemon set keys
// ("namespace/name"). Each sync is a pure
// plan (plan.go) over the cached nodes and pods, then the writes.
// Expectations (server/controller/internal/expectations) keep a sync
// from creating a second pod for a node whose first the informer has not
// shown yet; a sync that deletes creates nothing, so the two never mix.
package daemonset

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/expectations"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podhandler"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
	"github.com/skiffhq/skiff/server/controller/record"
)

// Config says where the daemon sets are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Events records Events about daemon sets; nil means a coalescing
	// recorder (server/controller/record) that Run runs.
	Events record.Eventer
	// Workers is how many daemon sets are synced at once (default 2).
	Workers int
	// BurstReplicas caps the pods one sync creates or deletes (default
	// 250, as Kubernetes); the rest wait for the next sync.
	BurstReplicas int
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
	Log *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("daemonset: a backend is required")
	}
	if c.Workers < 0 || c.BurstReplicas < 0 {
		return errors.New("daemonset: workers and burst replicas may not be negative")
	}
	return nil
}

// Controller is the daemon set controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	events *record.Given // Config.Events, or a recorder of its own
	dsets  *client.Informer[*api.DaemonSet]
	pods   *client.Informer[*api.Pod]
	nodes  *client.Informer[*api.Node]
	revs   *client.Informer[*api.ControllerRevision]
	queue  *client.Queue[string]
	exp    *expectations.Expectations
}

// New builds a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.BurstReplicas == 0 {
		cfg.BurstReplicas = 250
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
		cfg:   cfg,
		log:   cfg.Log,
		now:   cfg.Now,
		dsets: client.Shared[*api.DaemonSet](cfg.Informers, "", api.ListOptions{}),
		pods:  client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{}),
		nodes: client.Shared[*api.Node](cfg.Informers, "", api.ListOptions{}),
		revs:  client.Shared[*api.ControllerRevision](cfg.Informers, "", api.ListOptions{}),
		queue: client.NewQueue[string](nil),
		exp:   expectations.New(cfg.Now),
	}
	c.events = record.OrNew(cfg.Events, cfg.Backend, "daemonset-controller", cfg.Now, cfg.Log)
	c.pods.AddIndex(owner.ByController, owner.ControllerIndex[*api.Pod])
	c.pods.AddIndex(owner.ByOrphanNamespace, owner.OrphanIndex)
	c.dsets.AddHandler(client.HandlerFuncs[*api.DaemonSet]{
		AddFunc:    func(ds *api.DaemonSet) { c.queue.Add(dsKey(ds)) },
		UpdateFunc: func(_, ds *api.DaemonSet) { c.queue.Add(dsKey(ds)) },
		DeleteFunc: func(ds *api.DaemonSet) {
			c.exp.Forget(dsKey(ds))
			c.events.Forget(ds.UID)
			c.queue.Add(dsKey(ds))
		},
	})
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod})
	c.revs.AddIndex(owner.ByController, owner.ControllerIndex[*api.ControllerRevision])
	c.revs.AddHandler(client.HandlerFuncs[*api.ControllerRevision]{AddFunc: c.revisionChanged, DeleteFunc: c.revisionChanged})
	c.nodes.AddHandler(client.HandlerFuncs[*api.Node]{
		AddFunc: func(*api.Node) { c.enqueueAll() },
		UpdateFunc: func(old, cur *api.Node) {
			if !reflect.DeepEqual(old.Labels, cur.Labels) || !reflect.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(*api.Node) { c.enqueueAll() },
	})
	return c, nil
}

// Run syncs daemon sets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(key string, err error) {
			c.log.Warn("sync daemon set", "daemonset", key, "err", err)
		},
		Informers: []worker.Informer{c.dsets, c.pods, c.nodes, c.revs},
		Also:      []func(context.Context) error{c.events.Run},
	}.Run(ctx)
}

func (c *Controller) enqueueAll() {
	for _, ds := range c.dsets.List() {
		c.queue.Add(dsKey(ds))
	}
}

func dsKey(ds *api.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

// owner returns the cached daemon set that controls pod, if any.
func (c *Controller) owner(pod *api.Pod) *api.DaemonSet {
	return owner.Resolve[*api.DaemonSet](c.dsets, "DaemonSet", pod.Namespace, api.ControllerOf(&pod.ObjectMeta))
}

// enqueueMatching queues the daemon sets that may adopt an orphan pod.
func (c *Controller) enqueueMatching(pod *api.Pod) {
	if api.ControllerOf(&pod.ObjectMeta) != nil || pod.DeletionTimestamp != nil {
		return
	}
	for _, ds := range podhandler.Adopters(c.dsets.List(), pod, func(ds *api.DaemonSet) *api.LabelSelector { return ds.Spec.Selector }) {
		c.queue.Add(dsKey(ds))
	}
}

func (c *Controller) addPod(pod *api.Pod) {
	ds := c.owner(pod)
	if ds == nil {
		c.enqueueMatching(pod)
		return
	}
	c.exp.CreationObserved(dsKey(ds))
	if pod.DeletionTimestamp != nil {
		c.exp.DeletionObserved(dsKey(ds), podKey(pod))
	}
	c.queue.Add(dsKey(ds))
}

func (c *Controller) updatePod(old, cur *api.Pod) {
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	ds := c.owner(cur)
	if ds == nil {
		c.enqueueMatching(cur)
		return
	}
	key := dsKey(ds)
	if cur.DeletionTimestamp != nil {
		c.exp.DeletionObserved(key, podKey(cur))
	}
	c.queue.Add(key)
	if !podstate.Ready(old) && podstate.Ready(cur) && ds.Spec.MinReadySeconds > 0 {
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
	}
}

func (c *Controller) deletePod(pod *api.Pod) {
	ds := c.owner(pod)
	if ds == nil {
		return
	}
	c.exp.DeletionObserved(dsKey(ds), podKey(pod))
	c.queue.Add(dsKey(ds))
}
