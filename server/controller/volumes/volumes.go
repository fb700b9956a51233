// Package volumes is the pvc-protection controller, as Kubernetes has
// it: a PersistentVolumeClaim is not removed while a pod uses it. The
// registry gives every claim the finalizer api.FinalizerPVCProtection
// when it is created, so deleting a claim only marks it (Terminating);
// this controller removes the finalizer, and with it the claim, once no
// pod uses the claim. A pod uses a claim when it is in the claim's
// namespace, names the claim in a persistentVolumeClaim volume, is bound
// to a node, and has not finished (phase Succeeded or Failed): a running
// pod's data is not deleted under it, and a finished or never scheduled
// pod holds nothing (the scheduler and the agent refuse a claim being
// deleted to new pods).
//
// It is level-triggered: shared informers of claims and pods, the pods
// indexed by the claims they name (owner.ByClaim), feed a work queue of claim
// keys ("namespace/name"). A claim is queued when it is marked for
// deletion, and again when a pod that names it is deleted or finishes.
// A sync that finds a claim being deleted and no user in the cache
// confirms with a live list of the namespace's pods before removing the
// finalizer (the pod cache may lag behind a pod just created).
//
// It does not add the finalizer (the registry does), delete claims or
// their data (the agent deletes a gone claim's directory), or decide
// where a claim's volume lives (the scheduler does).
package volumes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
)

// Config says where the claims are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Workers is how many claims are synced at once (default 1: a
	// claim's sync is a cache lookup, and a list only when it may go).
	Workers int
	Log     *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("volumes: a backend is required")
	}
	if c.Workers < 0 {
		return errors.New("volumes: workers may not be negative")
	}
	return nil
}

// Controller is the pvc-protection controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	claims *client.Informer[*api.PersistentVolumeClaim]
	pods   *client.Informer[*api.Pod]
	queue  *client.Queue[string]
}

// New builds a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
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
		claims: client.Shared[*api.PersistentVolumeClaim](cfg.Informers, "", api.ListOptions{}),
		pods:   client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{}),
		queue:  client.NewQueue[string](nil),
	}
	c.pods.AddIndex(owner.ByClaim, owner.ClaimIndex)
	c.claims.AddHandler(client.HandlerFuncs[*api.PersistentVolumeClaim]{
		AddFunc:    c.claimChanged,
		UpdateFunc: func(_, cl *api.PersistentVolumeClaim) { c.claimChanged(cl) },
	})
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{
		AddFunc: func(p *api.Pod) { c.podChanged(p, false) },
		UpdateFunc: func(old, p *api.Pod) {
			c.podChanged(p, false)
			if old.UID != p.UID {
				// The update hides a delete and a create under one name:
				// the old pod is gone.
				c.podChanged(old, true)
			}
		},
		DeleteFunc: func(p *api.Pod) { c.podChanged(p, true) },
	})
	return c, nil
}

// Run syncs claims until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(key string, err error) {
			c.log.Warn("sync claim", "claim", key, "err", err)
		},
		Informers: []worker.Informer{c.claims, c.pods},
	}.Run(ctx)
}

// claimChanged queues a claim that is being deleted and still holds the
// finalizer.
func (c *Controller) claimChanged(cl *api.PersistentVolumeClaim) {
	if deletionCandidate(cl) {
		c.queue.Add(cl.Namespace + "/" + cl.Name)
	}
}

// podChanged queues the claims of a pod that no longer uses them: one
// deleted or finished. A pod that still runs cannot free a claim.
func (c *Controller) podChanged(p *api.Pod, deleted bool) {
	if !deleted && !podstate.Finished(p) {
		return
	}
	for _, key := range owner.ClaimIndex(p) {
		c.queue.Add(key)
	}
}

// deletionCandidate: cl is being deleted and holds the finalizer.
func deletionCandidate(cl *api.PersistentVolumeClaim) bool {
	return cl.DeletionTimestamp != nil && slices.Contains(cl.Finalizers, api.FinalizerPVCProtection)
}

// uses reports whether pod uses claim ns/name: it is in the claim's
// namespace, names the claim in a persistentVolumeClaim volume, is bound
// to a node and has not finished. A pod not yet scheduled does not hold
// the claim, as in Kubernetes: the scheduler and the agent refuse a claim
// being deleted to new pods, so such a pod would otherwise hold it for
// ever (and wait for ever itself).
func uses(p *api.Pod, ns, name string) bool {
	if p.Namespace != ns || p.Spec.NodeName == "" || podstate.Finished(p) {
		return false
	}
	return slices.ContainsFunc(p.Spec.Volumes, func(v api.Volume) bool {
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name
	})
}

// sync removes the finalizer of claim key if it is being deleted and no
// pod uses it: first by the cache, then by a live list.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := owner.SplitKey(key)
	cl, ok := c.claims.Get(ns, name)
	if !ok || !deletionCandidate(cl) {
		return nil
	}
	for _, p := range c.pods.ByIndex(owner.ByClaim, key) {
		if uses(p, ns, name) {
			return nil // queued again when it is deleted or finishes
		}
	}
	used, err := c.usedLive(ctx, ns, name)
	if err != nil {
		return err
	}
	if used {
		// The cache has not shown that pod yet; its events queue the
		// claim again.
		return nil
	}
	return c.removeFinalizer(ctx, cl)
}

// usedLive asks the store whether a pod uses claim ns/name.
func (c *Controller) usedLive(ctx context.Context, ns, name string) (bool, error) {
	list, err := client.ListAll(ctx, c.cfg.Backend, "pods", ns, api.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("list pods in namespace %s to see whether claim %s is in use: %w", ns, name, err)
	}
	for _, o := range list.Items {
		if p, ok := o.(*api.Pod); ok && uses(p, ns, name) {
			return true, nil
		}
	}
	return false, nil
}

// removeFinalizer takes api.FinalizerPVCProtection off cl; the store
// removes a claim being deleted once its last finalizer is gone. Only
// the claim of cl's UID is changed: one made again under the name is
// another claim.
func (c *Controller) removeFinalizer(ctx context.Context, cl *api.PersistentVolumeClaim) error {
	claims := client.For[*api.PersistentVolumeClaim](c.cfg.Backend, cl.Namespace)
	err := client.RetryOnConflict(ctx, func() error {
		cur, err := claims.Get(ctx, cl.Name)
		if err != nil {
			return err
		}
		if cur.UID != cl.UID || !deletionCandidate(cur) {
			return nil
		}
		cur.Finalizers = slices.DeleteFunc(slices.Clone(cur.Finalizers), func(f string) bool { return f == api.FinalizerPVCProtection })
		if len(cur.Finalizers) == 0 {
			cur.Finalizers = nil
		}
		_, err = claims.Update(ctx, cur)
		return err
	})
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove finalizer %s from claim %s/%s: %w", api.FinalizerPVCProtection, cl.Namespace, cl.Name, err)
	}
	c.log.Debug("claim no longer in use; finalizer removed", "claim", cl.Namespace+"/"+cl.Name)
	return nil
}
