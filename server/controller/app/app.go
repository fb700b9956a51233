// Package app runs Apps (skiff.dev/v1): for each App it picks the release
// to run — the newest Release of the app that has not failed — and keeps
// one Deployment per process type of that release and a Service for its
// web process, all owned by the App. It rolls a new release out (Pending,
// Deploying, Succeeded), fails one whose pods are not all ready within
// the health check's deadline (saying which process and why, from the
// pods' status and Events) so that the previous release goes back to
// serving, supersedes older releases still rolling out, scales an idle
// app's web process to zero, and reports it all in the App's status.
//
// It does not build images or make Releases (the apps service does),
// route requests or hold them while an idle app starts (the ingress does,
// calling Activate), create pods (the deployment and replica set
// controllers do) or delete what an App owned (the garbage collector
// does, through the owner references).
//
// It is level-triggered: informers on Apps, Releases, Deployments and
// Services feed a work queue of app keys ("namespace/name"); each sync
// derives everything from the cached objects and writes only what
// differs, each write carrying the resourceVersion read from the cache,
// so a decision taken on a stale cache fails with a conflict and is taken
// again. Deadlines and idle times wake an app up on Config.Clock.
//
//	Releases ──► desired = newest not Failed ─┬─► older Pending/Deploying: Superseded
//	                                           ├─► Deployment <app>-<type> per process
//	                                           ├─► Service <app> (web)
//	                                           └─► rollout: Pending ► Deploying ► Succeeded
//	                                                                         └► Failed (deadline)
//	App status ◄── last Succeeded release, Deployments' pods, URLs, idle
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/wakeup"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
)

// Clock is the controller's time source: Now, and AfterFunc, which calls
// f in its own goroutine after d as time.AfterFunc does and returns a
// func that stops the timer. Tests pass jobtest.Clock, which moves only
// when told, so that a rollout deadline or an idle time passes at once.
type Clock = wakeup.Clock

// Config says where the apps are and where they answer.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// AppsDomain is the domain under which every app answers as
	// <app>.<AppsDomain> ("apps.skiff.local").
	AppsDomain string
	// HTTPS makes the app URLs https:// (the ingress terminates TLS).
	HTTPS bool
	// Workers is how many apps are synced at once (default 2).
	Workers int
	// Clock is the time source (nil: the wall clock).
	Clock Clock
	Log   *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	var errs []error
	if c.Backend == nil {
		errs = append(errs, errors.New("app: a backend is required"))
	}
	if c.Workers < 0 {
		errs = append(errs, errors.New("app: workers may not be negative"))
	}
	if c.AppsDomain == "" {
		errs = append(errs, errors.New(`app: an apps domain is required: apps answer on <app>.<apps domain>, e.g. "apps.skiff.local"`))
	} else if msgs := api.IsDNS1123Subdomain(c.AppsDomain); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("app: apps domain %q: %s", c.AppsDomain, strings.Join(msgs, "; ")))
	}
	return errors.Join(errs...)
}

// Controller is the app controller.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	clock    Clock
	apps     *client.Informer[*api.App]
	releases *client.Informer[*api.Release]
	deps     *client.Informer[*api.Deployment]
	svcs     *client.Informer[*api.Service]
	queue    *client.Queue[string]
	wake     *wakeup.Set
}

// byApp files a Release under "namespace/app" (its spec.app); only this
// controller reads it, hence the package prefix (see owner's index names).
const byApp = "app.release-app"

func releaseIndex(r *api.Release) []string {
	if r.Spec.App == "" {
		return nil
	}
	return []string{r.Namespace + "/" + r.Spec.App}
}

// New builds a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
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
		apps:     client.Shared[*api.App](cfg.Informers, "", api.ListOptions{}),
		releases: client.Shared[*api.Release](cfg.Informers, "", api.ListOptions{}),
		deps:     client.Shared[*api.Deployment](cfg.Informers, "", api.ListOptions{}),
		svcs:     client.Shared[*api.Service](cfg.Informers, "", api.ListOptions{}),
		queue:    client.NewQueue[string](nil),
	}
	c.wake = wakeup.New(cfg.Clock, c.queue.Add)
	c.releases.AddIndex(byApp, releaseIndex)
	c.deps.AddIndex(owner.ByController, owner.ControllerIndex[*api.Deployment])
	c.svcs.AddIndex(owner.ByController, owner.ControllerIndex[*api.Service])
	c.apps.AddHandler(client.HandlerFuncs[*api.App]{
		AddFunc: func(a *api.App) { c.queue.Add(key(a)) },
		UpdateFunc: func(old, a *api.App) {
			if old.ResourceVersion != a.ResourceVersion {
				c.queue.Add(key(a))
			}
		},
		DeleteFunc: func(a *api.App) { c.wake.Forget(key(a)) },
	})
	c.releases.AddHandler(client.HandlerFuncs[*api.Release]{
		AddFunc:    c.releaseChanged,
		UpdateFunc: func(_, r *api.Release) { c.releaseChanged(r) },
		DeleteFunc: c.releaseChanged,
	})
	c.deps.AddHandler(client.HandlerFuncs[*api.Deployment]{
		AddFunc:    func(d *api.Deployment) { c.ownedChanged(&d.ObjectMeta) },
		UpdateFunc: func(_, d *api.Deployment) { c.ownedChanged(&d.ObjectMeta) },
		DeleteFunc: func(d *api.Deployment) { c.ownedChanged(&d.ObjectMeta); c.nameFreed(d.Namespace, d.Name) },
	})
	c.svcs.AddHandler(client.HandlerFuncs[*api.Service]{
		// A Service's status and endpoints are not the app's business:
		// only its spec changing (put back at once) and its going away.
		UpdateFunc: func(old, s *api.Service) {
			if !reflect.DeepEqual(old.Spec.Selector, s.Spec.Selector) || !reflect.DeepEqual(old.Spec.Ports, s.Spec.Ports) {
				c.ownedChanged(&s.ObjectMeta)
			}
		},
		DeleteFunc: func(s *api.Service) { c.ownedChanged(&s.ObjectMeta); c.nameFreed(s.Namespace, s.Name) },
	})
	return c, nil
}

// Run syncs apps until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return worker.Loop{
		Queue: c.queue, Workers: c.cfg.Workers, Sync: c.sync,
		Failed: func(k string, err error) {
			if errdefs.IsConflict(err) {
				// The cache was behind a write: look again once it catches up.
				c.log.Debug("sync app: stale cache", "app", k, "err", err)
				return
			}
			c.log.Warn("sync app", "app", k, "err", err)
		},
		Informers: []worker.Informer{c.apps, c.releases, c.deps, c.svcs},
		Stop:      c.wake.StopAll,
	}.Run(ctx)
}

func key(o api.Object) string {
	m := o.GetObjectMeta()
	return m.Namespace + "/" + m.Name
}

// releaseChanged queues the release's app.
func (c *Controller) releaseChanged(r *api.Release) {
	if r.Spec.App != "" {
		c.queue.Add(r.Namespace + "/" + r.Spec.App)
	}
}

// ownedChanged queues the App that controls m, if one does.
func (c *Controller) ownedChanged(m *api.ObjectMeta) {
	if ref := api.ControllerOf(m); ref != nil && ref.Kind == "App" {
		c.queue.Add(m.Namespace + "/" + ref.Name)
	}
}

// nameFreed queues the apps that may have waited for an object of
// another named name in ns to go: the app of that name (its Service) and
// every app whose name is a prefix of it before a "-" (a Deployment
// <app>-<type>).
func (c *Controller) nameFreed(ns, name string) {
	for i := len(name); i > 0; i = strings.LastIndexByte(name[:i], '-') {
		if _, ok := c.apps.Get(ns, name[:i]); ok {
			c.queue.Add(ns + "/" + name[:i])
		}
	}
}
