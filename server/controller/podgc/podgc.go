// Package podgc deletes finished pods once there are too many: pods that
// Succeeded or Failed stay (their status and logs are how a person finds
// out what happened) until more than Threshold of them are kept, then
// the oldest go first. On a small board each kept pod costs memory in
// every cache and bytes in the store, so the default is lower than
// Kubernetes' 12,500.
//
// Pods a Job controls are left to the Job (its history limits and
// ttlSecondsAfterFinished): deleting them would make the Job count them
// again. Pods of a deleted node are the node lifecycle controller's.
package podgc

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// DefaultThreshold is how many finished pods are kept by default.
const DefaultThreshold = 1000

// Config configures the collector.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Threshold is how many finished pods are kept (default
	// DefaultThreshold); negative keeps all.
	Threshold int
	// Period is how often the count is checked after a pod finishes
	// (default 10 s): deletions come in batches, not one per finish.
	Period time.Duration
	Log    *slog.Logger
}

// Controller deletes the oldest finished pods beyond the threshold.
type Controller struct {
	cfg  Config
	log  *slog.Logger
	pods *client.Informer[*api.Pod]

	mu       sync.Mutex
	finished map[string]bool // namespace/name of the finished pods it may delete
	kick     chan struct{}
}

// New checks cfg.
func New(cfg Config) (*Controller, error) {
	if cfg.Backend == nil {
		return nil, errors.New("podgc: a backend is required")
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Period == 0 {
		cfg.Period = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Informers == nil {
		cfg.Informers = client.NewInformers(cfg.Backend, cfg.Log)
	}
	c := &Controller{cfg: cfg, log: cfg.Log, finished: map[string]bool{}, kick: make(chan struct{}, 1)}
	c.pods = client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{})
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{
		AddFunc:    c.track,
		UpdateFunc: func(_, p *api.Pod) { c.track(p) },
		DeleteFunc: func(p *api.Pod) {
			c.mu.Lock()
			delete(c.finished, p.Namespace+"/"+p.Name)
			c.mu.Unlock()
		},
	})
	return c, nil
}

// collectable says whether p is a finished pod this collector may delete.
func collectable(p *api.Pod) bool {
	if p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
		return false
	}
	if p.DeletionTimestamp != nil {
		return false
	}
	if ref := api.ControllerOf(&p.ObjectMeta); ref != nil && ref.Kind == "Job" {
		return false
	}
	return true
}

func (c *Controller) track(p *api.Pod) {
	key := p.Namespace + "/" + p.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	if !collectable(p) {
		delete(c.finished, key)
		return
	}
	c.finished[key] = true
	if c.cfg.Threshold >= 0 && len(c.finished) > c.cfg.Threshold {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// Run collects until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	go c.pods.Run(ctx)
	if !c.pods.WaitForSync(ctx) {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		}
		c.Collect(ctx)
		select { // at most one pass per period
		case <-ctx.Done():
			return nil
		case <-time.After(c.cfg.Period):
		}
	}
}

// Collect deletes the oldest finished pods beyond the threshold, by
// creation time (name to break ties), and returns how many it deleted.
func (c *Controller) Collect(ctx context.Context) int {
	if c.cfg.Threshold < 0 {
		return 0
	}
	c.mu.Lock()
	keys := make([]string, 0, len(c.finished))
	for k := range c.finished {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	var pods []*api.Pod
	for _, k := range keys {
		ns, name, _ := strings.Cut(k, "/")
		if p, ok := c.pods.Get(ns, name); ok && collectable(p) {
			pods = append(pods, p)
		}
	}
	extra := len(pods) - c.cfg.Threshold
	if extra <= 0 {
		return 0
	}
	slices.SortFunc(pods, func(a, b *api.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time),
			strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	zero := int64(0)
	deleted := 0
	for _, p := range pods[:extra] {
		_, err := c.cfg.Backend.Delete(ctx, "pods", p.Namespace, p.Name, api.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &api.Preconditions{UID: &p.UID}})
		switch {
		case err == nil:
			deleted++
		case errdefs.IsNotFound(err), errdefs.IsConflict(err):
		default:
			if ctx.Err() == nil {
				c.log.Warn("delete finished pod", "pod", p.Namespace+"/"+p.Name, "err", err)
			}
		}
	}
	if deleted > 0 {
		c.log.Info("deleted finished pods", "count", deleted, "kept", c.cfg.Threshold)
	}
	return deleted
}
