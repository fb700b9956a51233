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
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/expectations"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podhandler"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
	"github.com/skiffhq/skiff/server/controller/record"
)

// Config says where the replica sets are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
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
	if cfg.Informers == nil {
		cfg.Informers = client.NewInformers(cfg.Backend, cfg.Log)
	}
	c := &Controller{
		cfg:    cfg,
		log:    cfg.Log,
		now:    cfg.Now,
		rsets:  client.Shared[*api.ReplicaSet](cfg.Informers, "", api.ListOptions{}),
		pods:   client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{}),
		queue:  client.NewQueue[string](nil),
		exp:    expectations.New(cfg.Now),
		events: record.New(cfg.Backend, "replicaset-controller", cfg.Now, cfg.Log),
	}
	c.rsets.AddIndex(owner.ByNamespace, owner.NamespaceIndex[*api.ReplicaSet])
	c.pods.AddIndex(owner.ByNamespace, owner.NamespaceIndex[*api.Pod])
	c.rsets.AddHandler(client.HandlerFuncs[*api.ReplicaSet]{
		AddFunc:    func(rs *api.ReplicaSet) { c.queue.Add(rsKey(rs)) },
		UpdateFunc: func(_, rs *api.ReplicaSet) { c.queue.Add(rsKey(rs)) },
		DeleteFunc: func(rs *api.ReplicaSet) {
			c.exp.Forget(rsKey(rs))
			c.events.Forget(rs.UID)
			c.queue.Add(rsKey(rs))
		},
	})
	pods := &podhandler.Handler[*api.ReplicaSet]{
		Kind: "ReplicaSet", Owners: c.rsets, ByNamespace: owner.ByNamespace,
		Selector:        func(rs *api.ReplicaSet) *api.LabelSelector { return rs.Spec.Selector },
		Queue:           c.queue,
		Exp:             c.exp,
		MinReadySeconds: func(rs *api.ReplicaSet) int32 { return rs.Spec.MinReadySeconds },
		// Unlike the job controller's: an orphan's update looks for a
		// replica set to adopt it only when its labels changed or it was
		// just released, and a relabelled pod being deleted counts as
		// deleted for its old owner too.
		OrphanChangesOnly: true,
		RelabeledDeletes:  true,
	}
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{AddFunc: pods.AddPod, UpdateFunc: pods.UpdatePod, DeleteFunc: pods.DeletePod})
	return c, nil
}

// Run syncs replica sets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(key string, err error) {
			c.log.Warn("sync replica set", "replicaset", key, "err", err)
		},
		Informers: []worker.Informer{c.rsets, c.pods},
		Also:      []func(context.Context) error{c.events.Run},
	}.Run(ctx)
}

// ref is the Event reference of a replica set.
func ref(rs *api.ReplicaSet) api.ObjectReference {
	return api.ObjectReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID}
}

func rsKey(rs *api.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }
