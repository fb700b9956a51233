package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

const (
	imageV1     = "registry.skiff.local/shop@sha256:1111"
	imageV2     = "registry.skiff.local/shop@sha256:2222"
	imageBroken = "registry.skiff.local/shop-broken@sha256:dead"
)

var shopProcs = map[string]string{"web": "", "worker": "python worker.py"}

// deployed waits until app runs release rel: it Succeeded and the App's
// status says so.
func (e *env) deployed(app, rel string) *api.App {
	e.t.Helper()
	e.waitPhase(rel, api.ReleaseSucceeded)
	return e.waitApp(app, "runs "+rel, func(a *api.App) bool {
		c := findCondition(a.Status.Conditions, api.AppDeployed)
		return a.Status.Release == rel && c != nil && c.Status == api.ConditionTrue && c.Reason == ReasonReleaseRunning &&
			len(a.Status.Processes) > 0 && a.Status.Processes[0].ReadyReplicas == a.Status.Processes[0].Replicas
	})
}

func findCondition(conds []api.AppCondition, typ string) *api.AppCondition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func TestFirstRelease(t *testing.T) {
	e := newEnv(t)
	a := e.createApp(newApp("shop", map[string]int32{"web": 2, "worker": 1}))
	e.waitApp("shop", "says it has no release", func(a *api.App) bool {
		c := findCondition(a.Status.Conditions, api.AppDeployed)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == ReasonNoRelease
	})
	e.release("shop", 1, imageV1, shopProcs)
	got := e.deployed("shop", "shop-v1")

	web, err := e.deps.Get(e.ctx, "shop-web")
	if err != nil {
		t.Fatal(err)
	}
	if ref := api.ControllerOf(&web.ObjectMeta); ref == nil || ref.Kind != "App" || ref.UID != a.UID {
		t.Errorf("web deployment controller = %+v, want app shop", ref)
	}
	if got, want := web.Spec.Template.Labels[api.LabelRelease], "shop-v1"; got != want {
		t.Errorf("web template release label = %q, want %q", got, want)
	}
	c := web.Spec.Template.Spec.Containers[0]
	if c.Name != "web" || c.Image != imageV1 || c.Command != nil {
		t.Errorf("web container = %s %s %q, want web %s and the image's own command", c.Name, c.Image, c.Command, imageV1)
	}
	if !slices.Contains(c.Env, api.EnvVar{Name: "PORT", Value: "5000"}) {
		t.Errorf("web env = %+v, want PORT=5000", c.Env)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "release-shop-v1-config" {
		t.Errorf("web envFrom = %+v, want the release's config secret", c.EnvFrom)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/" || p.HTTPGet.Port != api.FromInt(5000) || p.TimeoutSeconds != 2 || p.PeriodSeconds != 1 {
		t.Errorf("web readiness probe = %+v, want GET / on 5000 every 1s within 2s", p)
	}
	if l := c.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds != 5 {
		t.Errorf("web preStop = %+v, want sleep 5", l)
	}
	if g := web.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 15 {
		t.Errorf("web grace period = %v, want 15", g)
	}
	if replicasOf(web) != 2 {
		t.Errorf("web replicas = %d, want 2", replicasOf(web))
	}
	worker, err := e.deps.Get(e.ctx, "shop-worker")
	if err != nil {
		t.Fatal(err)
	}
	wc := worker.Spec.Template.Spec.Containers[0]
	if !slices.Equal(wc.Command, []string{"/bin/sh", "-c", "python worker.py"}) || wc.ReadinessProbe != nil || wc.Lifecycle != nil {
		t.Errorf("worker container = command %q probe %+v lifecycle %+v, want the Procfile command and no probe or hook", wc.Command, wc.ReadinessProbe, wc.Lifecycle)
	}
	if !slices.Contains(wc.Env, api.EnvVar{Name: "PORT", Value: "5000"}) {
		t.Errorf("worker env = %+v, want PORT=5000 as on Heroku", wc.Env)
	}
	svc, err := e.svcs.Get(e.ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector[api.LabelProcess] != "web" || svc.Spec.Selector[api.LabelApp] != "shop" ||
		len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort != api.FromString("http") {
		t.Errorf("service = %+v, want web pods, 80 → the port named http", svc.Spec)
	}
	if ref := api.ControllerOf(&svc.ObjectMeta); ref == nil || ref.UID != a.UID {
		t.Errorf("service controller = %+v, want app shop", ref)
	}
	if got.Status.Version != 1 || !slices.Equal(got.Status.URLs, []string{"http://shop.apps.skiff.local"}) {
		t.Errorf("status version %d urls %q, want 1 and the default host", got.Status.Version, got.Status.URLs)
	}
	wantProcs := []api.AppProcessStatus{{Type: "web", Replicas: 2, ReadyReplicas: 2}, {Type: "worker", Command: "python worker.py", Replicas: 1, ReadyReplicas: 1}}
	e.waitApp("shop", "reports its processes", func(a *api.App) bool { return slices.Equal(a.Status.Processes, wantProcs) })
	if e.readyPods("shop", "shop-v1") != 3 {
		t.Errorf("%d ready pods of shop-v1, want 3", e.readyPods("shop", "shop-v1"))
	}
	controllertest.Settles(t, e.st.Revision, "app shop deployed")
}

func TestScaleChangesReplicasOnly(t *testing.T) {
	e := newEnv(t)
	e.createApp(newApp("shop", nil))
	e.release("shop", 1, imageV1, shopProcs)
	e.deployed("shop", "shop-v1")
	before, err := e.deps.Get(e.ctx, "shop-web")
	if err != nil {
		t.Fatal(err)
	}
	if replicasOf(before) != 1 {
		t.Fatalf("web replicas %d, want the default 1", replicasOf(before))
	}
	if w, _ := e.deps.Get(e.ctx, "shop-worker"); w == nil || replicasOf(w) != 0 {
		t.Fatalf("worker deployment %+v, want the default 0 replicas", w)
	}
	e.updateApp("shop", func(a *api.App) { a.Spec.Scale = map[string]int32{"web": 3} })
	after := e.waitDeployment("shop-web", "3 replicas", func(d *api.Deployment) bool { return replicasOf(d) == 3 })
	if after.Annotations[templateHashAnnotation] != before.Annotations[templateHashAnnotation] ||
		after.Spec.Template.Labels[api.LabelRelease] != "shop-v1" {
		t.Errorf("scaling changed the template: hash %s → %s", before.Annotations[templateHashAnnotation], after.Annotations[templateHashAnnotation])
	}
	e.waitApp("shop", "3 ready web pods", func(a *api.App) bool {
		return len(a.Status.Processes) == 2 && a.Status.Processes[0] == api.AppProcessStatus{Type: "web", Replicas: 3, ReadyReplicas: 3}
	})
	rss, _, _, err := e.rsets.List(e.ctx, api.ListOptions{LabelSelector: api.LabelProcess + "=web"})
	if err != nil || len(rss) != 1 {
		t.Errorf("%d web replica sets (err %v), want 1: scaling is no rollout", len(rss), err)
	}
	rels, _, _, _ := e.rels.List(e.ctx, api.ListOptions{})
	if len(rels) != 1 {
		t.Errorf("%d releases, want 1: scaling makes none", len(rels))
	}
	controllertest.Settles(t, e.st.Revision, "app shop scaled")
}

func TestSecondReleaseRollsOut(t *testing.T) {
	e := newEnv(t)
	e.createApp(newApp("shop", map[string]int32{"web": 2}))
	e.release("shop", 1, imageV1, shopProcs)
	e.deployed("shop", "shop-v1")
	e.release("shop", 2, imageV2, shopProcs)
	d := e.waitDeployment("shop-web", "runs v2", func(d *api.Deployment) bool {
		return d.Spec.Template.Labels[api.LabelRelease] == "shop-v2" && d.Spec.Template.Spec.Containers[0].Image == imageV2
	})
	if replicasOf(d) != 2 {
		t.Errorf("web replicas %d during the rollout, want 2", replicasOf(d))
	}
	r2 := e.waitPhase("shop-v2", api.ReleaseSucceeded)
	if r2.Status.StartTime == nil || r2.Status.CompletionTime == nil {
		t.Errorf("shop-v2 status %+v, want start and completion times", r2.Status)
	}
	a := e.deployed("shop", "shop-v2")
	if a.Status.Version != 2 {
		t.Errorf("app version %d, want 2", a.Status.Version)
	}
	if r1, _ := e.rels.Get(e.ctx, "shop-v1"); r1.Status.Phase != api.ReleaseSucceeded {
		t.Errorf("shop-v1 phase %s, want it to stay Succeeded", r1.Status.Phase)
	}
	e.eventually("no shop-v1 pod left", func() (bool, string) {
		n := e.readyPods("shop", "shop-v1")
		return n == 0, fmt.Sprintf("%d ready v1 pods", n)
	})
	if c := findCondition(a.Status.Conditions, api.AppProgressing); c == nil || c.Status != api.ConditionFalse || c.Reason != ReasonComplete {
		t.Errorf("Progressing = %+v, want False Complete", c)
	}
	controllertest.Settles(t, e.st.Revision, "app shop rolled to v2")
}

func TestFailedReleaseRollsBack(t *testing.T) {
	e := newEnv(t)
	app := newApp("shop", map[string]int32{"web": 2})
	app.Spec.HealthCheck.DeadlineSeconds = 30
	e.createApp(app)
	e.release("shop", 1, imageV1, map[string]string{"web": ""})
	e.deployed("shop", "shop-v1")
	e.release("shop", 2, imageBroken, map[string]string{"web": ""})
	e.waitPhase("shop-v2", api.ReleaseDeploying)
	e.waitDeployment("shop-web", "a broken pod exists", func(d *api.Deployment) bool {
		return d.Spec.Template.Labels[api.LabelRelease] == "shop-v2" && d.Status.UpdatedReplicas >= 1
	})
	// Wait until the broken pod's Event is written, then pass the deadline.
	e.eventually("an Unhealthy event", func() (bool, string) {
		evs, _, _, err := clientEvents(e).List(e.ctx, api.ListOptions{FieldSelector: "reason=Unhealthy"})
		return err == nil && len(evs) > 0, fmt.Sprint(err)
	})
	if e.readyPods("shop", "shop-v1") != 2 {
		t.Errorf("%d ready v1 pods during the broken rollout, want 2 (maxUnavailable 0)", e.readyPods("shop", "shop-v1"))
	}
	e.clock.Advance(31 * time.Second)
	r2 := e.waitPhase("shop-v2", api.ReleaseFailed)
	t.Logf("failure message: %s", r2.Status.Message)
	for _, want := range []string{"process web", "0 of 2 pods of the release ready (1 started)", "pod shop-web-", "ContainersNotReady", "Readiness probe failed: " + probeOutput,
		"(web health check: GET / on port 5000, 2xx or 3xx within 2s)", "; shop-v1 keeps serving; fix the app"} {
		if !strings.Contains(r2.Status.Message, want) {
			t.Errorf("failure message %q does not say %q", r2.Status.Message, want)
		}
	}
	e.waitDeployment("shop-web", "back on v1", func(d *api.Deployment) bool {
		return d.Spec.Template.Labels[api.LabelRelease] == "shop-v1" && d.Spec.Template.Spec.Containers[0].Image == imageV1 &&
			deploymentComplete(d) && replicasOf(d) == 2
	})
	a := e.waitApp("shop", "reports the failure", func(a *api.App) bool {
		c := findCondition(a.Status.Conditions, api.AppProgressing)
		return c != nil && c.Reason == ReasonReleaseFailed && c.Message == r2.Status.Message
	})
	if a.Status.Release != "shop-v1" {
		t.Errorf("app release %s, want shop-v1 still", a.Status.Release)
	}
	e.eventually("only v1 pods", func() (bool, string) {
		list, _, _, _ := e.pods.List(e.ctx, api.ListOptions{LabelSelector: api.LabelRelease + "=shop-v2"})
		return len(list) == 0 && e.readyPods("shop", "shop-v1") == 2, ""
	})
	controllertest.Settles(t, e.st.Revision, "app shop rolled back")
}

func TestFailedFirstReleaseScalesToZero(t *testing.T) {
	e := newEnv(t)
	e.createApp(newApp("shop", nil))
	e.release("shop", 1, imageBroken, map[string]string{"web": ""})
	e.waitPhase("shop-v1", api.ReleaseDeploying)
	e.waitDeployment("shop-web", "a pod exists", func(d *api.Deployment) bool { return d.Status.Replicas == 1 })
	e.clock.Advance(121 * time.Second)
	if r := e.waitPhase("shop-v1", api.ReleaseFailed); !strings.Contains(r.Status.Message, "no earlier release rolled out, so the app is stopped") {
		t.Errorf("failure message %q does not say the app is stopped", r.Status.Message)
	}
	e.waitDeployment("shop-web", "scaled to 0", func(d *api.Deployment) bool { return replicasOf(d) == 0 && d.Status.Replicas == 0 })
	a := e.waitApp("shop", "says nothing runs", func(a *api.App) bool {
		c := findCondition(a.Status.Conditions, api.AppProgressing)
		return c != nil && c.Reason == ReasonReleaseFailed
	})
	if c := findCondition(a.Status.Conditions, api.AppDeployed); c == nil || c.Status != api.ConditionFalse || a.Status.Release != "" {
		t.Errorf("Deployed = %+v, release %q; want False and none", c, a.Status.Release)
	}
}

func TestNewerReleaseSupersedes(t *testing.T) {
	e := newEnv(t)
	e.createApp(newApp("shop", nil))
	e.release("shop", 1, imageV1, map[string]string{"web": ""})
	e.deployed("shop", "shop-v1")
	e.release("shop", 2, imageBroken, map[string]string{"web": ""})
	e.waitPhase("shop-v2", api.ReleaseDeploying)
	e.release("shop", 3, imageV2, map[string]string{"web": ""})
	r2 := e.waitPhase("shop-v2", api.ReleaseSuperseded)
	if !strings.Contains(r2.Status.Message, "shop-v3") {
		t.Errorf("superseded message %q does not name shop-v3", r2.Status.Message)
	}
	e.deployed("shop", "shop-v3")
}

func TestRemovedProcessType(t *testing.T) {
	e := newEnv(t)
	e.createApp(newApp("shop", map[string]int32{"worker": 1}))
	e.release("shop", 1, imageV1, shopProcs)
	e.deployed("shop", "shop-v1")
	e.release("shop", 2, imageV2, map[string]string{"web": ""})
	e.waitGone("worker deployment", func() error { _, err := e.deps.Get(e.ctx, "shop-worker"); return err })
	a := e.deployed("shop", "shop-v2")
	if len(a.Status.Processes) != 1 || a.Status.Processes[0].Type != "web" {
		t.Errorf("processes %+v, want web alone", a.Status.Processes)
	}
	// A release without a web process has no Service.
	e.release("shop", 3, imageV2, map[string]string{"worker": "python worker.py"})
	e.waitGone("service", func() error { _, err := e.svcs.Get(e.ctx, "shop"); return err })
	e.waitGone("web deployment", func() error { _, err := e.deps.Get(e.ctx, "shop-web"); return err })
	e.deployed("shop", "shop-v3")
}

func TestScaleToZero(t *testing.T) {
	e := newEnv(t)
	app := newApp("shop", map[string]int32{"web": 2, "worker": 1})
	app.Spec.ScaleToZero = &api.AppScaleToZero{IdleMinutes: 1}
	e.createApp(app)
	e.release("shop", 1, imageV1, shopProcs)
	e.deployed("shop", "shop-v1")
	e.clock.Advance(61 * time.Second)
	a := e.waitApp("shop", "idle", func(a *api.App) bool { return a.Status.Idle })
	if c := findCondition(a.Status.Conditions, api.AppDeployed); c == nil || c.Reason != ReasonIdle {
		t.Errorf("Deployed = %+v, want reason Idle", c)
	}
	e.waitDeployment("shop-web", "scaled to zero", func(d *api.Deployment) bool { return replicasOf(d) == 0 && d.Status.Replicas == 0 })
	if w, _ := e.deps.Get(e.ctx, "shop-worker"); replicasOf(w) != 1 {
		t.Errorf("worker replicas %d while idle, want 1: only web idles", replicasOf(w))
	}
	controllertest.Settles(t, e.st.Revision, "app shop idle")

	if err := Activate(e.ctx, e.reg, "default", "shop"); err != nil {
		t.Fatal(err)
	}
	e.waitDeployment("shop-web", "back to 2", func(d *api.Deployment) bool { return replicasOf(d) == 2 && d.Status.ReadyReplicas == 2 })
	a = e.waitApp("shop", "awake", func(a *api.App) bool {
		return !a.Status.Idle && a.Status.LastRequest != nil && a.Status.Processes[0].ReadyReplicas == 2
	})
	if c := findCondition(a.Status.Conditions, api.AppDeployed); c == nil || c.Reason != ReasonReleaseRunning {
		t.Errorf("Deployed = %+v, want reason ReleaseRunning", c)
	}
	// Removing scaleToZero from an idle app brings it back too.
	e.updateApp("shop", func(a *api.App) { a.Spec.ScaleToZero.IdleMinutes = 1 })
	e.clock.Set(a.Status.LastRequest.Add(2 * time.Minute))
	e.waitDeployment("shop-web", "idle again", func(d *api.Deployment) bool { return replicasOf(d) == 0 })
	e.updateApp("shop", func(a *api.App) { a.Spec.ScaleToZero = nil })
	e.waitDeployment("shop-web", "back without scale to zero", func(d *api.Deployment) bool { return replicasOf(d) == 2 })
	e.waitApp("shop", "not idle", func(a *api.App) bool { return !a.Status.Idle })
	controllertest.Settles(t, e.st.Revision, "app shop awake")
}

func TestTouch(t *testing.T) {
	e := newEnv(t)
	e.createApp(newApp("shop", nil))
	e.waitApp("shop", "a status", func(a *api.App) bool { return a.Status.ObservedGeneration == a.Generation })
	t0 := time.Now().Truncate(time.Second)
	for _, tc := range []struct {
		at   time.Time
		want time.Time
	}{
		{t0, t0},
		{t0.Add(30 * time.Second), t0}, // within a minute: kept
		{t0.Add(61 * time.Second), t0.Add(61 * time.Second)},
	} {
		if err := Touch(e.ctx, e.reg, "default", "shop", tc.at); err != nil {
			t.Fatal(err)
		}
		a, err := e.apps.Get(e.ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Status.LastRequest; got == nil || !got.Equal(tc.want) {
			t.Errorf("Touch(%v): lastRequest %v, want %v", tc.at, got, tc.want)
		}
	}
	if err := Touch(context.Background(), e.reg, "default", "nope", t0); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Touch of a missing app: %v, want an error naming it", err)
	}
}

func TestForeignDeploymentBlocks(t *testing.T) {
	e := newEnv(t)
	foreign := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "shop-web"}}
	one := int32(1)
	foreign.Spec.Replicas = &one
	foreign.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"run": "other"}}
	foreign.Spec.Template.Labels = map[string]string{"run": "other"}
	foreign.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "other:1"}}
	if _, err := e.deps.Create(e.ctx, foreign); err != nil {
		t.Fatal(err)
	}
	e.createApp(newApp("shop", nil))
	e.release("shop", 1, imageV1, map[string]string{"web": ""})
	e.waitApp("shop", "blocked", func(a *api.App) bool {
		c := findCondition(a.Status.Conditions, api.AppProgressing)
		return c != nil && c.Reason == ReasonBlocked && strings.Contains(c.Message, "deployment default/shop-web exists and is not app shop's")
	})
	if d, _ := e.deps.Get(e.ctx, "shop-web"); d.Spec.Template.Spec.Containers[0].Image != "other:1" {
		t.Errorf("the foreign deployment was changed: %+v", d.Spec.Template.Spec.Containers)
	}
	if _, err := e.deps.Delete(e.ctx, "shop-web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.deployed("shop", "shop-v1")
}

func TestRefusedReleaseFails(t *testing.T) {
	e := newEnv(t)
	e.createApp(newApp("shop", nil))
	e.release("shop", 1, imageV1, map[string]string{"web": ""})
	e.deployed("shop", "shop-v1")
	e.release("shop", 2, imageV2, map[string]string{"web": "", "Bad_Type": "run"})
	r := e.waitPhase("shop-v2", api.ReleaseFailed)
	if !strings.Contains(r.Status.Message, "process Bad_Type") || !strings.Contains(r.Status.Message, "deploy again") {
		t.Errorf("message %q does not name the process and say what to do", r.Status.Message)
	}
	e.waitDeployment("shop-web", "back on v1", func(d *api.Deployment) bool {
		return d.Spec.Template.Labels[api.LabelRelease] == "shop-v1" && deploymentComplete(d)
	})
	e.waitApp("shop", "runs v1, v2 failed", func(a *api.App) bool {
		c := findCondition(a.Status.Conditions, api.AppProgressing)
		return a.Status.Release == "shop-v1" && c != nil && c.Reason == ReasonReleaseFailed
	})
	controllertest.Settles(t, e.st.Revision, "app shop after a refused release")
}
