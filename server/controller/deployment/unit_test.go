package deployment

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

func TestResolveFenceposts(t *testing.T) {
	ptr := func(v api.IntOrString) *api.IntOrString { return &v }
	for _, tc := range []struct {
		surge, unavailable *api.IntOrString
		desired            int32
		wantS, wantU       int32
	}{
		{nil, nil, 10, 3, 2}, // 25%: 2.5 up, 2.5 down
		{nil, nil, 1, 1, 0},
		{ptr(api.FromInt(1)), ptr(api.FromInt(0)), 3, 1, 0},
		{ptr(api.FromString("0%")), ptr(api.FromString("10%")), 5, 0, 1}, // both round to 0: one may be unavailable
		{ptr(api.FromString("50%")), ptr(api.FromString("50%")), 3, 2, 1},
		{ptr(api.FromString("100%")), ptr(api.FromInt(0)), 7, 7, 0},
		{ptr(api.FromInt(0)), ptr(api.FromInt(0)), 0, 0, 1},
	} {
		s, u, err := ResolveFenceposts(tc.surge, tc.unavailable, tc.desired)
		if err != nil || s != tc.wantS || u != tc.wantU {
			t.Errorf("ResolveFenceposts(%v, %v, %d) = %d, %d, %v; want %d, %d", tc.surge, tc.unavailable, tc.desired, s, u, err, tc.wantS, tc.wantU)
		}
	}
	if _, _, err := ResolveFenceposts(ptr(api.FromString("lots")), nil, 3); err == nil {
		t.Error("maxSurge \"lots\": want an error")
	}
	// maxUnavailable never exceeds the desired count.
	d := newDeployment("web", 2, "x")
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxUnavailable: ptr(api.FromInt(5))}
	if got := maxUnavailable(d); got != 2 {
		t.Errorf("maxUnavailable = %d, want 2", got)
	}
	d.Spec.Strategy = api.DeploymentStrategy{Type: api.RecreateDeploymentStrategyType}
	if maxUnavailable(d) != 0 || maxSurge(d) != 0 {
		t.Error("Recreate: want no surge and no unavailable budget")
	}
}

func TestTemplateHash(t *testing.T) {
	d := newDeployment("web", 1, "busybox:1")
	h := TemplateHash(&d.Spec.Template, nil)
	if h != TemplateHash(&d.Spec.Template, nil) {
		t.Fatal("hash not stable")
	}
	for _, r := range h {
		if !strings.ContainsRune(safeChars, r) {
			t.Fatalf("hash %q has %q, not a safe character", h, r)
		}
	}
	one := int32(1)
	if TemplateHash(&d.Spec.Template, &one) == h {
		t.Error("a collision count does not change the hash")
	}
	other := newDeployment("web", 1, "busybox:2")
	if TemplateHash(&other.Spec.Template, nil) == h {
		t.Error("another image, the same hash")
	}
	withHash := cloneTemplate(&d.Spec.Template)
	withHash.Labels = withLabel(withHash.Labels, PodTemplateHashLabel, h)
	if !EqualIgnoreHash(&d.Spec.Template, &withHash) || EqualIgnoreHash(&other.Spec.Template, &withHash) {
		t.Error("EqualIgnoreHash: want equal but for the hash label, unequal for another image")
	}
}

func TestAppendHistory(t *testing.T) {
	if got := appendHistory("", "1"); got != "1" {
		t.Errorf("got %q, want 1", got)
	}
	if got := appendHistory("1,3", "5"); got != "1,3,5" {
		t.Errorf("got %q, want 1,3,5", got)
	}
	long := strings.Repeat("1234,", 500) + "9"
	if got := appendHistory(long, "10"); len(got) > maxRevisionHistoryChars || !strings.HasSuffix(got, ",9,10") {
		t.Errorf("history of %d chars ending %q; want at most %d ending ,9,10", len(got), got[len(got)-10:], maxRevisionHistoryChars)
	}
}

// TestProgressDeadline checks the Progressing condition against a fake
// clock: progress moves lastUpdateTime, no progress for the deadline
// times out, completion says so.
func TestProgressDeadline(t *testing.T) {
	clk := controllertest.NewClock()
	d := newDeployment("web", 3, "x")
	deadline := int32(60)
	d.Spec.ProgressDeadlineSeconds = &deadline
	d.Generation = 2
	t0 := clk.Now()
	newRS := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-new", UID: "n"}}
	three := int32(3)
	newRS.Spec.Replicas = &three
	newRS.Status = api.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1, AvailableReplicas: 1}
	stored := api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []api.DeploymentCondition{newCondition(api.DeploymentProgressing, api.ConditionTrue, ReasonRSUpdated, "", t0)}}
	all := []*api.ReplicaSet{newRS}
	at := func(d2 time.Duration, rs api.ReplicaSetStatus) *api.DeploymentCondition {
		clk.Advance(d2)
		newRS.Status = rs
		s := rolloutStatus(d, &stored, &stored, all, newRS, clk.Now())
		return getCondition(&s, api.DeploymentProgressing)
	}
	stuck := newRS.Status
	if c := at(59*time.Second, stuck); c.Reason != ReasonRSUpdated || !c.LastUpdateTime.Equal(t0) {
		t.Errorf("59 s without progress: %+v, want still %s from %v", c, ReasonRSUpdated, t0)
	}
	if got := recheckAfter(d, &stored, clk.Now()); got != 2*time.Second {
		t.Errorf("recheck after %v, want 2s (1 s to the deadline + 1 s)", got)
	}
	if c := at(2*time.Second, stuck); c.Status != api.ConditionFalse || c.Reason != ReasonTimedOut {
		t.Errorf("61 s without progress: %+v, want False %s", c, ReasonTimedOut)
	}
	// Progress: a pod more is ready.
	clk = controllertest.NewClock()
	clk.Advance(61 * time.Second)
	newRS.Status = api.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2}
	s := rolloutStatus(d, &stored, &stored, all, newRS, clk.Now())
	c := getCondition(&s, api.DeploymentProgressing)
	if c.Reason != ReasonRSUpdated || !c.LastUpdateTime.Equal(clk.Now()) || !c.LastTransitionTime.Equal(t0) {
		t.Errorf("progress after 61 s: %+v, want %s updated now, transition kept at %v", c, ReasonRSUpdated, t0)
	}
	// All available: complete, and no more rechecks.
	newRS.Status = api.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	s = rolloutStatus(d, &stored, &stored, all, newRS, clk.Now())
	if c := getCondition(&s, api.DeploymentProgressing); c.Reason != ReasonNewRSAvailable || c.Status != api.ConditionTrue {
		t.Errorf("complete: %+v, want True %s", c, ReasonNewRSAvailable)
	}
	if a := getCondition(&s, api.DeploymentAvailable); a == nil || a.Status != api.ConditionTrue {
		t.Errorf("complete: Available %+v, want True", a)
	}
	if got := recheckAfter(d, &s, clk.Now()); got != -1 {
		t.Errorf("complete: recheck after %v, want never", got)
	}
}

// TestMinReadySecondsAndDeadlineOnFakeClock runs both controllers on a
// fake clock: ready pods count as available only minReadySeconds later,
// and a rollout that makes no progress for progressDeadlineSeconds
// fails.
func TestMinReadySecondsAndDeadlineOnFakeClock(t *testing.T) {
	clk := controllertest.NewClock()
	e := newEnvWith(t, clk.Now)
	d := newDeployment("web", 2, "busybox:1")
	d.Spec.MinReadySeconds = 30
	zero, one := api.FromInt(0), api.FromInt(1)
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}
	if _, err := e.deps.Create(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	e.eventually("2 ready, none available", func() (bool, string) {
		d, _ := e.deps.Get(e.ctx, "web")
		return d.Status.ReadyReplicas == 2 && d.Status.AvailableReplicas == 0, fmt.Sprintf("%+v", d.Status)
	})
	rss := e.replicaSets("web")
	if len(rss) != 1 || rss[0].Spec.MinReadySeconds != 30 {
		t.Fatalf("replica sets %d, minReadySeconds %d; want 1 with 30", len(rss), rss[0].Spec.MinReadySeconds)
	}
	d, _ = e.deps.Get(e.ctx, "web")
	if c := getCondition(&d.Status, api.DeploymentAvailable); c == nil || c.Status != api.ConditionFalse {
		t.Errorf("before minReadySeconds: Available %+v, want False", c)
	}
	// An image change now must wait: the old pods are not available.
	e.update("web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	e.eventually("the surge pod ready", func() (bool, string) {
		ready, total := e.readyPods("web")
		return ready == 3 && total == 3, fmt.Sprintf("%d ready of %d", ready, total)
	})
	time.Sleep(100 * time.Millisecond)
	if ready, total := e.readyPods("web"); ready != 3 || total != 3 {
		t.Fatalf("before minReadySeconds passed: %d ready of %d pods, want 3 of 3 (nothing scaled down)", ready, total)
	}
	// 31 s later every pod is available and the rollout goes on.
	clk.Advance(31 * time.Second)
	e.poke()
	e.eventually("the rollout done", func() (bool, string) {
		clk.Advance(31 * time.Second) // each new pod waits out its minReadySeconds
		e.poke()
		d, _ := e.deps.Get(e.ctx, "web")
		return complete(d, &d.Status) && d.Status.AvailableReplicas == 2, fmt.Sprintf("%+v", d.Status)
	})

	// A rollout that cannot become ready times out 600 s (the default)
	// after its last progress.
	e.update("web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "never-ready" })
	e.eventually("the stuck pod created and counted", func() (bool, string) {
		_, total := e.readyPods("web")
		d, _ := e.deps.Get(e.ctx, "web")
		s := d.Status
		return total == 3 && s.ObservedGeneration == d.Generation && s.Replicas == 3 && s.UpdatedReplicas == 1,
			fmt.Sprintf("%d pods, status %+v", total, s)
	})
	clk.Advance(599 * time.Second)
	e.pokeDeployment("web")
	time.Sleep(100 * time.Millisecond)
	d, _ = e.deps.Get(e.ctx, "web")
	if c := getCondition(&d.Status, api.DeploymentProgressing); c == nil || c.Reason == ReasonTimedOut {
		t.Fatalf("599 s: Progressing %+v, want not yet timed out", c)
	}
	clk.Advance(2 * time.Second)
	e.pokeDeployment("web")
	e.eventually("ProgressDeadlineExceeded", func() (bool, string) {
		d, _ := e.deps.Get(e.ctx, "web")
		c := getCondition(&d.Status, api.DeploymentProgressing)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == ReasonTimedOut, fmt.Sprintf("%+v", c)
	})
}

// poke touches every replica set, so the replica set controller looks at
// its pods again at the fake clock's time.
func (e *env) poke() {
	e.t.Helper()
	for _, rs := range e.replicaSets("web") {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"test/poke":%q}}}`, time.Now().Format(time.RFC3339Nano))
		if _, err := e.rsets.Patch(e.ctx, rs.Name, []byte(patch)); err != nil && e.ctx.Err() == nil {
			e.t.Fatal(err)
		}
	}
}

// pokeDeployment touches a deployment, so the controller syncs it at the
// fake clock's time.
func (e *env) pokeDeployment(name string) {
	e.t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"test/poke":%q}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := client.For[*api.Deployment](e.reg, "default").Patch(e.ctx, name, []byte(patch)); err != nil {
		e.t.Fatal(err)
	}
}

func TestBothZeroRefused(t *testing.T) {
	reg, _, _ := controllertest.Registry(t, 120*time.Second)
	d := newDeployment("web", 3, "x")
	zero := api.FromString("0%")
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &zero}
	if _, err := client.For[*api.Deployment](reg, "default").Create(t.Context(), d); err == nil || !strings.Contains(err.Error(), "maxUnavailable") {
		t.Errorf("maxSurge and maxUnavailable both 0%%: err %v, want refused naming maxUnavailable", err)
	}
}
