package probe

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
)

// BenchmarkHTTPProbe is one httpGet probe against a loopback server: a
// new connection, a GET, a 2-byte body, the close.
func BenchmarkHTTPProbe(b *testing.B) {
	_, port := loopback(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }), false)
	pr := newProber(nil)
	p := httpProbe("/healthz", api.FromString("http"))
	tg := httpTarget(port)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, msg := pr.probe(ctx, p, tg); r != Success {
			b.Fatalf("probe = %v %q, want Success", r, msg)
		}
	}
}

// BenchmarkIdleWorkers measures what 50 pods with a liveness and a
// readiness probe each cost while their 100 workers wait for their next
// probe on the real clock: heap and goroutine stacks per worker. Quote
// -benchtime 1x: later rounds reuse the stacks the first one freed, and
// understate them.
func BenchmarkIdleWorkers(b *testing.B) {
	const pods = 50
	idle := func(ctx context.Context, id string, spec container.ExecSpec) (int, error) { return 0, nil }
	p := &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"true"}}}, InitialDelaySeconds: 3600}
	c := api.Container{Name: "app", LivenessProbe: p, ReadinessProbe: p, Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	var heap, stack float64
	for b.Loop() {
		m := NewManager(Config{Exec: execFunc(idle)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		heap0, stack0 := memInUse()
		for i := range pods {
			uid := "pod-" + strconv.Itoa(i)
			m.Sync([]Target{{PodUID: uid, PodIP: "10.42.0." + strconv.Itoa(i), Container: c, ContainerID: "c-" + uid, StartedAt: time.Now()}}, uid)
		}
		time.Sleep(10 * time.Millisecond) // let every worker reach its wait
		heap1, stack1 := memInUse()
		heap += float64(heap1-heap0) / (2 * pods)
		stack += float64(stack1-stack0) / (2 * pods)
		cancel()
		<-done
	}
	b.ReportMetric(heap/float64(b.N), "heap-B/worker")
	b.ReportMetric(stack/float64(b.N), "stack-B/worker")
}

// memInUse is the heap in use and the goroutine stacks, after a
// collection.
func memInUse() (heap, stack int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc), int64(ms.StackInuse)
}
