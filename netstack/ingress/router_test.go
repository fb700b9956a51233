package ingress_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/netstack/ingress"
)

func TestRouteByHost(t *testing.T) {
	shop, wild, blog := echoBackend(t, "shop"), echoBackend(t, "wild"), echoBackend(t, "blog")
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t,
		ingress.Route{Host: "shop.example.com", App: "shop", Backends: backends(addrOf(shop))},
		ingress.Route{Host: "*.apps.example.com", App: "wild", Backends: backends(addrOf(wild))},
		ingress.Route{Host: "blog.apps.example.com", App: "blog", Backends: backends(addrOf(blog))},
	))
	front := serve(t, r)
	tests := []struct {
		host        string
		wantStatus  int
		wantBackend string // or a string the error page must hold
	}{
		{"shop.example.com", 200, "shop"},
		{"Shop.Example.com:8080", 200, "shop"},
		{"x.apps.example.com", 200, "wild"},
		{"blog.apps.example.com", 200, "blog"},
		{"nope.example.com", 404, "No app is routed at nope.example.com"},
		{"a.b.apps.example.com:80", 404, "No app is routed at a.b.apps.example.com:80"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			code, body, _ := do(t, front.Client(), "GET", front.URL, tt.host, nil)
			if code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", code, tt.wantStatus, body)
			}
			if code != 200 {
				if !strings.Contains(body, tt.wantBackend) {
					t.Fatalf("page %q does not say %q", body, tt.wantBackend)
				}
				return
			}
			s := decodeSeen(t, body)
			if s.Backend != tt.wantBackend || s.Host != tt.host || s.Path != "/some/path" {
				t.Fatalf("backend saw %s Host %q path %q; want %s, Host %q, /some/path", s.Backend, s.Host, s.Path, tt.wantBackend, tt.host)
			}
		})
	}
}

func TestErrorPageEscapesHost(t *testing.T) {
	r := newRouter(t, ingress.Config{})
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "<script>.example.com"
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if body := rec.Body.String(); rec.Code != 404 || !strings.Contains(body, "&lt;script&gt;.example.com") || strings.Contains(body, "<script>") {
		t.Fatalf("got %d %q, want a 404 with the host escaped", rec.Code, body)
	}
}

func TestNoBackendsIs503(t *testing.T) {
	r := newRouter(t, ingress.Config{RetryAfter: 7e9})
	r.SetTable(mustTable(t, ingress.Route{Host: "down.example.com", App: "down"}))
	front := serve(t, r)
	code, body, hdr := do(t, front.Client(), "GET", front.URL, "down.example.com", nil)
	if code != 503 || hdr.Get("Retry-After") != "7" || !strings.Contains(body, "App down has no instance ready") {
		t.Fatalf("got %d Retry-After %q body %q; want 503, 7, naming the app", code, hdr.Get("Retry-After"), body)
	}
}

func TestForwardedHeaders(t *testing.T) {
	be := echoBackend(t, "be")
	spoof := http.Header{
		"X-Forwarded-For":   {"6.6.6.6"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"evil.example.com"},
		"Forwarded":         {"for=6.6.6.6"},
		"X-Real-Ip":         {"6.6.6.6"},
		"True-Client-Ip":    {"6.6.6.6"},
		"X-Forwarded-Ssl":   {"on"},
	}
	tests := []struct {
		name                        string
		trust                       bool
		hdr                         http.Header
		wantFor, wantProto, wantHst string
	}{
		{"plain client", false, nil, "127.0.0.1", "http", "app.example.com:8000"},
		{"spoofing client, untrusted", false, spoof, "127.0.0.1", "http", "app.example.com:8000"},
		{"proxy in front, trusted", true, spoof, "6.6.6.6, 127.0.0.1", "https", "evil.example.com"},
		{"trusted, no headers", true, nil, "127.0.0.1", "http", "app.example.com:8000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, ingress.Config{TrustForwarded: tt.trust})
			r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(be))}))
			front := serve(t, r)
			code, body, _ := do(t, front.Client(), "GET", front.URL, "app.example.com:8000", tt.hdr)
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			h := http.Header(decodeSeen(t, body).Header)
			if got := strings.Join(h.Values("X-Forwarded-For"), ","); got != tt.wantFor {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tt.wantFor)
			}
			if got := h.Get("X-Forwarded-Proto"); got != tt.wantProto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", got, tt.wantProto)
			}
			if got := h.Get("X-Forwarded-Host"); got != tt.wantHst {
				t.Errorf("X-Forwarded-Host = %q, want %q", got, tt.wantHst)
			}
			if got := h.Get("Forwarded"); got != "" {
				t.Errorf("Forwarded = %q reached the backend, want it dropped", got)
			}
			if !tt.trust {
				if got := h.Get("X-Real-Ip"); got != "127.0.0.1" {
					t.Errorf("X-Real-Ip = %q, want the client's address", got)
				}
				for _, k := range []string{"True-Client-Ip", "X-Forwarded-Ssl"} {
					if got := h.Get(k); got != "" {
						t.Errorf("%s = %q reached the backend, want it dropped", k, got)
					}
				}
			}
		})
	}
}

func TestSpreadAcrossBackends(t *testing.T) {
	a, b, c := echoBackend(t, "a"), echoBackend(t, "b"), echoBackend(t, "c")
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(a), addrOf(b), addrOf(c))}))
	front := serve(t, r)
	got := map[string]int{}
	for range 30 {
		_, body, _ := do(t, front.Client(), "GET", front.URL, "app.example.com", nil)
		got[decodeSeen(t, body).Backend]++
	}
	for _, name := range []string{"a", "b", "c"} {
		if got[name] != 10 {
			t.Errorf("sequential requests per backend = %v, want 10 each (round-robin)", got)
			break
		}
	}
}

func TestAccessLog(t *testing.T) {
	be := echoBackend(t, "be")
	var log accessLog
	r := newRouter(t, ingress.Config{AccessLog: log.add})
	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(be))}))
	front := serve(t, r)
	_, body, _ := do(t, front.Client(), "GET", front.URL, "app.example.com", nil)
	do(t, front.Client(), "POST", front.URL, "missing.example.com", nil)
	got := log.wait(t, 2)
	e := got[0]
	host, _, _ := net.SplitHostPort(e.Client)
	if e.Host != "app.example.com" || e.App != "app" || e.Method != "GET" || e.Path != "/some/path" ||
		e.Status != 200 || e.Bytes != int64(len(body)) || e.Backend != addrOf(be) || host != "127.0.0.1" ||
		e.Duration <= 0 || e.Proto != "HTTP/1.1" || e.Time.IsZero() {
		t.Errorf("entry for a proxied request = %+v", e)
	}
	if e := got[1]; e.Status != 404 || e.App != "" || e.Backend != "" || e.Method != "POST" || e.Bytes == 0 {
		t.Errorf("entry for an unknown host = %+v", e)
	}
}

// TestOnlyWebSocketIsUpgraded: an upgrade to anything but WebSocket (h2c)
// does not reach the backend: it would tunnel past the router.
func TestOnlyWebSocketIsUpgraded(t *testing.T) {
	be := echoBackend(t, "be")
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(be))}))
	front := serve(t, r)
	code, body, _ := do(t, front.Client(), "GET", front.URL, "app.example.com", http.Header{
		"Upgrade": {"h2c"}, "Connection": {"Upgrade, HTTP2-Settings"}, "Http2-Settings": {"AAMAAABkAARAAAAAAAIAAAAA"}})
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	if h := http.Header(decodeSeen(t, body).Header); h.Get("Upgrade") != "" {
		t.Errorf("Upgrade: %q reached the backend", h.Get("Upgrade"))
	}
}
