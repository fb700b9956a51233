package ingress_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/skiffhq/skiff/netstack/ingress"
)

func TestRedirectHandler(t *testing.T) {
	be := echoBackend(t, "app")
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t,
		ingress.Route{Host: "secure.example.com", App: "secure", Backends: backends(addrOf(be))},
		ingress.Route{Host: "plain.example.com", App: "plain", Backends: backends(addrOf(be))}))
	acme := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { w.Write([]byte("token")) })
	hasCert := func(host string) bool { return host == "secure.example.com" }
	tests := []struct {
		name, host, target string
		acme               http.Handler
		wantCode           int
		wantLocation       string
		wantBody           string // exact body, or "" for any
	}{
		{"host with cert", "Secure.Example.com:80", "/a/b?x=1&y=%20", acme, 308, "https://secure.example.com/a/b?x=1&y=%20", ""},
		{"POST keeps method by 308", "secure.example.com", "/form", acme, 308, "https://secure.example.com/form", ""},
		{"host without cert", "plain.example.com", "/a", acme, 200, "", ""},
		{"acme challenge not redirected", "secure.example.com", "/.well-known/acme-challenge/abc", acme, 200, "", "token"},
		{"acme challenge, no acme handler: router", "secure.example.com", "/.well-known/acme-challenge/abc", nil, 200, "", ""},
		{"unknown host", "nope.example.com", "/", acme, 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.target, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			r.RedirectHandler(hasCert, tt.acme).ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantLocation {
				t.Fatalf("got %d Location %q, want %d %q (body %q)", rec.Code, rec.Header().Get("Location"), tt.wantCode, tt.wantLocation, rec.Body.String())
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
}
