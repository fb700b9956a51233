// Package manager builds and runs the server's control loops — the
// scheduler and every controller — over one shared set of informers, so
// that the server keeps one decoded copy of each kind however many loops
// read it. skiff server runs it; so do the in-process clusters of the
// tests and benchmarks, which then test what the server runs.
package manager

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/app"
	"github.com/skiffhq/skiff/server/controller/cronjob"
	"github.com/skiffhq/skiff/server/controller/daemonset"
	"github.com/skiffhq/skiff/server/controller/deployment"
	"github.com/skiffhq/skiff/server/controller/endpoints"
	"github.com/skiffhq/skiff/server/controller/garbagecollector"
	"github.com/skiffhq/skiff/server/controller/job"
	"github.com/skiffhq/skiff/server/controller/nodeipam"
	"github.com/skiffhq/skiff/server/controller/nodelifecycle"
	"github.com/skiffhq/skiff/server/controller/podgc"
	"github.com/skiffhq/skiff/server/controller/replicaset"
	"github.com/skiffhq/skiff/server/controller/statefulset"
	"github.com/skiffhq/skiff/server/controller/volumes"
	"github.com/skiffhq/skiff/server/nodelease"
	"github.com/skiffhq/skiff/server/scheduler"
)

// Config configures the control loops.
type Config struct {
	Backend client.Backend
	// Leases is the server's node lease table, which the node lifecycle
	// controller reads.
	Leases *nodelease.Table
	// ClusterCIDR is what node subnets are given from.
	ClusterCIDR string
	// NodeNotReadyAfter and EvictAfter are the node lifecycle
	// controller's timeouts; zero means its defaults.
	NodeNotReadyAfter, EvictAfter time.Duration
	// CronJobClock is the cron job controller's time source (nil: the
	// wall clock). Tests pass a clock they move, so that schedule times a
	// minute apart come in seconds. The job controller keeps the wall
	// clock: its back-off is measured from the finish times the agents
	// write, which are on the wall clock.
	CronJobClock cronjob.Clock
	// AppsDomain, when set, runs the app controller: apps answer at
	// APP.<AppsDomain> (https:// URLs when HTTPS).
	AppsDomain string
	HTTPS      bool
	Log        *slog.Logger
}

// Manager holds the built loops; Run runs them.
type Manager struct {
	runs []func(context.Context) error
}

// New builds every loop, adding its handlers and indexes to the shared
// informers.
func New(cfg Config) (*Manager, error) {
	if cfg.Backend == nil || cfg.Leases == nil {
		return nil, errors.New("manager: a backend and a lease table are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	inf := client.NewInformers(cfg.Backend, cfg.Log)
	m := &Manager{}
	log := func(name string) *slog.Logger { return cfg.Log.With("component", name) }
	var errs []error
	add := func(run func(context.Context) error, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		m.runs = append(m.runs, run)
	}
	b := cfg.Backend
	ipam, err := nodeipam.New(nodeipam.Config{Backend: b, Informers: inf, ClusterCIDR: cfg.ClusterCIDR, Log: log("nodeipam")})
	add(runOf(ipam, err))
	lc, err := nodelifecycle.New(nodelifecycle.Config{Backend: b, Informers: inf, Leases: cfg.Leases,
		NotReadyAfter: cfg.NodeNotReadyAfter, EvictAfter: cfg.EvictAfter, Log: log("nodelifecycle")})
	add(runOf(lc, err))
	sched, err := scheduler.New(scheduler.Config{Backend: b, Informers: inf, Log: log("scheduler")})
	add(runOf(sched, err))
	rs, err := replicaset.New(replicaset.Config{Backend: b, Informers: inf, Log: log("replicaset")})
	add(runOf(rs, err))
	dep, err := deployment.New(deployment.Config{Backend: b, Informers: inf, Log: log("deployment")})
	add(runOf(dep, err))
	jc, err := job.New(job.Config{Backend: b, Informers: inf, Log: log("job")})
	add(runOf(jc, err))
	cj, err := cronjob.New(cronjob.Config{Backend: b, Informers: inf, Clock: cfg.CronJobClock, Log: log("cronjob")})
	add(runOf(cj, err))
	if cfg.AppsDomain != "" {
		ac, err := app.New(app.Config{Backend: b, Informers: inf, AppsDomain: cfg.AppsDomain, HTTPS: cfg.HTTPS, Log: log("app")})
		add(runOf(ac, err))
	}
	ds, err := daemonset.New(daemonset.Config{Backend: b, Informers: inf, Log: log("daemonset")})
	add(runOf(ds, err))
	ss, err := statefulset.New(statefulset.Config{Backend: b, Informers: inf, Log: log("statefulset")})
	add(runOf(ss, err))
	pvc, err := volumes.New(volumes.Config{Backend: b, Informers: inf, Log: log("pvc-protection")})
	add(runOf(pvc, err))
	ep, err := endpoints.New(endpoints.Config{Backend: b, Informers: inf, Log: log("endpoints")})
	add(runOf(ep, err))
	pgc, err := podgc.New(podgc.Config{Backend: b, Informers: inf, Log: log("podgc")})
	add(runOf(pgc, err))
	gc, err := garbagecollector.New(garbagecollector.Config{Backend: b, Informers: inf, Log: log("garbagecollector")})
	add(runOf(gc, err))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

type runner interface{ Run(context.Context) error }

func runOf[R runner](r R, err error) (func(context.Context) error, error) {
	if err != nil {
		return nil, err
	}
	return r.Run, nil
}

// Run runs every loop until ctx ends or one fails.
func (m *Manager) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, run := range m.runs {
		g.Go(func() error { return run(ctx) })
	}
	return g.Wait()
}
