package daemonset

import (
	"context"
	"fmt"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/scheduler"
)

// TestDaemonSetWithScheduler runs the real scheduler: it must bind each
// daemon pod to the node its matchFields affinity names, and only there.
func TestDaemonSetWithScheduler(t *testing.T) {
	e := newEnv(t, Config{})
	sched, err := scheduler.New(scheduler.Config{Backend: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := range 4 {
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("n%d", i), Labels: map[string]string{"role": "worker"}}}
		if i == 3 {
			n.Labels["role"] = "db"
		}
		q := func(s string) api.Quantity {
			v, err := api.ParseQuantity(s)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		n.Status.Allocatable = api.ResourceList{api.ResourceCPU: q("2"), api.ResourceMemory: q("1Gi"), api.ResourcePods: q("110")}
		n.Status.Capacity = n.Status.Allocatable
		n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
		if _, err := e.nodes.Create(e.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	ds := newDS("agent")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"}
	if _, err := e.dsets.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	e.eventually("3 pods bound where they belong", func() (bool, string) {
		pods, _, _, err := e.pods.List(e.ctx, api.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		bound := map[string]bool{}
		state := ""
		for _, p := range pods {
			state += fmt.Sprintf("%s→%q(for %s) ", p.Name, p.Spec.NodeName, targetNode(&api.Pod{Spec: api.PodSpec{Affinity: p.Spec.Affinity}}))
			want := targetNode(&api.Pod{Spec: api.PodSpec{Affinity: p.Spec.Affinity}})
			if p.Spec.NodeName != "" && p.Spec.NodeName != want {
				t.Fatalf("pod %s for %s bound to %s", p.Name, want, p.Spec.NodeName)
			}
			if p.Spec.NodeName != "" {
				bound[p.Spec.NodeName] = true
			}
		}
		return len(pods) == 3 && len(bound) == 3 && !bound["n3"], state
	})
}
