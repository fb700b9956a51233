package app

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/deployment"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/job/jobtest"
	"github.com/skiffhq/skiff/server/controller/replicaset"
)

// countingBackend counts the writes made through it.
type countingBackend struct {
	client.Backend
	writes atomic.Int64
}

func (b *countingBackend) Create(ctx context.Context, resource, ns string, obj api.Object) (api.Object, error) {
	b.writes.Add(1)
	return b.Backend.Create(ctx, resource, ns, obj)
}

func (b *countingBackend) Update(ctx context.Context, resource, ns string, obj api.Object, sub string) (api.Object, error) {
	b.writes.Add(1)
	return b.Backend.Update(ctx, resource, ns, obj, sub)
}

func (b *countingBackend) Delete(ctx context.Context, resource, ns, name string, opts api.DeleteOptions) (api.Object, error) {
	b.writes.Add(1)
	return b.Backend.Delete(ctx, resource, ns, name, opts)
}

// BenchmarkAppSync runs the app, deployment and replica set controllers
// on the real registry and store, with the test's node marking every pod
// Running and Ready as soon as it exists, and times 50 apps, each given
// a first release with a web and a worker process (one pod each), from
// the releases' creation until every release Succeeded and every App's
// status says so. It reports the app controller's own writes per app
// (Deployments, Service, release and app statuses; attempts, conflicts
// included) and every store write per app (pods, replica sets, Events
// too) until the store is still. Each iteration uses a fresh namespace.
//
//	go test -run '^$' -bench AppSync -benchtime=3x ./server/controller/app/
func BenchmarkAppSync(b *testing.B) {
	const n = 50
	reg, st, ctx := controllertest.Registry(b, 600*time.Second)
	e := &env{t: b, ctx: ctx, st: st, reg: reg, clock: jobtest.NewClock(time.Now()),
		pods: client.For[*api.Pod](reg, "default")}
	counted := &countingBackend{Backend: reg}
	inf := client.NewInformers(reg, nil)
	ac, err := New(Config{Backend: counted, Informers: inf, AppsDomain: "apps.skiff.local", Clock: e.clock, Workers: 4})
	if err != nil {
		b.Fatal(err)
	}
	dc, err := deployment.New(deployment.Config{Backend: reg, Informers: inf, Workers: 4})
	if err != nil {
		b.Fatal(err)
	}
	rsc, err := replicaset.New(replicaset.Config{Backend: reg, Informers: inf, Workers: 4})
	if err != nil {
		b.Fatal(err)
	}
	for _, run := range []func(context.Context) error{ac.Run, dc.Run, rsc.Run, e.runNodeAll} {
		controllertest.Start(b, ctx, run)
	}
	var total time.Duration
	var appWrites, storeWrites int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench%d", i)
		if _, err := client.For[*api.Namespace](reg, "").Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		apps := client.For[*api.App](reg, ns)
		rels := client.For[*api.Release](reg, ns)
		var made []*api.App
		for j := range n {
			a, err := apps.Create(ctx, newApp(fmt.Sprintf("b%d-app%d", i, j), nil))
			if err != nil {
				b.Fatal(err)
			}
			made = append(made, a)
		}
		// Let the controller write the apps' first statuses.
		controllertest.Settles(b, st.Revision, "apps created")
		writes0, rev0 := counted.writes.Load(), st.Revision()
		b.StartTimer()
		start := time.Now()
		for _, a := range made {
			name := api.ReleaseName(a.Name, 1)
			r := &api.Release{
				ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelApp: a.Name},
					OwnerReferences: []api.OwnerReference{{APIVersion: "skiff.dev/v1", Kind: "App", Name: a.Name, UID: a.UID}}},
				Spec: api.ReleaseSpec{App: a.Name, Version: 1, Image: imageV1, Processes: map[string]string{"web": "", "worker": "run"}},
			}
			if _, err := rels.Create(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		waitAll := func() {
			for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("timed out waiting for the apps to run their releases")
				}
				list, _, _, err := apps.List(ctx, api.ListOptions{})
				if err != nil {
					b.Fatal(err)
				}
				done := 0
				for _, a := range list {
					if a.Status.Release != "" && len(a.Status.Processes) == 2 && a.Status.Processes[0].ReadyReplicas == 1 {
						done++
					}
				}
				if done == n {
					return
				}
			}
		}
		waitAll()
		elapsed := time.Since(start)
		b.StopTimer()
		controllertest.Settles(b, st.Revision, "apps deployed")
		total += elapsed
		aw, sw := counted.writes.Load()-writes0, st.Revision()-rev0
		appWrites += aw
		storeWrites += sw
		b.Logf("iteration %d: %d apps running their first release in %v; app controller writes %.1f/app, store writes %.1f/app",
			i, n, elapsed.Round(time.Millisecond), float64(aw)/n, float64(sw)/n)
		b.StartTimer()
	}
	b.ReportMetric(float64(appWrites)/float64(n*b.N), "app-writes/app")
	b.ReportMetric(float64(storeWrites)/float64(n*b.N), "store-writes/app")
}

// runNodeAll is runNode over every namespace, with four workers; the
// first status it cannot write (but for a pod gone) ends it.
func (e *env) runNodeAll(ctx context.Context) error {
	inf := client.NewInformer[*api.Pod](e.reg, "", api.ListOptions{}, nil)
	work := make(chan *api.Pod, 100000)
	inf.AddHandler(client.HandlerFuncs[*api.Pod]{AddFunc: func(p *api.Pod) { work <- p }})
	go inf.Run(ctx)
	g, ctx := errgroup.WithContext(ctx)
	for range 4 {
		g.Go(func() error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case p := <-work:
					pods := client.For[*api.Pod](e.reg, p.Namespace)
					err := client.RetryOnConflict(ctx, func() error {
						fresh, err := pods.Get(ctx, p.Name)
						if err != nil {
							return err
						}
						_, err = controllertest.SetRunningReady(ctx, pods, fresh, time.Now())
						return err
					})
					if err != nil && !errdefs.IsNotFound(err) && ctx.Err() == nil {
						return fmt.Errorf("write status of pod %s/%s: %w", p.Namespace, p.Name, err)
					}
				}
			}
		})
	}
	return g.Wait()
}
