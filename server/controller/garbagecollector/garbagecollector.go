// Package garbagecollector deletes objects whose owners are gone, and
// carries out the three ways of deleting an owner, as Kubernetes' garbage
// collector does:
//
//   - background: the owner is removed at once; its dependents, whose
//     owner references (by UID) now point at nothing, are deleted after.
//   - foreground: the owner carries the foregroundDeletion finalizer; the
//     collector deletes its dependents and removes the finalizer (so the
//     store removes the owner) once those with blockOwnerDeletion are gone.
//   - orphan: the owner carries the orphan finalizer; the collector
//     removes the owner references to it from its dependents, then the
//     finalizer.
//
// It also empties a namespace that is being deleted and then releases it
// (api.FinalizerNamespace). It does not decide the policy: the API's
// delete sets the finalizers (api.FinalizerForeground, api.FinalizerOrphan
// from DeleteOptions.propagationPolicy; api.FinalizerNamespace on every
// namespace), and the store removes an object whose finalizers are all
// gone.
//
//	informers (every kind but Event) ──► handlers: is an owner missing,
//	  uid / owner indices                 being deleted, or a namespace
//	                                      terminating? ──► queue of objects
//	                                                          │
//	  workers: read the object live ◄─────────────────────────┘
//	    being deleted + orphan      → drop owner refs from dependents, finalizer
//	    being deleted + foreground  → delete dependents; finalizer when unblocked
//	    namespace being deleted     → delete everything in it; finalizer when empty
//	    owners all gone (live GET)  → delete it (foreground if its owner waits)
//	    some owners gone            → drop the references to them
//
// The caches only say where to look: an owner is judged gone only by a
// live read, because informers of different kinds are not in step (a
// pod's informer may show it before the replica set's shows its owner).
package garbagecollector

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Config says where the objects are.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Workers is how many objects are collected at once (default 4:
	// the work is mostly waiting on the store, whose writes batch).
	Workers int
	// Resync is how often a namespace or foreground owner that is
	// still waiting is looked at again even without an event (default
	// 10 s): a safety net, not the way things normally move.
	Resync time.Duration
	Log    *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("garbagecollector: a backend is required")
	}
	if c.Workers < 0 || c.Resync < 0 {
		return errors.New("garbagecollector: workers and resync may not be negative")
	}
	return nil
}

// GC is the garbage collector.
type GC struct {
	cfg    Config
	log    *slog.Logger
	caches map[string]cache // by Kind
	order  []cache
	queue  *client.Queue[item]
	// ready is set once every cache has synced; before that the handlers
	// do nothing and one pass over the caches takes their place.
	ready atomic.Bool
}

// item is an object to look at. The UID tells a recreated object with the
// same name from the one that was queued.
type item struct {
	Kind      string
	Resource  string
	Namespace string
	Name      string
	UID       string
}

func itemOf(obj api.Object) (item, bool) {
	k, err := api.KindOf(obj)
	if err != nil {
		return item{}, false
	}
	m := obj.GetObjectMeta()
	return item{Kind: k.Kind, Resource: k.Resource, Namespace: m.Namespace, Name: m.Name, UID: m.UID}, true
}

// New builds a collector over every kind of server/api but Event; Run
// starts it.
func New(cfg Config) (*GC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Resync == 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Informers == nil {
		cfg.Informers = client.NewInformers(cfg.Backend, cfg.Log)
	}
	gc := &GC{cfg: cfg, log: cfg.Log, caches: map[string]cache{}, queue: client.NewQueue[item](nil)}
	for _, k := range api.Kinds() {
		if c, ok := newKindCache(k, cfg.Informers, gc); ok {
			gc.caches[k.Kind] = c
			gc.order = append(gc.order, c)
		}
	}
	return gc, nil
}

// Run collects until ctx ends.
func (gc *GC) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range gc.order {
		g.Go(func() error { return c.run(ctx) })
	}
	g.Go(func() error {
		<-ctx.Done()
		gc.queue.ShutDown()
		return nil
	})
	synced := true
	for _, c := range gc.order {
		if !c.waitForSync(ctx) {
			synced = false
			break
		}
	}
	if synced {
		gc.ready.Store(true)
		gc.initialPass()
		for range gc.cfg.Workers {
			g.Go(func() error { gc.worker(ctx); return nil })
		}
	}
	return g.Wait()
}

// initialPass looks at every cached object once, as the handlers would
// have had the caches all been filled at once.
func (gc *GC) initialPass() {
	for _, c := range gc.order {
		for _, o := range c.all() {
			gc.onAdd(o)
		}
	}
}

func (gc *GC) worker(ctx context.Context) {
	for {
		it, ok := gc.queue.Get()
		if !ok {
			return
		}
		requeue, err := gc.process(ctx, it)
		switch {
		case err != nil && ctx.Err() == nil:
			gc.log.Warn("collect", "kind", it.Kind, "namespace", it.Namespace, "name", it.Name, "err", err)
			gc.queue.AddRateLimited(it)
		case requeue:
			gc.queue.Forget(it)
			gc.queue.AddAfter(it, gc.cfg.Resync)
		default:
			gc.queue.Forget(it)
		}
		gc.queue.Done(it)
	}
}

func (gc *GC) enqueue(obj api.Object) {
	if it, ok := itemOf(obj); ok {
		gc.queue.Add(it)
	}
}

// cachedOwner returns the cached object ref points at, if any.
func (gc *GC) cachedOwner(ref api.OwnerReference) (api.Object, bool) {
	c, ok := gc.caches[ref.Kind]
	if !ok {
		return nil, false
	}
	return c.byUID(ref.UID)
}

// cachedDependents returns every cached object with an owner reference
// to uid.
func (gc *GC) cachedDependents(uid string) []api.Object {
	var out []api.Object
	for _, c := range gc.order {
		out = append(out, c.dependents(uid)...)
	}
	return out
}

func hasFinalizer(m *api.ObjectMeta, f string) bool { return slices.Contains(m.Finalizers, f) }

// needsCollecting: obj is being deleted in a way the collector carries out.
func needsCollecting(obj api.Object) bool {
	m := obj.GetObjectMeta()
	if m.DeletionTimestamp == nil {
		return false
	}
	if _, ok := obj.(*api.Namespace); ok {
		return true
	}
	return hasFinalizer(m, api.FinalizerOrphan) || hasFinalizer(m, api.FinalizerForeground)
}

func (gc *GC) onAdd(obj api.Object) { gc.onUpdate(nil, obj) }

func (gc *GC) onUpdate(old, cur api.Object) {
	if !gc.ready.Load() {
		return
	}
	m := cur.GetObjectMeta()
	if old != nil && old.GetObjectMeta().ResourceVersion == m.ResourceVersion {
		return
	}
	if needsCollecting(cur) {
		gc.enqueue(cur)
		if hasFinalizer(m, api.FinalizerForeground) {
			// Its dependents are to go: each is judged on its own
			// (another owner may keep it).
			for _, d := range gc.cachedDependents(m.UID) {
				gc.enqueue(d)
			}
		}
	}
	// An owner missing from the caches, or waiting for its dependents:
	// look at this one.
	for _, ref := range m.OwnerReferences {
		owner, ok := gc.cachedOwner(ref)
		if !ok || (hasFinalizer(owner.GetObjectMeta(), api.FinalizerForeground) && owner.GetObjectMeta().DeletionTimestamp != nil) {
			gc.enqueue(cur)
			break
		}
	}
	// References dropped: an owner waiting on this dependent may go now.
	if old != nil {
		for _, ref := range old.GetObjectMeta().OwnerReferences {
			if slices.ContainsFunc(m.OwnerReferences, func(r api.OwnerReference) bool {
				return r.UID == ref.UID && isTrue(r.BlockOwnerDeletion)
			}) {
				continue
			}
			if owner, ok := gc.cachedOwner(ref); ok && needsCollecting(owner) {
				gc.enqueue(owner)
			}
		}
	}
}

func (gc *GC) onDelete(obj api.Object) {
	if !gc.ready.Load() {
		return
	}
	m := obj.GetObjectMeta()
	// Its dependents may be orphans now.
	for _, d := range gc.cachedDependents(m.UID) {
		gc.enqueue(d)
	}
	// Its owners may be waiting for it.
	for _, ref := range m.OwnerReferences {
		if owner, ok := gc.cachedOwner(ref); ok && needsCollecting(owner) {
			gc.enqueue(owner)
		}
	}
	// Its namespace may be waiting to be empty.
	if m.Namespace != "" {
		if nsc, ok := gc.caches["Namespace"]; ok {
			if ns, ok := nsc.get("", m.Namespace); ok && ns.GetObjectMeta().DeletionTimestamp != nil {
				gc.enqueue(ns)
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }
