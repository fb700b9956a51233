// Package cronjob creates Jobs on a schedule, as Kubernetes' CronJob
// controller (v2) does: at each time a cron job's schedule (in its time
// zone) names, it creates a Job from the job template — unless a run is
// still active under concurrencyPolicy Forbid, or after first deleting
// the active runs under Replace — and keeps the cron job's status (active
// runs, last schedule and last success), deleting finished Jobs beyond
// the history limits. It does not run the Jobs (the job controller does)
// nor delete the Jobs of a deleted cron job (the garbage collector does).
//
//	informers: cronjobs, jobs (indexed by controlling cron job uid)
//	     │ cron job and job changes, a timer at each cron job's next time
//	     ▼
//	queue of cron job keys ──► sync: active runs ← jobs → history limits →
//	    the latest unmet schedule time within startingDeadlineSeconds →
//	    concurrency policy → create <name>-<minutes since epoch> →
//	    status if changed → timer at the next schedule time
//
// A Job's name is the cron job's and its scheduled time in minutes since
// the epoch, so a restart (or a status write lost after a create) finds
// the Job already made and never runs one schedule time twice. Nothing
// polls: each cron job has one timer, at its next schedule time.
package cronjob

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
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

// Config says where the cron jobs are and in which time zone.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// Workers is how many cron jobs are synced at once (default 2).
	Workers int
	// Location is the zone of a schedule whose cron job names no
	// timeZone (default time.Local, the server's, as Kubernetes').
	Location *time.Location
	// Clock is the time source (nil: the wall clock).
	Clock Clock
	Log   *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("cronjob: a backend is required")
	}
	if c.Workers < 0 {
		return errors.New("cronjob: workers may not be negative")
	}
	return nil
}

// Controller is the cron job controller.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	clock    Clock
	cronjobs *client.Informer[*api.CronJob]
	jobs     *client.Informer[*api.Job]
	queue    *client.Queue[string]
	wake     *wakeup.Set
	vers     *versions.Versions
	events   *record.Recorder

	zonesMu sync.Mutex
	zones   map[string]*time.Location

	// deleted holds the uids of jobs this controller deleted that the
	// informer still shows, so that a sync in between does not count
	// them active again.
	deletedMu sync.Mutex
	deleted   map[string]struct{}
}

// New builds a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
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
		cfg:      cfg,
		log:      cfg.Log,
		clock:    cfg.Clock,
		cronjobs: client.Shared[*api.CronJob](cfg.Informers, "", api.ListOptions{}),
		jobs:     client.Shared[*api.Job](cfg.Informers, "", api.ListOptions{}),
		queue:    client.NewQueue[string](nil),
		vers:     versions.New(),
		events:   record.New(cfg.Backend, "cronjob-controller", cfg.Clock.Now, cfg.Log),
		zones:    map[string]*time.Location{},
		deleted:  map[string]struct{}{},
	}
	c.wake = wakeup.New(cfg.Clock, c.queue.Add)
	c.jobs.AddIndex(owner.ByController, owner.ControllerIndex[*api.Job])
	c.cronjobs.AddHandler(client.HandlerFuncs[*api.CronJob]{
		AddFunc: func(cj *api.CronJob) { c.queue.Add(cronJobKey(cj)) },
		UpdateFunc: func(old, cj *api.CronJob) {
			if old.ResourceVersion != cj.ResourceVersion {
				c.queue.Add(cronJobKey(cj))
			}
		},
		DeleteFunc: func(cj *api.CronJob) {
			c.wake.Forget(cronJobKey(cj))
			c.vers.Forget(cronJobKey(cj))
			c.events.Forget(cj.UID)
		},
	})
	c.jobs.AddHandler(client.HandlerFuncs[*api.Job]{
		AddFunc: c.jobChanged,
		UpdateFunc: func(old, j *api.Job) {
			if old.ResourceVersion != j.ResourceVersion {
				c.jobChanged(j)
			}
		},
		DeleteFunc: func(j *api.Job) {
			c.deletedMu.Lock()
			delete(c.deleted, j.UID)
			c.deletedMu.Unlock()
			c.jobChanged(j)
		},
	})
	return c, nil
}

// jobChanged queues the cron job controlling j, if any.
func (c *Controller) jobChanged(j *api.Job) {
	if cj := owner.Resolve[*api.CronJob](c.cronjobs, "CronJob", j.Namespace, api.ControllerOf(&j.ObjectMeta)); cj != nil {
		c.queue.Add(cronJobKey(cj))
	}
}

// markDeleted remembers a job deleted until the informer shows it gone.
// It is remembered first and checked against the cache after, so that a
// deletion the informer showed already is not remembered for ever.
func (c *Controller) markDeleted(ns, name, uid string) {
	c.deletedMu.Lock()
	c.deleted[uid] = struct{}{}
	c.deletedMu.Unlock()
	if j, ok := c.jobs.Get(ns, name); !ok || j.UID != uid {
		c.deletedMu.Lock()
		delete(c.deleted, uid)
		c.deletedMu.Unlock()
	}
}

// isDeleted: this controller deleted the job and the informer lags.
func (c *Controller) isDeleted(uid string) bool {
	c.deletedMu.Lock()
	defer c.deletedMu.Unlock()
	_, ok := c.deleted[uid]
	return ok
}

// Run syncs cron jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(key string, err error) {
			if !errors.Is(err, errStale) { // the cache was behind a write
				c.log.Warn("sync cron job", "cronjob", key, "err", err)
			}
		},
		Informers: []worker.Informer{c.cronjobs, c.jobs},
		Also:      []func(context.Context) error{c.events.Run},
		Stop:      c.wake.StopAll,
	}.Run(ctx)
}

func cronJobKey(cj *api.CronJob) string { return cj.Namespace + "/" + cj.Name }

// ref is the Event reference of a cron job.
func ref(cj *api.CronJob) api.ObjectReference {
	return api.ObjectReference{Kind: "CronJob", APIVersion: "batch/v1", Namespace: cj.Namespace, Name: cj.Name, UID: cj.UID}
}
