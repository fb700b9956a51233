package statefulset

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/scheduler"
)

// TestReplicaRescheduledToItsNode runs the real scheduler: it places a
// replica on a node the template's affinity allows and writes that node
// on the replica's claim; a replica recreated after deletion is bound to
// that node again, because its claim says so (the controller names no
// node).
func TestReplicaRescheduledToItsNode(t *testing.T) {
	e := newEnv(t)
	q := func(s string) api.Quantity {
		v, err := api.ParseQuantity(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range 4 {
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("n%d", i), Labels: map[string]string{"disk": "ssd"}}}
		if i == 3 {
			n.Labels["disk"] = "hdd"
		}
		n.Status.Allocatable = api.ResourceList{api.ResourceCPU: q("2"), api.ResourceMemory: q("1Gi"), api.ResourcePods: q("110")}
		n.Status.Capacity = n.Status.Allocatable
		n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
		if _, err := e.nodes.Create(e.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	sched, err := scheduler.New(scheduler.Config{Backend: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.startFakeNodes(&fakeNodes{e: e, autoReady: true, noBind: true, held: map[string]bool{}})

	s := newSet("db", 3)
	s.Spec.PodManagementPolicy = api.ParallelPodManagement
	s.Spec.VolumeClaimTemplates = []api.PersistentVolumeClaim{{ObjectMeta: api.ObjectMeta{Name: "data"}, Spec: api.PersistentVolumeClaimSpec{
		AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce},
		Resources:   api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: q("1Gi")}},
	}}}
	s.Spec.Template.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
		NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: "disk", Operator: api.NodeSelectorOpIn, Values: []string{"ssd"}}}}}}}}
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	e.eventually("3 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "db")
		return s.Status.ReadyReplicas == 3, fmt.Sprintf("%+v", s.Status)
	})
	old, err := e.pods.Get(e.ctx, "db-1")
	if err != nil {
		t.Fatal(err)
	}
	if old.Spec.NodeName == "n3" {
		t.Fatalf("db-1 on n3, which the template's affinity excludes")
	}
	e.eventually("claim's node", func() (bool, string) {
		c, err := e.claims.Get(e.ctx, "data-db-1")
		if err != nil {
			return false, err.Error()
		}
		return c.Annotations[api.AnnotationSelectedNode] == old.Spec.NodeName, fmt.Sprintf("claim on %q, pod on %q", c.Annotations[api.AnnotationSelectedNode], old.Spec.NodeName)
	})
	for range 3 { // the scheduler would spread a free pod; one with a claim stays
		if _, err := e.pods.Delete(e.ctx, "db-1", api.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.eventually("db-1 back on "+old.Spec.NodeName, func() (bool, string) {
			p, err := e.pods.Get(e.ctx, "db-1")
			if err != nil {
				return false, err.Error()
			}
			return p.UID != old.UID && p.Spec.NodeName == old.Spec.NodeName && runningAndReady(p), fmt.Sprintf("node %q", p.Spec.NodeName)
		})
		old, _ = e.pods.Get(e.ctx, "db-1")
		if !reflect.DeepEqual(old.Spec.Affinity, s.Spec.Template.Spec.Affinity) {
			t.Fatalf("db-1's affinity %+v, want the template's %+v", old.Spec.Affinity, s.Spec.Template.Spec.Affinity)
		}
	}
}
