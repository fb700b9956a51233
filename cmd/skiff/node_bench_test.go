package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/cni"
	"github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api"
)

// BenchmarkPodStart measures, on a test node: API create of a pod (bound
// to the node, image present) to Running and Ready, over 50 sequential
// pods and a burst of 30; beside it the floor, the same container started
// with the bare containerd client in a fresh CNI network namespace; and
// skiff's RSS and CPU with 0 and 50 running pods. It runs once whatever
// b.N is: make bench runs it with -benchtime=1x.
//
//	go test -run '^$' -bench PodStart -benchtime 1x ./cmd/skiff/
func BenchmarkPodStart(b *testing.B) {
	n := newTestNode(b, 9)
	n.start()
	rss0 := rssKB(nil, n.srv.cmd.Process.Pid)

	floor := n.floor(b, 50, false)
	floorBurst := n.floor(b, 30, true)
	seq := make([]time.Duration, 0, 50)
	for i := range 50 {
		seq = append(seq, n.startPods(b, fmt.Sprintf("seq-%d", i), 1)...)
	}
	time.Sleep(5 * time.Second)
	rss50 := rssKB(nil, n.srv.cmd.Process.Pid)
	cpu := cpuShare(n.srv.cmd.Process.Pid, 30*time.Second)
	burst := n.startPods(b, "burst", 30)

	p := func(d []time.Duration, q float64) float64 {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
	}
	fmt.Printf("pod start, 50 sequential: p50 %.1f ms  p99 %.1f ms\n", p(seq, 0.5), p(seq, 0.99))
	fmt.Printf("pod start, burst of 30:   p50 %.1f ms  p99 %.1f ms\n", p(burst, 0.5), p(burst, 0.99))
	fmt.Printf("floor (netns + CNI + containerd create/start), 50: p50 %.1f ms  p99 %.1f ms\n", p(floor, 0.5), p(floor, 0.99))
	fmt.Printf("floor burst of 30 (all at once, 4 at a time as the agent): p50 %.1f ms  p99 %.1f ms\n", p(floorBurst, 0.5), p(floorBurst, 0.99))
	fmt.Printf("ratio p50 skiff/floor: %.2f (aim ≤ 1.25); burst p99 skiff/floor: %.2f\n", p(seq, 0.5)/p(floor, 0.5), p(burst, 0.99)/p(floorBurst, 0.99))
	fmt.Printf("skiff server + agent RSS: %d kB with 0 pods, %d kB with 50 running; CPU with 50 idle pods: %.2f%% of one core\n", rss0, rss50, cpu*100)
	b.ReportMetric(p(seq, 0.5), "p50-ms")
	b.ReportMetric(p(seq, 0.99), "p99-ms")
	b.ReportMetric(p(burst, 0.99), "burst-p99-ms")
	b.ReportMetric(p(floor, 0.5), "floor-p50-ms")
	b.ReportMetric(p(floorBurst, 0.99), "floor-burst-p99-ms")
	b.ReportMetric(float64(rss50), "rss50-kB")
}

// startPods creates count pods at once and returns, for each, the time
// from its create call to Ready as the API reports it.
func (n *testNode) startPods(b *testing.B, prefix string, count int) []time.Duration {
	ctx := context.Background()
	w, err := n.client.Watch(ctx, "pods", "default", api.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	var wg sync.WaitGroup
	for i := range count {
		name := prefix
		if count > 1 {
			name = fmt.Sprintf("%s-%d", prefix, i)
		}
		wg.Go(func() {
			p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.PodSpec{
				NodeName: n.name, Containers: []api.Container{container("c", "sleep")}}}
			mu.Lock()
			created[name] = time.Now()
			mu.Unlock()
			if _, err := n.pods().Create(ctx, p); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	var out []time.Duration
	seen := map[string]bool{}
	timeout := time.After(120 * time.Second)
	for len(out) < count {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*api.Pod)
			if !ok || seen[p.Name] || !isReady(p) {
				continue
			}
			mu.Lock()
			c, mine := created[p.Name]
			mu.Unlock()
			if mine {
				seen[p.Name] = true
				out = append(out, time.Since(c))
			}
		case <-timeout:
			b.Fatalf("%d of %d pods Ready in 120 s", len(out), count)
		}
	}
	return out
}

// floor starts count containers with the bare containerd client, each in
// a fresh CNI netns, from a child process inside the node's namespace
// (the CNI plugins act on the namespace of whoever runs them).
//
// burst starts them all at once, four at a time as the agent's workers
// do, each timed from the common start.
func (n *testNode) floor(b *testing.B, count int, burst bool) []time.Duration {
	cmd := exec.Command("nsenter", "--net=/run/netns/"+n.netns, "--", os.Args[0], "-test.run=^TestFloorChild$")
	cmd.Env = append(os.Environ(), "SKIFF_FLOOR_CHILD="+strings.Join([]string{
		filepath.Join(n.dataDir, "run", "containerd", "containerd.sock"), n.dataDir, strconv.Itoa(count), strconv.FormatBool(burst)}, ","))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("floor child: %v\n%s", err, out)
	}
	var ms []float64
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "FLOOR "); ok {
			if err := json.Unmarshal([]byte(v), &ms); err != nil {
				b.Fatal(err)
			}
		}
	}
	if len(ms) != count {
		b.Fatalf("floor child gave %d figures:\n%s", len(ms), out)
	}
	d := make([]time.Duration, len(ms))
	for i, v := range ms {
		d[i] = time.Duration(v * float64(time.Millisecond))
	}
	return d
}

// TestFloorChild is the floor benchmark's child (see floor); alone it
// does nothing.
func TestFloorChild(t *testing.T) {
	env := os.Getenv("SKIFF_FLOOR_CHILD")
	if env == "" {
		return
	}
	f := strings.Split(env, ",")
	sock, dir := f[0], f[1]
	count, _ := strconv.Atoi(f[2])
	ctx := context.Background()
	c, err := containerd.Connect(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	work := filepath.Join(dir, "floor")
	m, err := cni.New(cni.Config{NetNSDir: filepath.Join(work, "netns"), StateDir: filepath.Join(work, "cni"), Bridge: "skfloor0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetPodCIDR("10.253.0.0/24"); err != nil {
		t.Fatal(err)
	}
	burst := f[3] == "true"
	ms := make([]float64, count)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var cleanups []func()
	sem := make(chan struct{}, 4) // the agent's workers
	begin := time.Now()
	one := func(i int) {
		uid := fmt.Sprintf("floor%04d-%v", i, burst)
		start := time.Now()
		if burst {
			start = begin
		}
		sb, err := m.Setup(ctx, cni.PodNetwork{UID: uid, Namespace: "default", Name: uid})
		if err != nil {
			t.Error(err)
			return
		}
		_, cleanup, err := containerd.FloorStart(ctx, c, testimages.Ref("sleep"), sb.NetNSPath)
		if err != nil {
			t.Error(err)
			return
		}
		ms[i] = float64(time.Since(start).Microseconds()) / 1000
		mu.Lock()
		cleanups = append(cleanups, cleanup, func() { m.Teardown(ctx, uid) })
		mu.Unlock()
	}
	for i := range count {
		if !burst {
			one(i)
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			one(i)
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range cleanups {
			c()
		}
	}()
	b, _ := json.Marshal(ms)
	fmt.Printf("FLOOR %s\n", b)
}

// cpuShare is the share of one core the process used over d.
func cpuShare(pid int, d time.Duration) float64 {
	ticks := func() float64 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		return u + k
	}
	t0 := ticks()
	time.Sleep(d)
	return (ticks() - t0) / 100 / d.Seconds()
}
