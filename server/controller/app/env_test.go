package app

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/deployment"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/job/jobtest"
	"github.com/skiffhq/skiff/server/controller/replicaset"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// env is a real store and registry in a temporary directory with the app,
// deployment and replica set controllers running on it, and a "node"
// that writes pod statuses the way an agent would: Running and Ready,
// or, for an image with "broken" in its name, Running with a failing
// readiness probe and the agent's Unhealthy Event.
type env struct {
	t     testing.TB
	ctx   context.Context
	st    *store.Bolt
	reg   *registry.Registry
	clock *jobtest.Clock
	apps  *client.Resource[*api.App]
	rels  *client.Resource[*api.Release]
	deps  *client.Resource[*api.Deployment]
	rsets *client.Resource[*api.ReplicaSet]
	svcs  *client.Resource[*api.Service]
	pods  *client.Resource[*api.Pod]
	inf   *client.Informers
	ips   atomic.Int32 // pod IPs given out
}

// probeOutput is what the broken image's readiness probe reports.
const probeOutput = "HTTP probe failed with statuscode: 500"

func newEnv(t testing.TB) *env {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		// Each env is a store of its own; the rollouts wait on
		// minReadySeconds in real time.
		tt.Parallel()
	}
	reg, st, ctx := controllertest.Registry(t, 120*time.Second)
	// The app controller's clock starts an hour back, so that Activate's
	// lastRequest (the wall clock) is ahead of it.
	e := &env{t: t, ctx: ctx, st: st, reg: reg, clock: jobtest.NewClock(time.Now().Add(-time.Hour)),
		apps:  client.For[*api.App](reg, "default"),
		rels:  client.For[*api.Release](reg, "default"),
		deps:  client.For[*api.Deployment](reg, "default"),
		rsets: client.For[*api.ReplicaSet](reg, "default"),
		svcs:  client.For[*api.Service](reg, "default"),
		pods:  client.For[*api.Pod](reg, "default")}
	inf := client.NewInformers(reg, controllertest.Log(t))
	e.inf = inf
	ac, err := New(Config{Backend: reg, Informers: inf, AppsDomain: "apps.skiff.local", Clock: e.clock, Log: controllertest.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := deployment.New(deployment.Config{Backend: reg, Informers: inf, Log: controllertest.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	rsc, err := replicaset.New(replicaset.Config{Backend: reg, Informers: inf, Log: controllertest.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []func(context.Context) error{ac.Run, dc.Run, rsc.Run, e.runNode} {
		controllertest.Start(t, ctx, run)
	}
	return e
}

// runNode writes the status of every new pod, as the agent would.
func (e *env) runNode(ctx context.Context) error {
	inf := client.NewInformer[*api.Pod](e.reg, "", api.ListOptions{}, nil)
	work := make(chan *api.Pod, 10000)
	inf.AddHandler(client.HandlerFuncs[*api.Pod]{AddFunc: func(p *api.Pod) { work <- p }})
	go inf.Run(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-work:
			err := client.RetryOnConflict(ctx, func() error {
				fresh, err := e.pods.Get(ctx, p.Name)
				if err != nil {
					return err
				}
				if strings.Contains(fresh.Spec.Containers[0].Image, "broken") {
					return e.failReadiness(ctx, fresh)
				}
				if fresh.Status.PodIP == "" {
					n := e.ips.Add(1)
					fresh.Status.PodIP = fmt.Sprintf("10.42.%d.%d", n/250, n%250+2)
				}
				_, err = controllertest.SetRunningReady(ctx, e.pods, fresh, time.Now())
				if err == nil && strings.Contains(fresh.Spec.Containers[0].Image, "flaky") {
					go e.flake(ctx, p.Name)
				}
				return err
			})
			if err != nil && !errdefs.IsNotFound(err) && ctx.Err() == nil {
				return fmt.Errorf("write status of pod %s: %w", p.Name, err)
			}
		}
	}
}

// flakeAfter is how long a pod of a "flaky" image stays ready.
const flakeAfter = 300 * time.Millisecond

// flake makes pod name, ready since just now, fail its readiness probe
// flakeAfter later, as a process that answers its first check and then
// breaks.
func (e *env) flake(ctx context.Context, name string) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(flakeAfter):
	}
	err := client.RetryOnConflict(ctx, func() error {
		fresh, err := e.pods.Get(ctx, name)
		if err != nil {
			return err
		}
		return e.failReadiness(ctx, fresh)
	})
	if err != nil && !errdefs.IsNotFound(err) && ctx.Err() == nil {
		e.t.Errorf("make pod %s fail its readiness probe: %v", name, err)
	}
}

// failReadiness writes p as running but not ready, with the Unhealthy
// Event an agent records for a failed readiness probe.
func (e *env) failReadiness(ctx context.Context, p *api.Pod) error {
	next := api.Clone(p)
	next.Status.Phase = api.PodRunning
	next.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionFalse, Reason: "ContainersNotReady",
		Message: "containers with unready status: [" + p.Spec.Containers[0].Name + "]"}}
	next.Status.ContainerStatuses = []api.ContainerStatus{{Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image,
		State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: api.Now()}}}}
	if _, err := e.pods.UpdateStatus(ctx, next); err != nil {
		return err
	}
	now := api.Now()
	_, err := client.For[*api.Event](e.reg, p.Namespace).Create(ctx, &api.Event{
		ObjectMeta:     api.ObjectMeta{Name: p.Name + ".unhealthy", Namespace: p.Namespace},
		InvolvedObject: api.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		Reason:         "Unhealthy", Message: "Readiness probe failed: " + probeOutput, Type: api.EventTypeWarning,
		FirstTimestamp: now, LastTimestamp: now, Count: 4, Source: api.EventSource{Component: "agent"},
	})
	if errdefs.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// eventually polls cond every 10 ms until it holds or 30 s pass.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 30 * time.Second, Every: 10 * time.Millisecond}, what, cond)
}

func newApp(name string, scale map[string]int32) *api.App {
	return &api.App{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.AppSpec{Scale: scale}}
}

// release makes version v of app running image with processes.
func (e *env) release(app string, v int64, image string, procs map[string]string) *api.Release {
	e.t.Helper()
	a, err := e.apps.Get(e.ctx, app)
	if err != nil {
		e.t.Fatal(err)
	}
	name := api.ReleaseName(app, v)
	r := &api.Release{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelApp: app},
			OwnerReferences: []api.OwnerReference{{APIVersion: "skiff.dev/v1", Kind: "App", Name: app, UID: a.UID}}},
		Spec: api.ReleaseSpec{App: app, Version: v, Image: image, Processes: procs, Config: api.ReleaseConfigSecretName(name)},
	}
	r, err = e.rels.Create(e.ctx, r)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// createApp creates a.
func (e *env) createApp(a *api.App) *api.App {
	e.t.Helper()
	a, err := e.apps.Create(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// updateApp changes app with fn, retrying on conflict.
func (e *env) updateApp(name string, fn func(a *api.App)) {
	e.t.Helper()
	err := client.RetryOnConflict(e.ctx, func() error {
		a, err := e.apps.Get(e.ctx, name)
		if err != nil {
			return err
		}
		fn(a)
		_, err = e.apps.Update(e.ctx, a)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitPhase waits until release name is in phase.
func (e *env) waitPhase(name string, phase api.ReleasePhase) *api.Release {
	e.t.Helper()
	var r *api.Release
	e.eventually("release "+name+" "+string(phase), func() (bool, string) {
		var err error
		if r, err = e.rels.Get(e.ctx, name); err != nil {
			return false, err.Error()
		}
		return r.Status.Phase == phase, fmt.Sprintf("%+v", r.Status)
	})
	return r
}

// waitApp waits until app's status satisfies cond.
func (e *env) waitApp(name, what string, cond func(a *api.App) bool) *api.App {
	e.t.Helper()
	var a *api.App
	e.eventually("app "+name+": "+what, func() (bool, string) {
		var err error
		if a, err = e.apps.Get(e.ctx, name); err != nil {
			return false, err.Error()
		}
		return cond(a), fmt.Sprintf("%+v", a.Status)
	})
	return a
}

// waitDeployment waits until Deployment name satisfies cond.
func (e *env) waitDeployment(name, what string, cond func(d *api.Deployment) bool) *api.Deployment {
	e.t.Helper()
	var d *api.Deployment
	e.eventually("deployment "+name+": "+what, func() (bool, string) {
		var err error
		if d, err = e.deps.Get(e.ctx, name); err != nil {
			return false, err.Error()
		}
		return cond(d), fmt.Sprintf("replicas %v template %+v status %+v", d.Spec.Replicas, d.Spec.Template.Labels, d.Status)
	})
	return d
}

// waitGone waits until get says not found.
func (e *env) waitGone(what string, get func() error) {
	e.t.Helper()
	e.eventually(what+" gone", func() (bool, string) {
		err := get()
		return errdefs.IsNotFound(err), fmt.Sprint(err)
	})
}

// readyPods counts the ready pods of app's release rel, not being deleted.
func (e *env) readyPods(app, rel string) int {
	e.t.Helper()
	list, _, _, err := e.pods.List(e.ctx, api.ListOptions{LabelSelector: api.LabelApp + "=" + app + "," + api.LabelRelease + "=" + rel})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, p := range list {
		if p.DeletionTimestamp == nil && podReady(p) {
			n++
		}
	}
	return n
}

func replicasOf(d *api.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func clientEvents(e *env) *client.Resource[*api.Event] {
	return client.For[*api.Event](e.reg, "default")
}
