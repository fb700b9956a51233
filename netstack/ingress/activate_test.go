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
