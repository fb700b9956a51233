package routes_test

import (
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/netstack/ingress/routes"
)

// BenchmarkEndpointsToRouter times an Endpoints write to the registry
// until the router routes to the new backend (its table, which the next
// request uses, lists it; a request then checks that it is served by
// it), over b.N changes alternating between two loopback backends, with
// 50 other apps in the table.
//
//	go test -run '^$' -bench EndpointsToRouter -benchtime 200x ./netstack/ingress/routes/
func BenchmarkEndpointsToRouter(b *testing.B) {
	for _, debounce := range []time.Duration{routes.DefaultDebounce, time.Millisecond} {
		b.Run("debounce="+debounce.String(), func(b *testing.B) {
			be := []string{addr(named(b, "A")), addr(named(b, "B"))}
			names := []string{"A", "B"}
			e := newEnv(b, ingress.Config{}, routes.Config{Debounce: debounce}, func(e *env) {
				for i := range 50 {
					app := "other" + string(rune('a'+i%26)) + string(rune('a'+i/26))
					e.createApp(b, app)
					e.setEndpoints(b, app, []string{be[0]})
				}
				e.createApp(b, "bench")
				e.setEndpoints(b, "bench", []string{be[1]})
			})
			host := "bench." + domain
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				want := be[i%2]
				start := time.Now()
				e.setEndpoints(b, "bench", []string{want})
				for {
					if rt, ok := e.router.Table().Lookup(host); ok && len(rt.Backends) == 1 && rt.Backends[0].Addr == want {
						break
					}
					if time.Since(start) > 5*time.Second {
						b.Fatalf("change %d: router not routing to %s after 5s", i, want)
					}
					time.Sleep(50 * time.Microsecond)
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				if code, body := e.get(b, host, "/"); code != 200 || servedBy(body) != names[i%2] {
					b.Fatalf("change %d: %d %q, want 200 from %s", i, code, body, names[i%2])
				}
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(lat)
			q := func(f float64) time.Duration { return lat[int(f*float64(len(lat)-1))] }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
			b.Logf("Endpoints write → router routes the new backend, %d changes, debounce %v: p50 %v, p99 %v, max %v",
				len(lat), debounce, q(0.5).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
		})
	}
}
