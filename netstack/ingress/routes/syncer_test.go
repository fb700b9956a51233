package routes_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/netstack/ingress/routes"
	"github.com/skiffhq/skiff/server/api"
)

// TestAppAnswersAtItsHosts: an app that exists before the syncer starts
// answers at its default host and its domain as soon as Ready is closed;
// an app made later gets routed; unknown hosts get 404s.
func TestAppAnswersAtItsHosts(t *testing.T) {
	shop, blog := named(t, "shop"), named(t, "blog")
	e := newEnv(t, ingress.Config{}, routes.Config{}, func(e *env) {
		e.createApp(t, "shop", "shop.example.com")
		e.setEndpoints(t, "shop", []string{addr(shop)})
	})
	for _, host := range []string{"shop." + domain, "shop.example.com", "SHOP.example.com:8080"} {
		if code, body := e.get(t, host, "/"); code != 200 || servedBy(body) != "shop" {
			t.Errorf("%s right after Ready: %d %q, want 200 from shop", host, code, body)
		}
	}
	if code, _ := e.get(t, "blog."+domain, "/"); code != 404 {
		t.Errorf("blog before it exists: %d, want 404", code)
	}
	e.createApp(t, "blog")
	eventually(t, "a new app without endpoints answers 503", func() bool {
		code, _ := e.get(t, "blog."+domain, "/")
		return code == 503
	})
	e.setEndpoints(t, "blog", []string{addr(blog)})
	eventually(t, "blog answers once it has endpoints", func() bool {
		code, body := e.get(t, "blog."+domain, "/")
		return code == 200 && servedBy(body) == "blog"
	})
	e.updateApp(t, "blog", func(a *api.App) { a.Spec.Domains = []string{"blog.example.com"} }, false)
	eventually(t, "a domain added to an app is routed", func() bool {
		code, body := e.get(t, "blog.example.com", "/")
		return code == 200 && servedBy(body) == "blog"
	})
	if code, _ := e.get(t, "nope."+domain, "/"); code != 404 {
		t.Errorf("unknown host: %d, want 404", code)
	}
}

// TestEndpointsChangeMovesTraffic: when the Endpoints swap A for B (and
// list A as not ready, as a terminating pod is), new requests go to B at
// once and a slow request already on A finishes whole.
func TestEndpointsChangeMovesTraffic(t *testing.T) {
	entered, finish := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slowA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			io.WriteString(w, `{"backend":"A"}`)
			return
		}
		w.Write([]byte("first half, "))
		http.NewResponseController(w).Flush()
		once.Do(func() { close(entered) })
		<-finish
		w.Write([]byte("second half"))
	}))
	t.Cleanup(slowA.Close)
	b := named(t, "B")
	e := newEnv(t, ingress.Config{}, routes.Config{}, func(e *env) {
		e.createApp(t, "web")
		e.setEndpoints(t, "web", []string{addr(slowA)})
	})
	host := "web." + domain
	slow := make(chan string, 1)
	go func() {
		_, body := e.get(t, host, "/slow")
		slow <- body
	}()
	<-entered
	start := time.Now()
	e.setEndpoints(t, "web", []string{addr(b)}, addr(slowA))
	eventually(t, "traffic moves to B", func() bool {
		_, body := e.get(t, host, "/")
		return servedBy(body) == "B"
	})
	t.Logf("traffic moved %v after the Endpoints write", time.Since(start))
	for range 10 {
		if code, body := e.get(t, host, "/"); code != 200 || servedBy(body) != "B" {
			t.Fatalf("after the switch: %d %q, want B only", code, body)
		}
	}
	if n := e.router.InFlight(addr(slowA)); n != 1 {
		t.Errorf("InFlight(A) while its slow request runs = %d, want 1", n)
	}
	close(finish)
	if got := <-slow; got != "first half, second half" {
		t.Errorf("slow request on the removed backend = %q, want it whole", got)
	}
	e.setEndpoints(t, "web", nil)
	eventually(t, "no ready endpoints: 503", func() bool { code, _ := e.get(t, host, "/"); return code == 503 })
}

// TestIdleAppActivated: a request to an idle app calls Activate with the
// app's namespace and is held, even while the app controller clears
// status.idle before the pod is ready, and is served once the Endpoints
// list a ready address.
func TestIdleAppActivated(t *testing.T) {
	be := named(t, "woken")
	type call struct{ namespace, app string }
	calls := make(chan call, 10)
	var e *env
	e = newEnv(t, ingress.Config{ActivateTimeout: 10 * time.Second}, routes.Config{
		StartTimeout: 10 * time.Second,
		Activate: func(ctx context.Context, namespace, app string) error {
			calls <- call{namespace, app}
			go func() {
				time.Sleep(100 * time.Millisecond)
				e.updateApp(t, app, func(a *api.App) { a.Status.Idle = false }, true)
				time.Sleep(200 * time.Millisecond)
				e.setEndpoints(t, app, []string{addr(be)})
			}()
			return nil
		},
	}, func(e *env) {
		e.createApp(t, "sleepy")
		e.updateApp(t, "sleepy", func(a *api.App) { a.Status.Idle = true }, true)
	})
	start := time.Now()
	code, body := e.get(t, "sleepy."+domain, "/")
	if code != 200 || servedBy(body) != "woken" {
		t.Fatalf("request to the idle app: %d %q, want 200 once it has a backend", code, body)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %v, before the app had endpoints", d)
	}
	t.Logf("held %v", time.Since(start))
	if c := <-calls; c != (call{"default", "sleepy"}) {
		t.Errorf("Activate(%q, %q), want (default, sleepy)", c.namespace, c.app)
	}
	if len(calls) != 0 {
		t.Errorf("Activate called %d more times", len(calls))
	}
	if err := e.syncer.Activate(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), `"nope": no such app`) {
		t.Errorf("Activate of an unknown app = %v, want no such app", err)
	}
}

// TestTouchAtMostOncePerInterval: a steady stream of requests makes one
// Touch per TouchInterval, the first at once; no requests, no Touch.
func TestTouchAtMostOncePerInterval(t *testing.T) {
	be := named(t, "be")
	const interval = 300 * time.Millisecond
	var mu sync.Mutex
	var touches []time.Time
	var wrong atomic.Value
	e := newEnv(t, ingress.Config{}, routes.Config{
		TouchInterval: interval,
		Touch: func(ctx context.Context, namespace, app string) error {
			if namespace != "default" || app != "busy" {
				wrong.Store(namespace + "/" + app)
			}
			mu.Lock()
			touches = append(touches, time.Now())
			mu.Unlock()
			return nil
		},
	}, func(e *env) {
		e.createApp(t, "busy")
		e.createApp(t, "quiet")
		e.setEndpoints(t, "busy", []string{addr(be)})
		e.setEndpoints(t, "quiet", []string{addr(be)})
	})
	start := time.Now()
	for time.Since(start) < 4*interval {
		if code, _ := e.get(t, "busy."+domain, "/"); code != 200 {
			t.Fatalf("status %d", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := time.Now()
	time.Sleep(3 * interval)
	mu.Lock()
	got := append([]time.Time(nil), touches...)
	mu.Unlock()
	if w := wrong.Load(); w != nil {
		t.Errorf("Touch(%s), want default/busy only", w)
	}
	if len(got) < 4 || len(got) > 6 {
		t.Fatalf("%d Touch calls for 4 intervals of requests, want 4 to 6", len(got))
	}
	if d := got[0].Sub(start); d > 100*time.Millisecond {
		t.Errorf("first Touch %v after the first request, want it at once", d)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].Sub(got[i-1]); d < interval {
			t.Errorf("Touch %d came %v after the one before, want ≥ %v", i, d, interval)
		}
	}
	if last := got[len(got)-1]; last.Sub(stopped) > 2*interval {
		t.Errorf("a Touch %v after the last request: Touch goes on without requests", last.Sub(stopped))
	}
}

// TestConflictingHosts: a host two apps claim goes to the older one, the
// conflict is logged once however often the table is rebuilt, and the
// other app gets the host when the older lets go of it.
func TestConflictingHosts(t *testing.T) {
	older, newer := named(t, "zeta"), named(t, "alpha")
	e := newEnv(t, ingress.Config{}, routes.Config{}, nil)
	e.createApp(t, "zeta", "www.example.com")
	e.setEndpoints(t, "zeta", []string{addr(older)})
	time.Sleep(1100 * time.Millisecond) // creation times have second precision
	// alpha sorts first by name: only its age keeps it from the host.
	e.createApp(t, "alpha", "www.example.com")
	e.setEndpoints(t, "alpha", []string{addr(newer)})
	eventually(t, "alpha routed at its own host", func() bool {
		code, body := e.get(t, "alpha."+domain, "/")
		return code == 200 && servedBy(body) == "alpha"
	})
	for range 5 {
		if code, body := e.get(t, "www.example.com", "/"); code != 200 || servedBy(body) != "zeta" {
			t.Fatalf("contested host: %d %q, want the older app, zeta", code, body)
		}
	}
	for i := range 3 { // more rebuilds
		e.setEndpoints(t, "alpha", []string{addr(newer)}, "127.0.0."+string(rune('2'+i))+":1")
	}
	time.Sleep(100 * time.Millisecond)
	if n := e.log.count("host claimed by two apps"); n != 1 {
		t.Errorf("conflict logged %d times, want once", n)
	}
	e.updateApp(t, "zeta", func(a *api.App) { a.Spec.Domains = nil }, false)
	eventually(t, "alpha gets the host zeta let go of", func() bool {
		_, body := e.get(t, "www.example.com", "/")
		return servedBy(body) == "alpha"
	})
}

// TestRefusedDomainLeftOut: a domain the router refuses (a wildcard of a
// top-level domain) is left out and logged once; the app's other hosts
// and the other apps are routed.
func TestRefusedDomainLeftOut(t *testing.T) {
	be := named(t, "be")
	e := newEnv(t, ingress.Config{}, routes.Config{}, func(e *env) {
		e.createApp(t, "good")
		e.setEndpoints(t, "good", []string{addr(be)})
		e.createApp(t, "greedy", "*.com", "greedy.example.com")
		e.setEndpoints(t, "greedy", []string{addr(be)})
	})
	for _, host := range []string{"good." + domain, "greedy." + domain, "greedy.example.com"} {
		if code, body := e.get(t, host, "/"); code != 200 {
			t.Errorf("%s: %d %q, want 200", host, code, body)
		}
	}
	if code, _ := e.get(t, "anything.com", "/"); code != 404 {
		t.Errorf("host under the refused wildcard: %d, want 404", code)
	}
	e.setEndpoints(t, "good", []string{addr(be)}, "127.0.0.9:1") // a rebuild
	time.Sleep(100 * time.Millisecond)
	if n := e.log.count("route refused by the router"); n != 1 {
		t.Errorf("refused route logged %d times, want once", n)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  routes.Config
		want string
	}{
		{"nothing set", routes.Config{}, "informers are required"},
		{"no router", routes.Config{}, "router is required"},
		{"no domain", routes.Config{}, `apps domain "" must be a domain name`},
		{"domain with port", routes.Config{AppsDomain: "apps.local:80"}, "must be a domain name"},
		{"negative touch interval", routes.Config{TouchInterval: -1}, "touch interval"},
		{"huge debounce", routes.Config{Debounce: time.Minute}, "debounce"},
		{"huge start timeout", routes.Config{StartTimeout: time.Hour}, "start timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := routes.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestWokenByControllerHeld: an idle app the app controller wakes up
// itself (a release rolling out, scale to zero turned off), without
// Activate, has its requests held until its first backend is ready,
// not answered 503 in between.
func TestWokenByControllerHeld(t *testing.T) {
	be := named(t, "rolled-out")
	e := newEnv(t, ingress.Config{ActivateTimeout: 10 * time.Second}, routes.Config{
		StartTimeout: 10 * time.Second,
		Activate:     func(context.Context, string, string) error { return nil },
	}, func(e *env) {
		e.createApp(t, "sleepy")
		e.updateApp(t, "sleepy", func(a *api.App) { a.Status.Idle = true }, true)
	})
	e.updateApp(t, "sleepy", func(a *api.App) { a.Status.Idle = false }, true)
	time.Sleep(100 * time.Millisecond) // the table without idle status, still no backend
	go func() {
		time.Sleep(300 * time.Millisecond)
		e.setEndpoints(t, "sleepy", []string{addr(be)})
	}()
	code, body := e.get(t, "sleepy."+domain, "/")
	if code != 200 || servedBy(body) != "rolled-out" {
		t.Fatalf("request to an app woken by its controller: %d %q, want it held and served", code, body)
	}
}
