package daemonset

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/scheduler"
)

// BenchmarkDaemonSet1000Nodes creates a daemon set over 1,000 Node
// objects on the real registry and store and times it until all 1,000
// pods exist and the status says currentNumberScheduled=1000 (no
// scheduler runs: the pods stay unbound). Each iteration is a fresh
// daemon set in a fresh namespace over the same nodes.
//
//	go test -run '^$' -bench 'DaemonSet1000Nodes$' -benchtime=3x ./server/controller/daemonset/
func BenchmarkDaemonSet1000Nodes(b *testing.B) {
	const n = 1000
	e := newEnv(b, Config{})
	for i := range n {
		e.addNode(fmt.Sprintf("node-%04d", i), map[string]string{"zone": fmt.Sprint(i % 3)})
	}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench%d", i)
		if _, err := client.For[*api.Namespace](e.reg, "").Create(e.ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		dsets := client.For[*api.DaemonSet](e.reg, ns)
		w, err := dsets.Watch(e.ctx, api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := dsets.Create(e.ctx, newDS("agent")); err != nil {
			b.Fatal(err)
		}
		for ev := range w.ResultChan() {
			if got, ok := ev.Object.(*api.DaemonSet); ok && got.Status.CurrentNumberScheduled == n {
				break
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		w.Stop()
		total += elapsed
		pods, _, _, err := client.For[*api.Pod](e.reg, ns).List(e.ctx, api.ListOptions{})
		if err != nil || len(pods) != n {
			b.Fatalf("%d pods, err %v; want %d", len(pods), err, n)
		}
		b.Logf("iteration %d: %d pods on %d nodes in %v: %.0f pods/s", i, n, n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "pods/s")
}

// BenchmarkDaemonSet1000NodesBound is BenchmarkDaemonSet1000Nodes with the
// real scheduler running: timed until all 1,000 pods are bound (through
// their matchFields affinity).
//
//	go test -run '^$' -bench DaemonSet1000NodesBound -benchtime=3x ./server/controller/daemonset/
func BenchmarkDaemonSet1000NodesBound(b *testing.B) {
	const n = 1000
	e := newEnv(b, Config{})
	sched, err := scheduler.New(scheduler.Config{Backend: e.reg})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	q := func(s string) api.Quantity { v, _ := api.ParseQuantity(s); return v }
	for i := range n {
		node := &api.Node{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("node-%04d", i)}}
		node.Status.Allocatable = api.ResourceList{api.ResourceCPU: q("4"), api.ResourceMemory: q("4Gi"), api.ResourcePods: q("110")}
		node.Status.Capacity = node.Status.Allocatable
		node.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
		if _, err := e.nodes.Create(e.ctx, node); err != nil {
			b.Fatal(err)
		}
	}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench%d", i)
		if _, err := client.For[*api.Namespace](e.reg, "").Create(e.ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		pods := client.For[*api.Pod](e.reg, ns)
		w, err := pods.Watch(e.ctx, api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := client.For[*api.DaemonSet](e.reg, ns).Create(e.ctx, newDS("agent")); err != nil {
			b.Fatal(err)
		}
		bound := map[string]bool{}
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*api.Pod); ok && p.Spec.NodeName != "" {
				if p.Spec.NodeName != targetNode(&api.Pod{Spec: api.PodSpec{Affinity: p.Spec.Affinity}}) {
					b.Fatalf("pod %s bound to %s, not its node", p.Name, p.Spec.NodeName)
				}
				bound[p.Name] = true
				if len(bound) == n {
					break
				}
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		w.Stop()
		total += elapsed
		b.Logf("iteration %d: %d pods created and bound in %v: %.0f pods/s", i, n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "pods/s")
}
