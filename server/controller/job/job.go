// Package job runs Jobs as Kubernetes' job controller does: it creates
// pods from a job's template (parallelism at a time) until completions of
// them have succeeded, replaces failed ones with an exponential back-off
// until backoffLimit failures, ends the job Complete or Failed
// (BackoffLimitExceeded, DeadlineExceeded) with its active pods deleted,
// suspends and resumes it, writes its status, and deletes a finished job
// once ttlSecondsAfterFinished has passed (the garbage collector then
// deletes its pods). It does not schedule or run pods, nor delete the
// pods of a deleted job.
//
//	informers: jobs, pods (indexed by controlling job uid)
//	     │ job and pod changes, clock wake-ups (back-off, deadline, TTL)
//	     ▼
//	queue of job keys ──► sync: claim pods → count → finished? → deadline /
//	                      back-off limit → suspend → create / delete the
//	                      difference → write status if changed → wake-up
//
// Only NonIndexed completion is implemented; an Indexed job is refused
// with a Warning Event. Failed and succeeded pods are counted from the
// pods that exist (no job-tracking finalizers): a finished pod deleted by
// hand is still counted, because the counts in the status never go down.
package job

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
	"github.com/skiffhq/skiff/server/controller/internal/versions"
	"github.com/skiffhq/skiff/server/controller/internal/wakeup"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
	"github.com/skiffhq/skiff/server/controller/record"
)

// Clock is the controller's time source: Now, and AfterFunc, which calls
// f in its own goroutine after d as time.AfterFunc does and returns a func
// that stops the timer. Tests pass jobtest.Clock, which moves only when
// told.
type Clock = wakeup.Clock

// Config says where the jobs are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Workers is how many jobs are synced at once (default 2).
	Workers int
	// BurstPods caps the pods one sync creates (default 500, as
	// Kubernetes); the rest wait for the next sync.
	BurstPods int
	// Clock is the time source (nil: the wall clock).
	Clock Clock
	Log   *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("job: a backend is required")
	}
	if c.Workers < 0 || c.BurstPods < 0 {
		return errors.New("job: workers and burst pods may not be negative")
	}
	return nil
}

// Controller is the job controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	clock  Clock
	jobs   *client.Informer[*api.Job]
	pods   *client.Informer[*api.Pod]
	queue  *client.Queue[string]
	wake   *wakeup.Set
	exp    *expectations.Expectations
	seen   *finishSeen
	vers   *versions.Versions
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
	if cfg.BurstPods == 0 {
		cfg.BurstPods = 500
	}
	if cfg.Clock == nil {
		cfg.Clock = wakeup.RealClock{}
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
		clock:  cfg.Clock,
		jobs:   client.Shared[*api.Job](cfg.Informers, "", api.ListOptions{}),
		pods:   client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{}),
		queue:  client.NewQueue[string](nil),
		exp:    expectations.New(cfg.Clock.Now),
		seen:   newFinishSeen(),
		vers:   versions.New(),
		events: record.New(cfg.Backend, "job-controller", cfg.Clock.Now, cfg.Log),
	}
	c.wake = wakeup.New(cfg.Clock, c.queue.Add)
	c.pods.AddIndex(owner.ByNamespace, owner.NamespaceIndex[*api.Pod])
	c.pods.AddIndex(owner.ByController, owner.ControllerIndex[*api.Pod])
	c.jobs.AddIndex(owner.ByNamespace, owner.NamespaceIndex[*api.Job])
	c.jobs.AddHandler(client.HandlerFuncs[*api.Job]{
		AddFunc: func(j *api.Job) { c.queue.Add(jobKey(j)) },
		UpdateFunc: func(old, j *api.Job) {
			if old.ResourceVersion != j.ResourceVersion {
				c.queue.Add(jobKey(j))
			}
		},
		DeleteFunc: func(j *api.Job) {
			c.exp.Forget(jobKey(j))
			c.wake.Forget(jobKey(j))
			c.vers.Forget(jobKey(j))
			c.events.Forget(j.UID)
			c.queue.Add(jobKey(j))
		},
	})
	pods := &podhandler.Handler[*api.Job]{
		Kind: "Job", Owners: c.jobs, ByNamespace: owner.ByNamespace,
		Selector: func(j *api.Job) *api.LabelSelector { return j.Spec.Selector },
		Queue:    c.queue, Exp: c.exp,
		// A job has no minReadySeconds; every update of an orphan looks
		// for a job to adopt it.
	}
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{AddFunc: pods.AddPod, UpdateFunc: pods.UpdatePod, DeleteFunc: func(p *api.Pod) {
		c.seen.forget(p.UID) // gone: its finish time is no longer needed
		pods.DeletePod(p)
	}})
	return c, nil
}

// Run syncs jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(key string, err error) {
			// errStale: the cache was behind a write; it is looked at again
			// shortly, which is no failure to log.
			if !errors.Is(err, errStale) {
				c.log.Warn("sync job", "job", key, "err", err)
			}
		},
		Informers: []worker.Informer{c.jobs, c.pods},
		Also:      []func(context.Context) error{c.events.Run},
		Stop:      c.wake.StopAll,
	}.Run(ctx)
}

func jobKey(j *api.Job) string { return j.Namespace + "/" + j.Name }

// now is the controller's clock, in UTC.
func (c *Controller) now() time.Time { return c.clock.Now() }

// FinishedCondition returns the job's Complete or Failed condition when it
// is true, else nil: whether the job has finished, and how.
func FinishedCondition(j *api.Job) *api.JobCondition {
	for i := range j.Status.Conditions {
		cond := &j.Status.Conditions[i]
		if (cond.Type == api.JobComplete || cond.Type == api.JobFailed) && cond.Status == api.ConditionTrue {
			return cond
		}
	}
	return nil
}

// ref is the Event reference of a job.
func ref(j *api.Job) api.ObjectReference {
	return api.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID}
}
