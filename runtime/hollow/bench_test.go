package hollow_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/hollow"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// memSample is the process's memory at one moment, after a GC.
type memSample struct {
	heap       uint64 // bytes of live heap objects
	heapSys    uint64 // heap bytes obtained from the OS
	stacks     uint64 // goroutine stacks
	rss        int64  // VmRSS, bytes
	goroutines int
}

func sampleMem(tb testing.TB) memSample {
	tb.Helper()
	runtime.GC()
	debug.FreeOSMemory() // RSS comparable across runs in one process
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSample{heap: m.HeapAlloc, heapSys: m.HeapSys, stacks: m.StackInuse, rss: vmRSS(tb), goroutines: runtime.NumGoroutine()}
}

// vmRSS reads VmRSS from /proc/self/status.
func vmRSS(tb testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHollowNodes starts 100 and 1,000 hollow nodes on the real
// registry (bbolt on disk, nodeipam, in-memory leases) and reports the
// time until all are Ready, what each costs in memory, and what the idle
// cluster writes and burns in 10 s (it should write nothing). One run per
// size is the measurement: use -benchtime=1x.
//
//	go test -run '^$' -bench BenchmarkHollowNodes -benchtime=1x ./runtime/hollow/
func BenchmarkHollowNodes(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for range b.N {
				benchNodes(b, n, 0)
			}
		})
	}
}

// BenchmarkHollowPods adds 10 pods bound to each node (by spec.nodeName,
// no scheduler) and reports the time until all run Ready and their
// memory on top of the nodes'.
//
//	go test -run '^$' -bench BenchmarkHollowPods -benchtime=1x ./runtime/hollow/
func BenchmarkHollowPods(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d/pods=%d", n, 10*n), func(b *testing.B) {
			for range b.N {
				benchNodes(b, n, 10)
			}
		})
	}
}

func benchNodes(b *testing.B, count, podsPerNode int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv := newTestServer(b, ctx)
	base := sampleMem(b)
	start := time.Now()
	c := startCluster(b, ctx, srv, hollow.Config{Count: count, Labels: zone})
	ready := time.Since(start)
	settle(b, srv)
	nodesMem := sampleMem(b)
	if path := os.Getenv("HOLLOW_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, fmt.Sprintf("%s.%d", path, count))
	}
	per := func(a, z int64, n int) float64 { return float64(z-a) / float64(n) }
	b.ReportMetric(ready.Seconds(), "s-to-ready")
	b.ReportMetric(per(int64(base.heap), int64(nodesMem.heap), count)/1024, "heap-KiB/node")
	b.ReportMetric(per(base.rss, nodesMem.rss, count)/1024, "rss-KiB/node")
	b.ReportMetric(per(int64(base.goroutines), int64(nodesMem.goroutines), count), "goroutines/node")
	b.Logf("%d nodes: all Ready in %s (%.0f nodes/s); per node: heap %.1f KiB, stacks %.1f KiB, RSS %.1f KiB, %.1f goroutines; process RSS %d MiB",
		count, ready.Round(time.Millisecond), float64(count)/ready.Seconds(),
		per(int64(base.heap), int64(nodesMem.heap), count)/1024, per(int64(base.stacks), int64(nodesMem.stacks), count)/1024,
		per(base.rss, nodesMem.rss, count)/1024, per(int64(base.goroutines), int64(nodesMem.goroutines), count), nodesMem.rss>>20)

	if podsPerNode > 0 {
		podsReady := startPods(b, ctx, srv, c, podsPerNode)
		settle(b, srv)
		podsMem := sampleMem(b)
		np := count * podsPerNode
		b.ReportMetric(podsReady.Seconds(), "s-pods-ready")
		b.ReportMetric(float64(np)/podsReady.Seconds(), "pods/s")
		b.ReportMetric(per(int64(nodesMem.heap), int64(podsMem.heap), np)/1024, "heap-KiB/pod")
		b.Logf("%d pods bound to %d nodes: all Running and Ready in %s (%.0f pods/s); per pod: heap %.1f KiB, RSS %.1f KiB, %.2f goroutines; process RSS %d MiB",
			np, count, podsReady.Round(time.Millisecond), float64(np)/podsReady.Seconds(),
			per(int64(nodesMem.heap), int64(podsMem.heap), np)/1024, per(nodesMem.rss, podsMem.rss, np)/1024,
			per(int64(nodesMem.goroutines), int64(podsMem.goroutines), np), podsMem.rss>>20)
	}

	// Idle: nothing changes, so nothing may be written.
	const idle = 10 * time.Second
	srv.calls.take()
	before, cpu0 := srv.store.Stats(), cpuTime()
	time.Sleep(idle)
	after, cpu1 := srv.store.Stats(), cpuTime()
	calls, ncalls := srv.calls.take()
	b.ReportMetric(float64(ncalls)/idle.Seconds(), "idle-calls/s")
	b.Logf("idle %s: the nodes called the registry %d times: %s", idle, ncalls, calls)
	changes, commits := after.Changes-before.Changes, after.Commits-before.Commits
	b.ReportMetric(float64(changes)/idle.Seconds(), "idle-writes/s")
	b.ReportMetric(float64(cpu1-cpu0)/float64(idle)*100, "idle-cpu-%")
	b.Logf("idle %s: %d changes in %d commits written (%.1f/s), CPU %.1f%% of one core (%.2f ms/s per node)",
		idle, changes, commits, float64(changes)/idle.Seconds(), float64(cpu1-cpu0)/float64(idle)*100,
		float64(cpu1-cpu0)/float64(idle)/float64(count)*1000)
	for _, w := range []string{"create", "update", "patch", "delete"} {
		if strings.Contains(calls, w) {
			b.Errorf("idle nodes sent writes (%s), even if the store dropped them as unchanged", calls)
			break
		}
	}
	if changes != 0 {
		b.Errorf("idle cluster wrote %d changes in %s; want none", changes, idle)
	}
}

// writeHeapProfile writes the live heap to path, to see what a node
// holds (go tool pprof -sample_index=inuse_space).
func writeHeapProfile(tb testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		tb.Fatal(err)
	}
}

// settle waits until the store has seen no write for 11 s (the last
// Events and statuses of a burst), at most a minute.
func settle(tb testing.TB, srv *testServer) {
	tb.Helper()
	// Quiet for longer than the agents' node status period (10 s): a
	// node writes its status once more after its pods start (the images
	// it now holds), and that is part of starting, not of idling.
	const quiet = 11 * time.Second
	deadline := time.Now().Add(time.Minute)
	last, since := srv.store.Stats().Changes, time.Now()
	for time.Now().Before(deadline) && time.Since(since) < quiet {
		time.Sleep(time.Second)
		if now := srv.store.Stats().Changes; now != last {
			last, since = now, time.Now()
		}
	}
}

// startPods binds perNode pods to every node and waits until all are
// Running and Ready.
func startPods(tb testing.TB, ctx context.Context, srv *testServer, c *hollow.Cluster, perNode int) time.Duration {
	tb.Helper()
	pods := client.For[*api.Pod](srv.reg, "default")
	informer := client.NewInformer[*api.Pod](srv.reg, "default", api.ListOptions{}, nil)
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	go informer.Run(ictx)
	informer.WaitForSync(ictx)
	want := len(c.Nodes) * perNode
	start := time.Now()
	errs := make(chan error, 8)
	sem := make(chan struct{}, 8)
	go func() {
		for i := range perNode {
			for _, n := range c.Nodes {
				sem <- struct{}{}
				go func() {
					defer func() { <-sem }()
					_, err := pods.Create(ctx, &api.Pod{
						ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-%d", n.Name, i), Namespace: "default", Labels: map[string]string{"app": "bench"}},
						Spec:       api.PodSpec{NodeName: n.Name, Containers: []api.Container{{Name: "app", Image: "skiff.test/app:v1"}}},
					})
					if err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}()
			}
		}
	}()
	for {
		select {
		case err := <-errs:
			tb.Fatalf("create pod: %v", err)
		case <-ctx.Done():
			tb.Fatalf("pods not ready: %v", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		ready := 0
		for _, p := range informer.List() {
			if p.Status.Phase == api.PodRunning && podReady(p) {
				ready++
			}
		}
		if ready == want {
			return time.Since(start)
		}
	}
}
