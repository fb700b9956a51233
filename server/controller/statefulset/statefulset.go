// Package statefulset runs the pods of each StatefulSet under stable
// names, <set>-0 … <set>-N-1, each with its own persistent local volume
// that stays with it. With podManagementPolicy OrderedReady (the
// default) it creates <set>-i only once <set>-0 … <set>-i-1 are Running
// and Ready, and scales down from the highest ordinal, one pod at a
// time, each gone before the next; with Parallel it creates and deletes
// all at once. It rolls a new template out from the highest ordinal down
// to the partition, one pod at a time, each Ready before the next
// (RollingUpdate), or only as pods are deleted (OnDelete), and writes the
// set's status when it changes.
//
// Volumes. Each volumeClaimTemplate t gives pod <set>-i a
// persistentVolumeClaim volume named t with claim <t>-<set>-i, and the
// controller makes that PersistentVolumeClaim before the pod, as
// Kubernetes does: a copy of the template in the set's namespace,
// labelled with the template's labels and the set's selector
// matchLabels (claims.go). A claim has no owner reference: it outlives
// the pod and the set (Kubernetes' default retain policy), and a replica
// created again uses it again. Its data is local (the agent keeps it in
// <data-dir>/volumes/<ns>/<claim> on a node, runtime/agent/volumes.go),
// and the scheduler sends every pod using a claim to the node it wrote
// on the claim (api.AnnotationSelectedNode), so a replica comes back to
// its data without the controller naming a node. Delete a claim (and
// its pod) to let the replica start afresh elsewhere: while the claim is
// being deleted (server/controller/volumes removes its pvc-protection
// finalizer once no pod uses it) the replica's pod is not created, and
// an Event says why; once the claim is gone it is made anew, then the
// pod. A replica's pod still Pending whose claim is missing gets the
// claim made again too, as in Kubernetes.
//
// A replica never runs twice: <set>-i is created only when no pod of
// that name exists, not even one still terminating, and the controller
// never force-deletes.
//
// Revisions. Each template the set has had is a ControllerRevision
// <set>-<template hash> (the pods' controller-revision-hash label),
// controlled by the set, holding the template, numbered in rollout
// order (revisions.go), as in Kubernetes; status.currentRevision and
// updateRevision name them. A replica below the partition that is
// recreated mid-rollout gets the current revision's template from its
// ControllerRevision, read from the shared informer, so a controller
// started anew mid-rollout does the same. Going back to an old template
// renumbers its revision as the newest. Revisions no pod uses, neither
// current nor update, are deleted beyond revisionHistoryLimit, oldest
// first; the garbage collector deletes the rest with the set.
//
// It adopts orphan pods named <set>-<i> that its selector matches (and
// an orphan revision of its template's name). It does not bind pods
// (the scheduler does), delete the pods of a deleted set (the garbage
// collector does) or delete claims (nothing does; a person may). It is
// level-triggered: informers on StatefulSets, Pods,
// PersistentVolumeClaims and ControllerRevisions feed a work queue of
// set keys (a claim only when it is gone: a replica may wait for it);
// each sync is a pure plan (plan.go), then the writes. Whether a claim
// exists is read from the claim cache, not asked of the store on each
// sync.
package statefulset

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podhandler"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
	"github.com/skiffhq/skiff/server/controller/record"
)

// Config says where the stateful sets are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Events records Events about stateful sets; nil means a coalescing
	// recorder (server/controller/record) that Run runs.
	Events record.Eventer
	// Workers is how many stateful sets are synced at once (default 2).
	Workers int
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
	Log *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("statefulset: a backend is required")
	}
	if c.Workers < 0 {
		return errors.New("statefulset: workers may not be negative")
	}
	return nil
}

// Controller is the stateful set controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	events *record.Given // Config.Events, or a recorder of its own
	sets   *client.Informer[*api.StatefulSet]
	pods   *client.Informer[*api.Pod]
	claims *client.Informer[*api.PersistentVolumeClaim]
	revs   *client.Informer[*api.ControllerRevision]
	queue  *client.Queue[string]
}

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
		sets:   client.Shared[*api.StatefulSet](cfg.Informers, "", api.ListOptions{}),
		pods:   client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{}),
		claims: client.Shared[*api.PersistentVolumeClaim](cfg.Informers, "", api.ListOptions{}),
		revs:   client.Shared[*api.ControllerRevision](cfg.Informers, "", api.ListOptions{}),
		queue:  client.NewQueue[string](nil),
	}
	c.events = record.OrNew(cfg.Events, cfg.Backend, "statefulset-controller", cfg.Now, cfg.Log)
	c.pods.AddIndex(owner.ByController, owner.ControllerIndex[*api.Pod])
	c.pods.AddIndex(owner.ByOrphanNamespace, owner.OrphanIndex)
	c.sets.AddIndex(owner.ByNamespace, owner.NamespaceIndex[*api.StatefulSet])
	c.sets.AddHandler(client.HandlerFuncs[*api.StatefulSet]{
		AddFunc:    func(s *api.StatefulSet) { c.queue.Add(setKey(s)) },
		UpdateFunc: func(_, s *api.StatefulSet) { c.queue.Add(setKey(s)) },
		DeleteFunc: func(s *api.StatefulSet) {
			c.events.Forget(s.UID)
			c.queue.Add(setKey(s))
		},
	})
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, p *api.Pod) { c.podChanged(p) },
		DeleteFunc: c.podChanged,
	})
	c.claims.AddHandler(client.HandlerFuncs[*api.PersistentVolumeClaim]{DeleteFunc: c.claimGone})
	c.revs.AddIndex(owner.ByController, owner.ControllerIndex[*api.ControllerRevision])
	// A revision deleted by hand is made again (the current one is
	// needed); one that appears may be the last a sync waited for.
	c.revs.AddHandler(client.HandlerFuncs[*api.ControllerRevision]{AddFunc: c.revisionChanged, DeleteFunc: c.revisionChanged})
	return c, nil
}

// Run syncs stateful sets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(key string, err error) {
			c.log.Warn("sync stateful set", "statefulset", key, "err", err)
		},
		Informers: []worker.Informer{c.sets, c.pods, c.claims, c.revs},
		Also:      []func(context.Context) error{c.events.Run},
	}.Run(ctx)
}

// podChanged queues the pod's set, or the sets that may adopt it.
func (c *Controller) podChanged(pod *api.Pod) {
	set := c.owner(pod)
	if set == nil {
		c.enqueueMatching(pod)
		return
	}
	c.queue.Add(setKey(set))
}

// enqueueMatching queues the sets that may adopt an orphan pod.
func (c *Controller) enqueueMatching(pod *api.Pod) {
	if api.ControllerOf(&pod.ObjectMeta) != nil || pod.DeletionTimestamp != nil {
		return
	}
	for _, s := range podhandler.Adopters(c.sets.List(), pod, func(s *api.StatefulSet) *api.LabelSelector { return s.Spec.Selector }) {
		if ordinalOf(s, pod) >= 0 { // only a pod named <set>-<ordinal>
			c.queue.Add(setKey(s))
		}
	}
}

// revisionChanged queues the set that controls r, if any.
func (c *Controller) revisionChanged(r *api.ControllerRevision) {
	if s := owner.Resolve[*api.StatefulSet](c.sets, "StatefulSet", r.Namespace, api.ControllerOf(&r.ObjectMeta)); s != nil {
		c.queue.Add(setKey(s))
	}
}

// owner returns the cached set that controls pod, if any.
func (c *Controller) owner(pod *api.Pod) *api.StatefulSet {
	return owner.Resolve[*api.StatefulSet](c.sets, "StatefulSet", pod.Namespace, api.ControllerOf(&pod.ObjectMeta))
}

func setKey(s *api.StatefulSet) string { return s.Namespace + "/" + s.Name }
