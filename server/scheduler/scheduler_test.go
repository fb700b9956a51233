package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
)

// startScheduler runs a scheduler on reg until the test ends.
func startScheduler(t *testing.T, reg *registry.Registry) *Scheduler {
	t.Helper()
	s, err := New(Config{Backend: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.synced:
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler did not sync")
	}
	return s
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func boundNode(t *testing.T, pods *client.Resource[*api.Pod], name string) string {
	t.Helper()
	var got string
	waitFor(t, "pod "+name+" to be bound", func() (bool, string) {
		p, err := pods.Get(context.Background(), name)
		if err != nil {
			return false, err.Error()
		}
		got = p.Spec.NodeName
		return got != "", fmt.Sprintf("conditions %+v", p.Status.Conditions)
	})
	return got
}

// TestScheduleOnRegistry runs the scheduler on the real registry and
// store: five nodes of different sizes, labels and taints.
func TestScheduleOnRegistry(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	nodes := client.For[*api.Node](reg, "")
	pods := client.For[*api.Pod](reg, "default")
	for _, n := range []*api.Node{
		node("small-a", "2", "1Gi", withLabels(zoneKey, "a", "disk", "ssd")),
		node("small-b", "2", "1Gi", withLabels(zoneKey, "b")),
		node("small-c", "2", "1Gi", withLabels(zoneKey, "c")),
		node("gpu-1", "8", "16Gi", withLabels(zoneKey, "a"), withTaint("key", "value", api.TaintEffectNoSchedule)),
		node("gpu-2", "8", "16Gi", withLabels(zoneKey, "b"), withTaint("key", "value", api.TaintEffectNoSchedule)),
	} {
		if _, err := nodes.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// A pod that names its node is not the scheduler's.
	if _, err := pods.Create(ctx, pod("pinned", onNode("no-such-node"))); err != nil {
		t.Fatal(err)
	}
	s := startScheduler(t, reg)

	t.Run("nodeSelector", func(t *testing.T) {
		if _, err := pods.Create(ctx, pod("ssd", nodeSelector("disk", "ssd"), requests("100m", "100Mi"))); err != nil {
			t.Fatal(err)
		}
		if got := boundNode(t, pods, "ssd"); got != "small-a" {
			t.Errorf("bound to %s, want small-a", got)
		}
	})

	t.Run("another scheduler's pod is left alone", func(t *testing.T) {
		theirs := pod("theirs", requests("100m", "100Mi"))
		theirs.Spec.SchedulerName = "gpu-scheduler"
		ours := pod("ours", requests("100m", "100Mi"))
		ours.Spec.SchedulerName = "default-scheduler"
		for _, p := range []*api.Pod{theirs, ours} {
			if _, err := pods.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		boundNode(t, pods, "ours")
		time.Sleep(200 * time.Millisecond) // ours was bound after theirs was seen
		if got, _ := pods.Get(ctx, "theirs"); got.Spec.NodeName != "" || len(got.Status.Conditions) != 0 {
			t.Errorf("a pod of schedulerName gpu-scheduler was touched: node %q, conditions %+v", got.Spec.NodeName, got.Status.Conditions)
		}
		zero := int64(0)
		for _, name := range []string{"theirs", "ours"} {
			pods.Delete(ctx, name, api.DeleteOptions{GracePeriodSeconds: &zero})
		}
	})

	t.Run("toleration", func(t *testing.T) {
		p := pod("trainer", requests("4", "8Gi"), tolerate(api.Toleration{Key: "key", Value: "value", Effect: api.TaintEffectNoSchedule}))
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if got := boundNode(t, pods, "trainer"); got != "gpu-1" && got != "gpu-2" {
			t.Errorf("bound to %s, want a gpu node", got)
		}
	})

	t.Run("anti-affinity keeps replicas apart", func(t *testing.T) {
		seen := map[string]string{}
		for i := range 3 {
			name := fmt.Sprintf("web-%d", i)
			p := pod(name, labels("app", "web"), requests("100m", "100Mi"), affinity(requiredAnti(term(hostKey, "web"))))
			if _, err := pods.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			got := boundNode(t, pods, name)
			if other, dup := seen[got]; dup {
				t.Errorf("%s and %s share node %s", name, other, got)
			}
			seen[got] = name
		}
	})

	t.Run("unschedulable, then a node is added", func(t *testing.T) {
		if _, err := pods.Create(ctx, pod("big", requests("1", "3Gi"))); err != nil {
			t.Fatal(err)
		}
		want := "0/5 nodes are available: 3 Insufficient memory, 2 node(s) had untolerated taint {key: value}."
		waitFor(t, "the PodScheduled condition", func() (bool, string) {
			p, err := pods.Get(ctx, "big")
			if err != nil {
				return false, err.Error()
			}
			c := findCondition(p.Status.Conditions, api.PodScheduled)
			if c == nil {
				return false, "no condition"
			}
			return c.Status == api.ConditionFalse && c.Reason == ReasonUnschedulable && c.Message == want, fmt.Sprintf("%+v", *c)
		})
		waitFor(t, "a FailedScheduling event", func() (bool, string) {
			evs, _, _, err := client.For[*api.Event](reg, "default").List(ctx, api.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, e := range evs {
				if e.InvolvedObject.Name == "big" && e.Reason == ReasonFailedScheduling && e.Message == want && e.Type == api.EventTypeWarning {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events", len(evs))
		})
		if _, err := nodes.Create(ctx, node("large", "4", "8Gi", withLabels(zoneKey, "c"))); err != nil {
			t.Fatal(err)
		}
		if got := boundNode(t, pods, "big"); got != "large" {
			t.Errorf("bound to %s, want the new node", got)
		}
	})

	t.Run("a deleted pod frees room", func(t *testing.T) {
		// Fill small-b's cpu (2 cores) with a pinned pod by selector.
		hog := pod("hog", nodeSelector(hostKey, "small-b"), requests("1900m", "100Mi"))
		if _, err := pods.Create(ctx, hog); err != nil {
			t.Fatal(err)
		}
		boundNode(t, pods, "hog")
		waiter := pod("waiter", nodeSelector(hostKey, "small-b"), requests("1", "100Mi"))
		if _, err := pods.Create(ctx, waiter); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "waiter unschedulable", func() (bool, string) {
			st := s.Stats()
			return st.Queue.Unschedulable+st.Queue.Backoff > 0, fmt.Sprintf("%+v", st)
		})
		if _, err := pods.Delete(ctx, "hog", api.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
			t.Fatal(err)
		}
		if got := boundNode(t, pods, "waiter"); got != "small-b" {
			t.Errorf("bound to %s", got)
		}
	})

	t.Run("a finished pod frees room", func(t *testing.T) {
		if _, err := pods.Create(ctx, pod("job", nodeSelector(hostKey, "small-c"), requests("1900m", "10Mi"))); err != nil {
			t.Fatal(err)
		}
		boundNode(t, pods, "job")
		if _, err := pods.Create(ctx, pod("next", nodeSelector(hostKey, "small-c"), requests("1", "10Mi"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "next unschedulable", func() (bool, string) {
			p, _ := pods.Get(ctx, "next")
			c := findCondition(p.Status.Conditions, api.PodScheduled)
			return c != nil && c.Message == "0/6 nodes are available: 3 node(s) didn't match Pod's node affinity/selector, 2 node(s) had untolerated taint {key: value}, 1 Insufficient cpu.", fmt.Sprintf("%+v", c)
		})
		job, err := pods.Get(ctx, "job")
		if err != nil {
			t.Fatal(err)
		}
		job.Status.Phase = api.PodSucceeded
		if _, err := pods.UpdateStatus(ctx, job); err != nil {
			t.Fatal(err)
		}
		if got := boundNode(t, pods, "next"); got != "small-c" {
			t.Errorf("bound to %s", got)
		}
	})

	t.Run("spread across zones", func(t *testing.T) {
		zoneOf := map[string]string{"small-a": "a", "small-b": "b", "small-c": "c", "large": "c", "gpu-1": "a", "gpu-2": "b"}
		perZone := map[string]int{}
		for i := range 6 {
			name := fmt.Sprintf("api-%d", i)
			p := pod(name, labels("app", "api"), requests("100m", "10Mi"), spread(api.TopologySpreadConstraint{
				MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: api.DoNotSchedule,
				LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "api"}}}))
			if _, err := pods.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			perZone[zoneOf[boundNode(t, pods, name)]]++
		}
		if perZone["a"] != 2 || perZone["b"] != 2 || perZone["c"] != 2 {
			t.Errorf("pods per zone %v, want 2 in each", perZone)
		}
	})

	if p, err := pods.Get(ctx, "pinned"); err != nil || p.Spec.NodeName != "no-such-node" || len(p.Status.Conditions) != 0 {
		t.Errorf("the pinned pod was touched: %+v, %v", p, err)
	}
	if st := s.Stats(); st.Failed != 0 {
		t.Errorf("stats %+v: no attempt should fail", st)
	}
}

// TestBindConflict binds a pod someone else bound first.
func TestBindConflict(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	pods := client.For[*api.Pod](reg, "default")
	if _, err := client.For[*api.Node](reg, "").Create(ctx, node("n1", "1", "1Gi")); err != nil {
		t.Fatal(err)
	}
	p, err := pods.Create(ctx, pod("p"))
	if err != nil {
		t.Fatal(err)
	}
	other := *p
	other.Spec.NodeName = "n1"
	if _, err := pods.Update(ctx, &other); err != nil {
		t.Fatal(err)
	}
	b := NewDefaultBinder(reg)
	st := b.Bind(ctx, NewCycleState(), NewPodInfo(p), "n2")
	if st.IsSuccess() || st.Err == nil {
		t.Fatalf("binding a bound pod succeeded: %v", st)
	}
	if got, _ := pods.Get(ctx, "p"); got.Spec.NodeName != "n1" {
		t.Errorf("node %s, want n1", got.Spec.NodeName)
	}
	// The stale copy binding to the node it is on already is a success.
	if st := b.Bind(ctx, NewCycleState(), NewPodInfo(p), "n1"); !st.IsSuccess() {
		t.Errorf("re-binding to the same node: %v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no backend accepted")
	}
	if _, err := New(Config{Backend: &registry.Registry{}, PercentageOfNodesToScore: 101}); err == nil {
		t.Error("101 % accepted")
	}
	if !servesSchedulerName("") || !servesSchedulerName("default-scheduler") || !servesSchedulerName("skiff") || servesSchedulerName("other") {
		t.Error("scheduler names")
	}
}
