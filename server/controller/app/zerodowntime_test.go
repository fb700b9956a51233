package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/endpoints"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

const imageFlaky = "registry.skiff.local/shop-flaky@sha256:f1a4"

// firstRevision records the store revision of the first watch event
// that satisfies a condition.
type firstRevision struct {
	mu  sync.Mutex
	rev int64
}

func (f *firstRevision) note(rv string) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rev == 0 {
		f.rev = n
	}
}

func (f *firstRevision) get() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev
}

// TestGoingIdleWritesStatusFirst: an app going idle has status.idle
// written before its web pods are stopped. The router holds the
// requests of an idle app while it starts; between a scale-down and a
// status written after it, it would answer 503 for an app with no
// backend that is not idle.
func TestGoingIdleWritesStatusFirst(t *testing.T) {
	e := newEnv(t)
	app := newApp("shop", map[string]int32{"web": 1})
	app.Spec.ScaleToZero = &api.AppScaleToZero{IdleMinutes: 1}
	e.createApp(app)
	e.release("shop", 1, imageV1, map[string]string{"web": ""})
	e.deployed("shop", "shop-v1")

	var idle, stopped firstRevision
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	apps := client.NewInformer[*api.App](e.reg, "default", api.ListOptions{}, nil)
	apps.AddHandler(client.HandlerFuncs[*api.App]{UpdateFunc: func(old, a *api.App) {
		if !old.Status.Idle && a.Status.Idle {
			idle.note(a.ResourceVersion)
		}
	}})
	deps := client.NewInformer[*api.Deployment](e.reg, "default", api.ListOptions{}, nil)
	deps.AddHandler(client.HandlerFuncs[*api.Deployment]{UpdateFunc: func(old, d *api.Deployment) {
		if d.Name == "shop-web" && replicasOf(old) != 0 && replicasOf(d) == 0 {
			stopped.note(d.ResourceVersion)
		}
	}})
	go apps.Run(ctx)
	go deps.Run(ctx)
	if !apps.WaitForSync(ctx) || !deps.WaitForSync(ctx) {
		t.Fatal("informers did not sync")
	}

	e.clock.Advance(61 * time.Second)
	e.waitDeployment("shop-web", "scaled to zero", func(d *api.Deployment) bool { return replicasOf(d) == 0 && d.Status.Replicas == 0 })
	e.eventually("both writes seen", func() (bool, string) {
		return idle.get() != 0 && stopped.get() != 0, fmt.Sprintf("idle at %d, scaled down at %d", idle.get(), stopped.get())
	})
	if idle.get() > stopped.get() {
		t.Errorf("web scaled to 0 at revision %d, before status.idle was written at %d: the router would answer 503 in between",
			stopped.get(), idle.get())
	}
	controllertest.Settles(t, e.st.Revision, "app shop idle")
}

// TestReleaseReadyForAMomentKeepsOldServing: a release whose pod passes
// its health check once and then fails does not stop the old release's
// pod (the new pod must stay ready for minReadySeconds first); past the
// deadline it fails, and the old pod, never stopped, serves on.
func TestReleaseReadyForAMomentKeepsOldServing(t *testing.T) {
	e := newEnv(t)
	app := newApp("shop", map[string]int32{"web": 1})
	app.Spec.HealthCheck.DeadlineSeconds = 30
	e.createApp(app)
	e.release("shop", 1, imageV1, map[string]string{"web": ""})
	e.deployed("shop", "shop-v1")
	oldPods := e.podsOfRelease("shop-v1")
	if len(oldPods) != 1 {
		t.Fatalf("%d v1 pods, want 1", len(oldPods))
	}
	old := oldPods[0]

	e.release("shop", 2, imageFlaky, map[string]string{"web": ""})
	e.eventually("the v2 pod was ready, then failed", func() (bool, string) {
		evs, _, _, err := clientEvents(e).List(e.ctx, api.ListOptions{FieldSelector: "reason=Unhealthy"})
		return err == nil && len(evs) > 0, fmt.Sprint(err)
	})
	// Longer than minReadySeconds (3s) after the v2 pod was ready.
	time.Sleep(time.Duration(minReadySeconds(healthCheck(app)))*time.Second + 500*time.Millisecond)
	if p, err := e.pods.Get(e.ctx, old.Name); err != nil || p.UID != old.UID || p.DeletionTimestamp != nil || !podReady(p) {
		t.Fatalf("v1 pod %s after the v2 pod was ready for %v: %v, %+v; want it ready and not stopping", old.Name, flakeAfter, err, p)
	}
	if r, _ := e.rels.Get(e.ctx, "shop-v2"); r.Status.Phase != api.ReleaseDeploying {
		t.Errorf("shop-v2 phase %s, want Deploying", r.Status.Phase)
	}

	e.clock.Advance(31 * time.Second)
	r2 := e.waitPhase("shop-v2", api.ReleaseFailed)
	for _, want := range []string{"shop-v1 keeps serving", "GET / on port 5000", "deploy again"} {
		if !strings.Contains(r2.Status.Message, want) {
			t.Errorf("failure message %q does not say %q", r2.Status.Message, want)
		}
	}
	e.waitDeployment("shop-web", "back on v1", func(d *api.Deployment) bool {
		return d.Spec.Template.Labels[api.LabelRelease] == "shop-v1" && deploymentComplete(d)
	})
	if p, err := e.pods.Get(e.ctx, old.Name); err != nil || p.UID != old.UID || p.DeletionTimestamp != nil {
		t.Errorf("v1 pod %s after the rollback: %v, %+v; want the same pod, never stopped", old.Name, err, p)
	}
	controllertest.Settles(t, e.st.Revision, "app shop rolled back")
}

// podsOfRelease lists the pods of release rel not being deleted.
func (e *env) podsOfRelease(rel string) []*api.Pod {
	e.t.Helper()
	list, _, _, err := e.pods.List(e.ctx, api.ListOptions{LabelSelector: api.LabelRelease + "=" + rel})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*api.Pod
	for _, p := range list {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// TestNewPortReachesEachPodAtItsOwn: while a release listening on
// another PORT rolls out, the Endpoints of the app's Service (made by
// the real endpoints controller) list every pod at its own release's
// port: the Service targets the web container's port by name, so that
// the old pods are not sent to a port they do not listen on.
func TestNewPortReachesEachPodAtItsOwn(t *testing.T) {
	e := newEnv(t)
	ec, err := endpoints.New(endpoints.Config{Backend: e.reg, Informers: e.inf, Log: controllertest.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, e.ctx, ec.Run)
	e.createApp(newApp("shop", map[string]int32{"web": 1}))
	e.release("shop", 1, imageV1, map[string]string{"web": ""})
	e.deployed("shop", "shop-v1")

	eps := client.For[*api.Endpoints](e.reg, "default")
	// check says what is wrong with the app's Endpoints now, and whether
	// they list a ready pod of each release (v1 at 5000, v2 at 8080).
	check := func() (wrong string, v1, v2 bool) {
		ep, err := eps.Get(e.ctx, "shop")
		if err != nil {
			return "", false, false
		}
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				if a.TargetRef == nil || len(ss.Ports) != 1 {
					return fmt.Sprintf("subset %+v", ss), false, false
				}
				p, err := e.pods.Get(e.ctx, a.TargetRef.Name)
				if err != nil {
					continue // gone since
				}
				want := p.Spec.Containers[0].Ports[0].ContainerPort
				if got := ss.Ports[0].Port; got != want {
					return fmt.Sprintf("pod %s of %s listed at port %d, but it listens on %d", p.Name, p.Labels[api.LabelRelease], got, want), false, false
				}
				v1 = v1 || p.Labels[api.LabelRelease] == "shop-v1"
				v2 = v2 || p.Labels[api.LabelRelease] == "shop-v2"
			}
		}
		return "", v1, v2
	}
	e.eventually("the v1 pod in the endpoints", func() (bool, string) {
		wrong, v1, _ := check()
		return wrong == "" && v1, wrong
	})

	r := &api.Release{
		ObjectMeta: api.ObjectMeta{Name: "shop-v2", Labels: map[string]string{api.LabelApp: "shop"}},
		Spec:       api.ReleaseSpec{App: "shop", Version: 2, Image: imageV2, Processes: map[string]string{"web": ""}, Port: 8080},
	}
	if _, err := e.rels.Create(e.ctx, r); err != nil {
		t.Fatal(err)
	}
	both := false
	e.eventually("shop-v2 rolled out, every pod listed at its own port", func() (bool, string) {
		wrong, v1, v2 := check()
		if wrong != "" {
			t.Fatalf("during the rollout: %s", wrong)
		}
		both = both || v1 && v2
		r, err := e.rels.Get(e.ctx, "shop-v2")
		return err == nil && r.Status.Phase == api.ReleaseSucceeded && v2 && !v1, fmt.Sprintf("v1 %v v2 %v", v1, v2)
	})
	if !both {
		t.Errorf("the endpoints never listed the v1 and v2 pods together: the old one went before the new one was in")
	}
}

// TestReleaseDroppingWebKeepsItUntilRolledOut: a release without a web
// process (or without a worker) leaves the web Deployment and Service
// (the worker Deployment) in place until it has rolled out; when it
// fails instead, the previous release's web pods never stopped serving.
func TestReleaseDroppingWebKeepsItUntilRolledOut(t *testing.T) {
	e := newEnv(t)
	app := newApp("shop", map[string]int32{"web": 1, "worker": 1, "clock": 1})
	app.Spec.HealthCheck.DeadlineSeconds = 30
	e.createApp(app)
	e.release("shop", 1, imageV1, shopProcs)
	e.deployed("shop", "shop-v1")
	webPod := e.podsOfRelease("shop-v1")

	e.release("shop", 2, imageBroken, map[string]string{"clock": "python clock.py"})
	e.waitPhase("shop-v2", api.ReleaseDeploying)
	e.waitDeployment("shop-clock", "a pod of v2", func(d *api.Deployment) bool { return d.Status.Replicas >= 1 })
	time.Sleep(300 * time.Millisecond) // syncs that would delete them
	for _, name := range []string{"shop-web", "shop-worker"} {
		if d, err := e.deps.Get(e.ctx, name); err != nil || d.DeletionTimestamp != nil {
			t.Errorf("deployment %s while shop-v2 rolls out: %v %+v; want it kept until shop-v2 rolled out", name, err, d)
		}
	}
	if s, err := e.svcs.Get(e.ctx, "shop"); err != nil || s.DeletionTimestamp != nil {
		t.Errorf("service shop while shop-v2 rolls out: %v; want it kept", err)
	}
	e.clock.Advance(31 * time.Second)
	e.waitPhase("shop-v2", api.ReleaseFailed)
	e.waitGone("clock deployment of the failed release", func() error { _, err := e.deps.Get(e.ctx, "shop-clock"); return err })
	for _, p := range webPod {
		if got, err := e.pods.Get(e.ctx, p.Name); err != nil || got.UID != p.UID || got.DeletionTimestamp != nil {
			t.Errorf("v1 pod %s after shop-v2 failed: %v; want it never stopped", p.Name, err)
		}
	}
	controllertest.Settles(t, e.st.Revision, "app shop back on v1")
}

// TestServiceSpecPutBack: a change to the app's Service that would take
// its pods out of the router (another selector) is put back at once,
// not at the app's next change.
func TestServiceSpecPutBack(t *testing.T) {
	e := newEnv(t)
	e.createApp(newApp("shop", nil))
	e.release("shop", 1, imageV1, map[string]string{"web": ""})
	e.deployed("shop", "shop-v1")
	err := client.RetryOnConflict(e.ctx, func() error {
		s, err := e.svcs.Get(e.ctx, "shop")
		if err != nil {
			return err
		}
		s.Spec.Selector = map[string]string{"run": "elsewhere"}
		_, err = e.svcs.Update(e.ctx, s)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("the service's selector put back", func() (bool, string) {
		s, err := e.svcs.Get(e.ctx, "shop")
		if err != nil {
			return false, err.Error()
		}
		return s.Spec.Selector[api.LabelApp] == "shop" && s.Spec.Selector[api.LabelProcess] == "web", fmt.Sprint(s.Spec.Selector)
	})
	controllertest.Settles(t, e.st.Revision, "app shop's service put back")
}
