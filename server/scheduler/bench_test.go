package scheduler

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// BenchmarkSchedule measures scheduling throughput on the real registry
// and store: N Node objects (no agents: allocatable cpu, memory and pods,
// three zones), then M pods created by 32 writers; pods/s is M over the
// time from the first create to the last bind. Every pod carries a zone
// spread constraint (ScheduleAnyway) and a preferred hostname
// anti-affinity to pods of its app, so the spread and affinity plugins
// do their full work. heap-MB and rss-MB are the process's growth while
// it holds the pods (after a GC).
//
//	go test -run '^$' -bench Schedule -benchtime 1x ./server/scheduler/
func BenchmarkSchedule(b *testing.B) {
	for _, c := range []struct {
		pods, nodes int
		plain       bool
	}{
		{5000, 100, false},
		{10000, 1000, false},
		{5000, 100, true},
		{10000, 1000, true},
	} {
		name := fmt.Sprintf("pods=%d/nodes=%d", c.pods, c.nodes)
		if c.plain {
			name += "/plain"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				benchSchedule(b, c.nodes, c.pods, !c.plain)
			}
		})
	}
}

func benchSchedule(b *testing.B, numNodes, numPods int, constraints bool) {
	b.StopTimer()
	reg := testRegistry(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodes := client.For[*api.Node](reg, "")
	parallel(32, numNodes, func(i int) error {
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("node-%04d", i), Labels: map[string]string{
			"kubernetes.io/hostname":      fmt.Sprintf("node-%04d", i),
			"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3),
		}}}
		n.Status.Allocatable = api.ResourceList{api.ResourceCPU: q("32"), api.ResourceMemory: q("64Gi"), api.ResourcePods: q("110")}
		n.Status.Capacity = n.Status.Allocatable
		_, err := nodes.Create(ctx, n)
		return err
	})
	s, err := New(Config{Backend: reg})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.synced
	for s.cache.nodeCount() < numNodes {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore := rssMB()

	pods := client.For[*api.Pod](reg, "default")
	b.StartTimer()
	start := time.Now()
	go parallel(32, numPods, func(i int) error {
		app := fmt.Sprintf("app-%d", i%50)
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Labels: map[string]string{"app": app}}}
		p.Spec.Containers = []api.Container{{Name: "c", Image: "registry.local/app:1", Resources: api.ResourceRequirements{
			Requests: api.ResourceList{api.ResourceCPU: q("100m"), api.ResourceMemory: q("128Mi")}}}}
		if constraints {
			sel := &api.LabelSelector{MatchLabels: map[string]string{"app": app}}
			p.Spec.TopologySpreadConstraints = []api.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: api.ScheduleAnyway, LabelSelector: sel}}
			p.Spec.Affinity = &api.Affinity{PodAntiAffinity: &api.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{
				Weight: 10, PodAffinityTerm: api.PodAffinityTerm{LabelSelector: sel, TopologyKey: "kubernetes.io/hostname"}}}}}
		}
		_, err := pods.Create(ctx, p)
		return err
	})
	for s.bound.Load() < int64(numPods) {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	st := s.Stats()
	b.ReportMetric(float64(numPods)/elapsed.Seconds(), "pods/s")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MB")
	b.ReportMetric(rssMB()-rssBefore, "rss-MB")
	b.ReportMetric(rssMB(), "rss-total-MB")
	b.Logf("%d pods on %d nodes in %v: %.0f pods/s; attempts %d, unschedulable %d, failed %d; heap %.1f → %.1f MB, RSS %.1f → %.1f MB",
		numPods, numNodes, elapsed.Round(time.Millisecond), float64(numPods)/elapsed.Seconds(), st.Attempts, st.Unschedulable, st.Failed,
		float64(before.HeapAlloc)/(1<<20), float64(after.HeapAlloc)/(1<<20), rssBefore, rssMB())
	cancel()
	<-done
}

// parallel runs fn(0..n-1) on w goroutines and panics on the first error.
func parallel(w, n int, fn func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					panic(err)
				}
			}
		}()
	}
	wg.Wait()
}

// rssMB reads the process's resident set size.
func rssMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkPreemption measures preemption on the real registry and store:
// N nodes (4 cpu each) full of low-priority pods (4 × 1 cpu, priority
// class "low", terminationGracePeriodSeconds 0 since no agent finishes a
// graceful delete here), then M high-priority pods (1 cpu, class "high")
// created by 32 writers. Each must evict one low pod. pods/s is M over the
// time from the first create to the last high pod bound; the log line
// also gives the time to the last nomination and the evictions.
//
//	go test -run '^$' -bench Preemption -benchtime 1x ./server/scheduler/
func BenchmarkPreemption(b *testing.B) {
	for _, c := range []struct{ nodes, high int }{{100, 100}, {500, 500}} {
		b.Run(fmt.Sprintf("nodes=%d/high=%d", c.nodes, c.high), func(b *testing.B) {
			for range b.N {
				benchPreemption(b, c.nodes, c.high)
			}
		})
	}
}

func benchPreemption(b *testing.B, numNodes, numHigh int) {
	const lowPerNode = 4
	b.StopTimer()
	reg := testRegistry(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	classes := client.For[*api.PriorityClass](reg, "")
	for name, v := range map[string]int32{"low": 0, "high": 1000} {
		if _, err := classes.Create(ctx, &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: name}, Value: v}); err != nil {
			b.Fatal(err)
		}
	}
	nodes := client.For[*api.Node](reg, "")
	parallel(32, numNodes, func(i int) error {
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("node-%04d", i), Labels: map[string]string{
			"kubernetes.io/hostname": fmt.Sprintf("node-%04d", i)}}}
		n.Status.Allocatable = api.ResourceList{api.ResourceCPU: q("4"), api.ResourceMemory: q("16Gi"), api.ResourcePods: q("110")}
		n.Status.Capacity = n.Status.Allocatable
		_, err := nodes.Create(ctx, n)
		return err
	})
	s, err := New(Config{Backend: reg})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.synced
	for s.cache.nodeCount() < numNodes {
		time.Sleep(time.Millisecond)
	}
	pods := client.For[*api.Pod](reg, "default")
	mk := func(name, class string) *api.Pod {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name}}
		p.Spec.PriorityClassName = class
		p.Spec.TerminationGracePeriodSeconds = ptr(int64(0))
		p.Spec.Containers = []api.Container{{Name: "c", Image: "registry.local/app:1", Resources: api.ResourceRequirements{
			Requests: api.ResourceList{api.ResourceCPU: q("1"), api.ResourceMemory: q("128Mi")}}}}
		return p
	}
	numLow := numNodes * lowPerNode
	parallel(32, numLow, func(i int) error {
		_, err := pods.Create(ctx, mk(fmt.Sprintf("low-%05d", i), "low"))
		return err
	})
	for s.bound.Load() < int64(numLow) {
		time.Sleep(2 * time.Millisecond)
	}
	before := s.Stats()

	b.StartTimer()
	start := time.Now()
	go parallel(32, numHigh, func(i int) error {
		_, err := pods.Create(ctx, mk(fmt.Sprintf("high-%05d", i), "high"))
		return err
	})
	var nominatedAt time.Duration
	for s.bound.Load() < int64(numLow+numHigh) {
		if nominatedAt == 0 && s.cache.nominationCount()+int(s.bound.Load())-numLow >= numHigh {
			nominatedAt = time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	st := s.Stats()
	list, _, _, err := pods.List(ctx, api.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	left := 0
	for _, p := range list {
		if p.Spec.PriorityClassName == "low" {
			left++
		}
	}
	b.ReportMetric(float64(numHigh)/elapsed.Seconds(), "pods/s")
	b.ReportMetric(elapsed.Seconds(), "s-to-all-bound")
	b.Logf("%d high-priority pods on %d full nodes: all bound in %v (%.0f pods/s), all nominated or bound by %v; low pods evicted %d of %d; attempts %d, unschedulable %d, failed %d",
		numHigh, numNodes, elapsed.Round(time.Millisecond), float64(numHigh)/elapsed.Seconds(), nominatedAt.Round(time.Millisecond),
		numLow-left, numLow, st.Attempts-before.Attempts, st.Unschedulable-before.Unschedulable, st.Failed-before.Failed)
	cancel()
	<-done
}
