package apiserver

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// API benchmarks over real HTTPS on loopback, with the typed path a
// controller or the CLI uses (client.New → TLS → apiserver → registry →
// bbolt). The floor is the same operation through the registry in
// process: what the HTTP layer costs shows as x-floor.
//
//	go test -run='^$' -bench=API -benchtime=4000x ./server/apiserver/

const benchClients = 32

func benchPod(i int) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("web-%07d", i), Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{Containers: []api.Container{{
			Name: "web", Image: "busybox:1.36", Ports: []api.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
}

func benchClient(b *testing.B, ts *testServer) *client.HTTP {
	c, err := client.New(client.Config{Server: ts.url, CA: string(ts.caPEM), Token: ts.token})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// timed runs n calls over workers and returns calls/s and latencies.
func timed(n, workers int, fn func(i int) error) (float64, []time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := fn(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	rate := float64(n) / time.Since(start).Seconds()
	err, _ := firstErr.Load().(error)
	return rate, lat, err
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[int(float64(len(s)-1)*p)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func BenchmarkAPICreate(b *testing.B) {
	ts := startServer(b, store.Config{}, 0)
	c := benchClient(b, ts)
	ctx := context.Background()
	b.ResetTimer()
	rate, lat, err := timed(b.N, benchClients, func(i int) error {
		_, err := c.Create(ctx, "pods", "default", benchPod(i))
		return err
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	floorReg := inProcessRegistry(b)
	floor, _, err := timed(b.N, benchClients, func(i int) error {
		_, err := floorReg.Create(ctx, "pods", "default", benchPod(i))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "creates/s")
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(floor, "floor-creates/s")
	b.ReportMetric(rate/floor, "x-floor")
}

func inProcessRegistry(b *testing.B) *registry.Registry {
	st, err := store.Open(store.Config{Path: filepath.Join(b.TempDir(), "floor.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	reg, _ := registry.New(registry.Config{Store: st})
	if err := reg.EnsureNamespaces(context.Background()); err != nil {
		b.Fatal(err)
	}
	return reg
}

func BenchmarkAPIGet(b *testing.B) {
	const n = 1000
	ts := startServer(b, store.Config{}, 0)
	c := benchClient(b, ts)
	ctx := context.Background()
	if _, _, err := timed(n, benchClients, func(i int) error {
		_, err := c.Create(ctx, "pods", "default", benchPod(i))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rate, lat, err := timed(b.N, benchClients, func(i int) error {
		_, err := c.Get(ctx, "pods", "default", fmt.Sprintf("web-%07d", i%n))
		return err
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	reg := inProcessRegistry(b)
	for i := 0; i < n; i++ {
		reg.Create(ctx, "pods", "default", benchPod(i))
	}
	floor, _, _ := timed(b.N, benchClients, func(i int) error {
		_, err := reg.Get(ctx, "pods", "default", fmt.Sprintf("web-%07d", i%n))
		return err
	})
	b.ReportMetric(rate, "gets/s")
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(floor, "floor-gets/s")
	b.ReportMetric(rate/floor, "x-floor")
}

// BenchmarkAPIWatchLatency: 100 watchers over HTTPS; latency from a
// create's answer to each watcher's receipt of the event.
func BenchmarkAPIWatchLatency(b *testing.B) {
	const watchers = 100
	ts := startServer(b, store.Config{HistorySize: 1 << 16}, 0)
	c := benchClient(b, ts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	created := map[string]time.Time{}
	var lats []time.Duration
	var wg sync.WaitGroup
	for w := 0; w < watchers; w++ {
		wt, err := c.Watch(ctx, "pods", "default", api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer wt.Stop()
			local := make([]time.Duration, 0, b.N)
			for n := 0; n < b.N; {
				e, ok := <-wt.ResultChan()
				if !ok {
					return
				}
				if e.Type != api.Added {
					continue
				}
				now := time.Now()
				mu.Lock()
				t0, seen := created[e.Object.GetObjectMeta().Name]
				mu.Unlock()
				if seen {
					local = append(local, now.Sub(t0))
				}
				n++
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	b.ResetTimer()
	start := time.Now()
	_, _, err := timed(b.N, 8, func(i int) error {
		p := benchPod(i)
		_, err := c.Create(ctx, "pods", "default", p)
		mu.Lock()
		created[p.Name] = time.Now()
		mu.Unlock()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	// Latency is measured from the create's answer, which can arrive after
	// the event: negative samples count as zero.
	for i, l := range lats {
		if l < 0 {
			lats[i] = 0
		}
	}
	b.ReportMetric(float64(b.N*watchers)/elapsed.Seconds(), "events/s")
	b.ReportMetric(ms(percentile(lats, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lats, 0.99)), "p99-ms")
}
