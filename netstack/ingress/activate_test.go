package ingress_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
)

// TestActivateHoldsRequests: requests to an idle app are held while
// Activate "starts" it (a SetTable 200 ms later) and then served, with
// one Activate call for the burst.
func TestActivateHoldsRequests(t *testing.T) {
	be := echoBackend(t, "woken")
	idle := ingress.Route{Host: "sleepy.example.com", App: "sleepy", Idle: true}
	var calls atomic.Int32
	var r *ingress.Router
	var log accessLog
	r = newRouter(t, ingress.Config{
		AccessLog: log.add,
		Activate: func(ctx context.Context, app string) error {
			calls.Add(1)
			if app != "sleepy" {
				return errors.New("wrong app " + app)
			}
			go func() {
				time.Sleep(200 * time.Millisecond)
				// An unrelated change first: the held requests must keep waiting.
				r.SetTable(mustTable(t, idle, ingress.Route{Host: "other.example.com", App: "other"}))
				r.SetTable(mustTable(t, ingress.Route{Host: "sleepy.example.com", App: "sleepy", Backends: backends(addrOf(be))}))
			}()
			return nil
		},
	})
	r.SetTable(mustTable(t, idle))
	front := serve(t, r)

	const n = 5
	var wg sync.WaitGroup
	latency := make([]time.Duration, n)
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			code, body, _ := do(t, front.Client(), "GET", front.URL, "sleepy.example.com", nil)
			latency[i] = time.Since(start)
			if code != 200 || decodeSeen(t, body).Backend != "woken" {
				t.Errorf("held request %d: %d %q, want 200 from the woken backend", i, code, body)
			}
		})
	}
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Errorf("Activate called %d times for one burst, want 1", got)
	}
	for i, d := range latency {
		if d < 200*time.Millisecond {
			t.Errorf("request %d answered in %v, before the app had a backend", i, d)
		}
	}
	t.Logf("held request latency (SetTable after 200 ms): %v", latency)
	for _, e := range log.wait(t, n) {
		// Held counts from each request's arrival, the 200 ms from the
		// activation's start: a request arriving later is held a little
		// less.
		if e.Held < 150*time.Millisecond || e.Status != 200 {
			t.Errorf("access entry Held %v status %d, want ≥150ms, 200", e.Held, e.Status)
		}
	}
}

func TestActivateFailures(t *testing.T) {
	tests := []struct {
		name     string
		activate func(context.Context, string) error
		idle     bool
		want     string
		maxTime  time.Duration
	}{
		{"no activator", nil, true, "has no instance ready", time.Second},
		{"route not idle", func(context.Context, string) error { return nil }, false, "has no instance ready", time.Second},
		{"activate fails", func(context.Context, string) error { return errors.New("no node has room") }, true, "could not be started", time.Second},
		{"never gets a backend", func(context.Context, string) error { return nil }, true, "is still starting", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, ingress.Config{Activate: tt.activate, ActivateTimeout: 300 * time.Millisecond, RetryAfter: 2 * time.Second})
			r.SetTable(mustTable(t, ingress.Route{Host: "sleepy.example.com", App: "sleepy", Idle: tt.idle}))
			front := serve(t, r)
			start := time.Now()
			code, body, hdr := do(t, front.Client(), "GET", front.URL, "sleepy.example.com", nil)
			if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "2" || !strings.Contains(body, "App sleepy "+tt.want) {
				t.Fatalf("got %d Retry-After %q %q; want 503, 2, %q", code, hdr.Get("Retry-After"), body, tt.want)
			}
			if d := time.Since(start); d > tt.maxTime {
				t.Errorf("answered after %v, want within %v", d, tt.maxTime)
			}
		})
	}
}

func TestActivateRouteRemovedWhileHeld(t *testing.T) {
	var r *ingress.Router
	r = newRouter(t, ingress.Config{Activate: func(context.Context, string) error {
		go func() { time.Sleep(50 * time.Millisecond); r.SetTable(nil) }()
		return nil
	}})
	r.SetTable(mustTable(t, ingress.Route{Host: "gone.example.com", App: "gone", Idle: true}))
	front := serve(t, r)
	if code, body, _ := do(t, front.Client(), "GET", front.URL, "gone.example.com", nil); code != 404 {
		t.Fatalf("got %d %q, want 404 once the route is gone", code, body)
	}
}

// TestFailedActivationIsShared: requests to an idle app that cannot be
// started share one failed Activate for RetryAfter (not one call each),
// and a panicking Activate is a 503, not a crash.
func TestFailedActivationIsShared(t *testing.T) {
	for _, panics := range []bool{false, true} {
		var calls atomic.Int32
		r := newRouter(t, ingress.Config{RetryAfter: time.Minute, Activate: func(context.Context, string) error {
			calls.Add(1)
			if panics {
				panic("boom")
			}
			return errors.New("no room on any node")
		}})
		r.SetTable(mustTable(t, ingress.Route{Host: "idle.example.com", App: "idle", Idle: true}))
		front := serve(t, r)
		for i := range 20 {
			if code, body, _ := do(t, front.Client(), "GET", front.URL, "idle.example.com", nil); code != 503 || !strings.Contains(body, "could not be started") {
				t.Fatalf("request %d (panics %t): %d %q, want 503 could not be started", i, panics, code, body)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("Activate called %d times for 20 requests within RetryAfter (panics %t), want 1", n, panics)
		}
	}
}

// TestHeldAnsweredWhenRouteStopsBeingIdle: a table that marks the held
// route not idle and gives it no backend (the app was stopped, not
// started) answers the held requests 503 at once, not after
// ActivateTimeout.
func TestHeldAnsweredWhenRouteStopsBeingIdle(t *testing.T) {
	activated := make(chan struct{}, 1)
	r := newRouter(t, ingress.Config{ActivateTimeout: 10 * time.Second, Activate: func(context.Context, string) error {
		activated <- struct{}{}
		return nil
	}})
	r.SetTable(mustTable(t, ingress.Route{Host: "sleepy.example.com", App: "sleepy", Idle: true}))
	front := serve(t, r)
	type answer struct {
		code int
		body string
		took time.Duration
	}
	got := make(chan answer, 1)
	go func() {
		start := time.Now()
		code, body, _ := do(t, front.Client(), "GET", front.URL, "sleepy.example.com", nil)
		got <- answer{code, body, time.Since(start)}
	}()
	<-activated
	eventually(t, "the request is held", func() bool { return r.Held("sleepy") == 1 })
	r.SetTable(mustTable(t, ingress.Route{Host: "sleepy.example.com", App: "sleepy"}))
	a := <-got
	if a.code != 503 || !strings.Contains(a.body, "App sleepy has no instance ready") || a.took > 2*time.Second {
		t.Fatalf("held request = %d %q after %v, want 503 has no instance ready at once", a.code, a.body, a.took)
	}
	if n := r.Held("sleepy"); n != 0 {
		t.Errorf("Held after the answer = %d, want 0", n)
	}
}

// TestMaxHeld: beyond MaxHeld held requests for an app, more get a 503 at
// once; those held are served when the app gets a backend.
func TestMaxHeld(t *testing.T) {
	be := echoBackend(t, "woken")
	r := newRouter(t, ingress.Config{MaxHeld: 2, ActivateTimeout: 10 * time.Second, Activate: func(context.Context, string) error { return nil }})
	r.SetTable(mustTable(t, ingress.Route{Host: "sleepy.example.com", App: "sleepy", Idle: true}))
	front := serve(t, r)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if code, body, _ := do(t, front.Client(), "GET", front.URL, "sleepy.example.com", nil); code != 200 {
				t.Errorf("held request %d: %d %q, want 200 once the app has a backend", i, code, body)
			}
		})
	}
	eventually(t, "two requests are held", func() bool { return r.Held("sleepy") == 2 })
	start := time.Now()
	code, body, hdr := do(t, front.Client(), "GET", front.URL, "sleepy.example.com", nil)
	if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(body, "too many requests waiting") || time.Since(start) > time.Second {
		t.Errorf("third request = %d %q after %v, want a 503 at once", code, body, time.Since(start))
	}
	r.SetTable(mustTable(t, ingress.Route{Host: "sleepy.example.com", App: "sleepy", Backends: backends(addrOf(be))}))
	wg.Wait()
}
