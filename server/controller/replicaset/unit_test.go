package replicaset

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/record"
)

func pod(name string, mods ...func(*api.Pod)) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: api.NewTime(time.Unix(1000, 0))}}
	p.Status.Phase = api.PodPending
	for _, m := range mods {
		m(p)
	}
	return p
}

func scheduled(p *api.Pod) { p.Spec.NodeName = "n1" }
func running(p *api.Pod)   { p.Status.Phase = api.PodRunning }
func readyAt(t time.Time) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, api.PodCondition{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(t)})
	}
}
func createdAt(t time.Time) func(*api.Pod) {
	return func(p *api.Pod) { p.CreationTimestamp = api.NewTime(t) }
}
func restarted(n int32) func(*api.Pod) {
	return func(p *api.Pod) { p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", RestartCount: n}} }
}

func TestDeleteOrder(t *testing.T) {
	t0 := time.Unix(10000, 0)
	for _, tc := range []struct {
		name        string
		first, then *api.Pod
	}{
		{"unscheduled before scheduled", pod("a"), pod("b", scheduled, running, readyAt(t0))},
		{"pending before running", pod("a", scheduled), pod("b", scheduled, running)},
		{"unknown before running", pod("a", scheduled, func(p *api.Pod) { p.Status.Phase = api.PodUnknown }), pod("b", scheduled, running)},
		{"not ready before ready", pod("a", scheduled, running), pod("b", scheduled, running, readyAt(t0))},
		{"ready for less time first", pod("a", scheduled, running, readyAt(t0.Add(time.Minute))), pod("b", scheduled, running, readyAt(t0))},
		{"more restarts first", pod("a", scheduled, running, restarted(3)), pod("b", scheduled, running, restarted(1))},
		{"newest first", pod("a", scheduled, running, createdAt(t0.Add(time.Hour))), pod("b", scheduled, running, createdAt(t0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !deleteFirst(tc.first, tc.then) {
				t.Errorf("deleteFirst(%s, %s) = false, want true", tc.first.Name, tc.then.Name)
			}
			if deleteFirst(tc.then, tc.first) {
				t.Errorf("deleteFirst(%s, %s) = true, want false", tc.then.Name, tc.first.Name)
			}
			got := podsToDelete([]*api.Pod{tc.then, tc.first}, 1)
			if len(got) != 1 || got[0] != tc.first {
				t.Errorf("podsToDelete chose %s, want %s", got[0].Name, tc.first.Name)
			}
		})
	}
}

func TestCalculateStatus(t *testing.T) {
	clk := controllertest.NewClock()
	now := clk.Now()
	three := int32(3)
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "rs", Namespace: "ns", Generation: 4}}
	rs.Spec.Replicas = &three
	rs.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
	label := func(l map[string]string) func(*api.Pod) { return func(p *api.Pod) { p.Labels = l } }
	full := map[string]string{"app": "web", "tier": "front"}
	pods := []*api.Pod{
		pod("a", label(full), scheduled, running, readyAt(now.Add(-time.Minute))),
		pod("b", label(full), scheduled, running, readyAt(now.Add(-5*time.Second))),
		pod("c", label(map[string]string{"app": "web"}), scheduled, running),
	}
	for _, tc := range []struct {
		minReady  int32
		wantAvail int32
	}{{0, 2}, {10, 1}, {5, 1}, {120, 0}} {
		rs.Spec.MinReadySeconds = tc.minReady
		got := calculateStatus(rs, pods, nil, now)
		want := api.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: tc.wantAvail, ObservedGeneration: 4}
		if got.Replicas != want.Replicas || got.FullyLabeledReplicas != want.FullyLabeledReplicas ||
			got.ReadyReplicas != want.ReadyReplicas || got.AvailableReplicas != want.AvailableReplicas ||
			got.ObservedGeneration != want.ObservedGeneration || len(got.Conditions) != 0 {
			t.Errorf("minReadySeconds %d: status = %+v, want %+v", tc.minReady, got, want)
		}
	}
	// Time passes: b becomes available under minReadySeconds 5 (ready
	// since 5 s: not yet; since 6 s: yes — strictly after, as Kubernetes).
	rs.Spec.MinReadySeconds = 5
	if got := calculateStatus(rs, pods, nil, now.Add(time.Second)); got.AvailableReplicas != 2 {
		t.Errorf("one second later: available = %d, want 2", got.AvailableReplicas)
	}

	// A failure adds a ReplicaFailure condition once, and keeps it as it
	// was while failures go on; success removes it.
	failed := calculateStatus(rs, pods[:1], errors.New("quota"), now)
	if len(failed.Conditions) != 1 || failed.Conditions[0].Reason != record.ReasonFailedCreate || failed.Conditions[0].Message != "quota" {
		t.Fatalf("conditions = %+v, want one FailedCreate", failed.Conditions)
	}
	rs.Status = failed
	again := calculateStatus(rs, pods[:1], errors.New("quota again"), now.Add(time.Minute))
	if len(again.Conditions) != 1 || again.Conditions[0] != failed.Conditions[0] {
		t.Errorf("repeated failure changed the condition: %+v", again.Conditions)
	}
	if ok := calculateStatus(rs, pods, nil, now); len(ok.Conditions) != 0 {
		t.Errorf("after success: conditions = %+v, want none", ok.Conditions)
	}
}

func TestPodFromTemplate(t *testing.T) {
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: strings.Repeat("x", 70), Namespace: "ns", UID: "u1"}}
	rs.Spec.Template.Labels = map[string]string{"app": "web"}
	rs.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	p := podFromTemplate(rs)
	if len(p.GenerateName) != owner.MaxPodNamePrefix || p.Name != "" {
		t.Errorf("generateName %q (%d chars), name %q; want a %d-char prefix and no name", p.GenerateName, len(p.GenerateName), p.Name, owner.MaxPodNamePrefix)
	}
	ref := api.ControllerOf(&p.ObjectMeta)
	if ref == nil || ref.UID != "u1" || ref.Kind != "ReplicaSet" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("owner reference = %+v, want controller u1 blocking deletion", ref)
	}
	p.Labels["app"] = "changed"
	if rs.Spec.Template.Labels["app"] != "web" {
		t.Error("pod labels share the template's map")
	}
}
