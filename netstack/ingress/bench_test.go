package ingress_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
)

// benchConcurrency is how many client goroutines (and keep-alive
// connections) send requests at once.
const benchConcurrency = 32

// BenchmarkRouter measures requests/s and latency through the router and
// directly to the same backend, in the same run with the same client, in
// alternating rounds, and reports router/direct throughput. "backend=0s"
// answers at once, so the figures are the router's whole cost on a
// machine whose cores the client, the router and the backend share (the
// router is a server and a client, so it roughly doubles the work per
// request: expect about 0.5 on 2 cores); "backend=1ms" and "backend=5ms"
// are apps that take that long per request, as real ones do.
//
//	go test -run '^$' -bench BenchmarkRouter -benchtime 20000x ./netstack/ingress/
func BenchmarkRouter(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond} {
		b.Run(fmt.Sprintf("backend=%v", delay), func(b *testing.B) {
			body := []byte("hello, world\n")
			be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if delay > 0 {
					time.Sleep(delay)
				}
				w.Header().Set("Content-Type", "text/plain")
				w.Write(body)
			}))
			defer be.Close()
			r, err := ingress.New(ingress.Config{Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			tbl, err := ingress.NewTable([]ingress.Route{{Host: "bench.example.com", App: "bench", Backends: []ingress.Backend{{Addr: be.Listener.Addr().String()}}}})
			if err != nil {
				b.Fatal(err)
			}
			r.SetTable(tbl)
			front := httptest.NewUnstartedServer(r)
			front.Config = r.Server()
			front.Start()
			defer front.Close()

			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConcurrency, DisableCompression: true}}
			defer client.CloseIdleConnections()
			n := max(b.N/4, benchConcurrency)
			load(b, client, be.URL, "bench.example.com", benchConcurrency) // warm up: open the connections
			load(b, client, front.URL, "bench.example.com", benchConcurrency)
			b.ResetTimer()
			var direct, routed loadResult
			for range 4 {
				direct.add(load(b, client, be.URL, "bench.example.com", n))
				routed.add(load(b, client, front.URL, "bench.example.com", n))
			}
			b.StopTimer()
			ratio := routed.rps() / direct.rps()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(direct.rps(), "direct-req/s")
			b.ReportMetric(routed.rps(), "router-req/s")
			b.ReportMetric(ratio, "router/direct")
			b.ReportMetric(direct.quantile(0.50), "direct-p50-µs")
			b.ReportMetric(direct.quantile(0.99), "direct-p99-µs")
			b.ReportMetric(routed.quantile(0.50), "router-p50-µs")
			b.ReportMetric(routed.quantile(0.99), "router-p99-µs")
			b.Logf("backend %v, %d clients, %d requests each way: direct %.0f req/s (p50 %.0f µs, p99 %.0f µs), router %.0f req/s (p50 %.0f µs, p99 %.0f µs): router/direct %.2f",
				delay, benchConcurrency, 4*n, direct.rps(), direct.quantile(.5), direct.quantile(.99), routed.rps(), routed.quantile(.5), routed.quantile(.99), ratio)
		})
	}
}

type loadResult struct {
	requests  int
	elapsed   time.Duration
	latencies []time.Duration
}

func (l *loadResult) add(o loadResult) {
	l.requests += o.requests
	l.elapsed += o.elapsed
	l.latencies = append(l.latencies, o.latencies...)
}

func (l *loadResult) rps() float64 { return float64(l.requests) / l.elapsed.Seconds() }

// quantile in microseconds.
func (l *loadResult) quantile(q float64) float64 {
	if len(l.latencies) == 0 {
		return 0
	}
	s := slices.Clone(l.latencies)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))]) / float64(time.Microsecond)
}

// load sends n GETs to base with Host host from benchConcurrency
// goroutines and times each.
func load(b *testing.B, c *http.Client, base, host string, n int) loadResult {
	var next atomic.Int64
	var failed atomic.Value
	lat := make([][]time.Duration, benchConcurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range benchConcurrency {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", base+"/", nil)
			req.Host = host
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				res, err := c.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failed.Store(fmt.Errorf("status %d", res.StatusCode))
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		b.Fatalf("load on %s: %v", base, err)
	}
	return loadResult{requests: n, elapsed: elapsed, latencies: slices.Concat(lat...)}
}
