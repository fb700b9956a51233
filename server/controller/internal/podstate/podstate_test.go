package podstate

import (
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

func TestAvailable(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ready := func(status api.ConditionStatus, since time.Time) *api.Pod {
		return &api.Pod{Status: api.PodStatus{Conditions: []api.PodCondition{{Type: api.PodReady, Status: status, LastTransitionTime: api.NewTime(since)}}}}
	}
	tests := []struct {
		name     string
		pod      *api.Pod
		minReady int32
		now      time.Time
		edge     Edge
		want     bool
	}{
		{"no condition", &api.Pod{}, 0, t0, AtEnd, false},
		{"not ready", ready(api.ConditionFalse, t0), 0, t0, AtEnd, false},
		{"ready, no minReady", ready(api.ConditionTrue, t0), 0, t0, AfterEnd, true},
		{"zero transition time", ready(api.ConditionTrue, time.Time{}), 5, t0, AtEnd, false},
		{"before the end", ready(api.ConditionTrue, t0), 5, t0.Add(4 * time.Second), AtEnd, false},
		{"at the end, AtEnd", ready(api.ConditionTrue, t0), 5, t0.Add(5 * time.Second), AtEnd, true},
		{"at the end, AfterEnd", ready(api.ConditionTrue, t0), 5, t0.Add(5 * time.Second), AfterEnd, false},
		{"after the end, AfterEnd", ready(api.ConditionTrue, t0), 5, t0.Add(6 * time.Second), AfterEnd, true},
	}
	for _, tt := range tests {
		if got := Available(tt.pod, tt.minReady, tt.now, tt.edge); got != tt.want {
			t.Errorf("%s: Available = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFinished(t *testing.T) {
	for phase, want := range map[api.PodPhase]bool{api.PodPending: false, api.PodRunning: false, api.PodSucceeded: true, api.PodFailed: true} {
		p := &api.Pod{Status: api.PodStatus{Phase: phase}}
		if got := Finished(p); got != want {
			t.Errorf("Finished(%s) = %v, want %v", phase, got, want)
		}
	}
}
