// Package replicaset keeps the number of pods each ReplicaSet asks for. It
// adopts orphan pods its selector matches, releases pods that no longer
// match, creates pods from the template and deletes surplus ones, and
// writes the replica set's status. It does not schedule or run pods,
// roll out new templates (the deployment controller does, through replica
// sets), or delete the pods of a deleted replica set (the garbage
// collector does).
//
// It is level-triggered: informers on ReplicaSets and Pods feed a work
// queue of replica set keys ("namespace/name"), and each sync compares
// the cached pods with the spec. Expectations keep a sync from acting
// again on a state the informer has not caught up with.
package replicaset

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/expectations"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
	"github.com/skiffhq/skiff/server/controller/record"
)

// Config says where the replica sets are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Workers is how many replica sets are synced at once (default 2).
	Workers int
	// BurstReplicas caps the pods one sync creates or deletes (default
	// 500, as Kubernetes); the rest wait for the next sync.
	BurstReplicas int
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
	Log *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("replicaset: a backend is required")
	}
	if c.Workers < 0 || c.BurstReplicas < 0 {
		return errors.New("replicaset: workers and burst replicas may not be negative")
	}
	return nil
}

// Controller is the replica set controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	rsets  *client.Informer[*api.ReplicaSet]
	pods   *client.Informer[*api.Pod]
	queue  *client.Queue[string]
	exp    *expectations.Expectations
	events *record.Recorder
}

// byNamespace files objects under their namespace.
const byNamespace = "namespace"

// New builds a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.BurstReplicas == 0 {
		cfg.BurstReplicas = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		cfg:    cfg,
		log:    cfg.Log,
		now:    cfg.Now,
		rsets:  client.NewInformer[*api.ReplicaSet](cfg.Backend, "", api.ListOptions{}, cfg.Log.With("informer", "replicasets")),
		pods:   client.NewInformer[*api.Pod](cfg.Backend, "", api.ListOptions{}, cfg.Log.With("informer", "pods")),
		queue:  client.NewQueue[string](nil),
		exp:    expectations.New(cfg.Now),
		events: record.New(cfg.Backend, "replicaset-controller", cfg.Now, cfg.Log),
	}
	ns := func(o api.Object) []string { return []string{o.GetObjectMeta().Namespace} }
	if err := c.rsets.AddIndex(byNamespace, func(rs *api.ReplicaSet) []string { return ns(rs) }); err != nil {
		return nil, err
	}
	if err := c.pods.AddIndex(byNamespace, func(p *api.Pod) []string { return ns(p) }); err != nil {
		return nil, err
	}
	c.rsets.AddHandler(client.HandlerFuncs[*api.ReplicaSet]{
		AddFunc:    func(rs *api.ReplicaSet) { c.queue.Add(rsKey(rs)) },
		UpdateFunc: func(_, rs *api.ReplicaSet) { c.queue.Add(rsKey(rs)) },
		DeleteFunc: func(rs *api.ReplicaSet) {
			c.exp.Forget(rsKey(rs))
			c.events.Forget(rs.UID)
			c.queue.Add(rsKey(rs))
		},
	})
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod})
	return c, nil
}

// Run syncs replica sets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.rsets.Run(ctx) })
	g.Go(func() error { return c.pods.Run(ctx) })
	g.Go(func() error { return c.events.Run(ctx) })
	g.Go(func() error {
		<-ctx.Done()
		c.queue.ShutDown()
		return nil
	})
	if c.rsets.WaitForSync(ctx) && c.pods.WaitForSync(ctx) {
		for range c.cfg.Workers {
			g.Go(func() error { c.worker(ctx); return nil })
		}
	}
	return g.Wait()
}

func (c *Controller) worker(ctx context.Context) {
	worker.Run(ctx, c.queue, c.sync, func(key string, err error) {
		c.log.Warn("sync replica set", "replicaset", key, "err", err)
	})
}

// ref is the Event reference of a replica set.
func ref(rs *api.ReplicaSet) api.ObjectReference {
	return api.ObjectReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID}
}

func rsKey(rs *api.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }

// resolve returns the replica set ref names, if it is the one cached.
func (c *Controller) resolve(ns string, ref *api.OwnerReference) *api.ReplicaSet {
	return owner.Resolve[*api.ReplicaSet](c.rsets, "ReplicaSet", ns, ref)
}

// matching returns the replica sets in pod's namespace whose selector
// matches it: who may adopt an orphan.
func (c *Controller) matching(pod *api.Pod) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, rs := range c.rsets.ByIndex(byNamespace, pod.Namespace) {
		sel, err := api.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(pod.Labels) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func (c *Controller) addPod(pod *api.Pod) {
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (a relist).
		c.deletePod(pod)
		return
	}
	if ref := api.ControllerOf(&pod.ObjectMeta); ref != nil {
		if rs := c.resolve(pod.Namespace, ref); rs != nil {
			c.exp.CreationObserved(rsKey(rs))
			c.queue.Add(rsKey(rs))
		}
		return
	}
	for _, rs := range c.matching(pod) {
		c.queue.Add(rsKey(rs))
	}
}

func (c *Controller) updatePod(old, cur *api.Pod) {
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !reflect.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// A pod being deleted counts as deleted for expectations; the
		// informer may never show its final removal in time.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	curRef, oldRef := api.ControllerOf(&cur.ObjectMeta), api.ControllerOf(&old.ObjectMeta)
	if oldRef != nil && (curRef == nil || curRef.UID != oldRef.UID) {
		// Released or moved: the old owner has one fewer.
		if rs := c.resolve(old.Namespace, oldRef); rs != nil {
			c.queue.Add(rsKey(rs))
		}
	}
	if curRef != nil {
		if rs := c.resolve(cur.Namespace, curRef); rs != nil {
			c.queue.Add(rsKey(rs))
			// Available only minReadySeconds after it became ready: look
			// again then.
			if !isReady(old) && isReady(cur) && rs.Spec.MinReadySeconds > 0 {
				c.queue.AddAfter(rsKey(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if labelsChanged || oldRef != nil {
		for _, rs := range c.matching(cur) {
			c.queue.Add(rsKey(rs))
		}
	}
}

func (c *Controller) deletePod(pod *api.Pod) {
	ref := api.ControllerOf(&pod.ObjectMeta)
	if ref == nil {
		return
	}
	if rs := c.resolve(pod.Namespace, ref); rs != nil {
		c.exp.DeletionObserved(rsKey(rs), podKey(pod))
		c.queue.Add(rsKey(rs))
	}
}
