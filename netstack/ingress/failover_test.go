package ingress_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/netstack/ingress"
)

func TestFailoverOnConnectionRefused(t *testing.T) {
	live := echoBackend(t, "live")
	dead := deadAddr(t)
	tests := []struct {
		name       string
		method     string
		body       string
		backends   []string
		wantStatus int
		wantRetry  bool
	}{
		{"GET goes to the next backend", "GET", "", []string{dead, addrOf(live)}, 200, true},
		{"HEAD goes to the next backend", "HEAD", "", []string{dead, addrOf(live)}, 200, true},
		{"POST is not retried", "POST", "order=1", []string{dead, addrOf(live)}, 502, false},
		{"GET with a body is not retried", "GET", "x", []string{dead, addrOf(live)}, 502, false},
		{"GET with no other backend", "GET", "", []string{dead}, 502, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log accessLog
			r := newRouter(t, ingress.Config{AccessLog: log.add})
			// A fresh table starts its round-robin at the first backend,
			// the dead one.
			r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "shop", Backends: backends(tt.backends...)}))
			front := serve(t, r)
			req, _ := http.NewRequest(tt.method, front.URL+"/", strings.NewReader(tt.body))
			if tt.body == "" {
				req.Body = http.NoBody
			}
			req.Host = "app.example.com"
			res, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			n, _ := res.Body.Read(buf)
			res.Body.Close()
			body := string(buf[:n])
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", res.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 502 && !strings.Contains(body, "App shop did not answer") {
				t.Errorf("502 page %q does not name the app", body)
			}
			if tt.wantStatus == 502 && strings.Contains(body, dead) {
				t.Errorf("502 page %q shows the backend address to the public", body)
			}
			e := log.wait(t, 1)[0]
			if e.Retried != tt.wantRetry {
				t.Errorf("access entry Retried = %v, want %v", e.Retried, tt.wantRetry)
			}
			if tt.wantRetry && e.Backend != addrOf(live) {
				t.Errorf("access entry Backend = %q, want the live %q", e.Backend, addrOf(live))
			}
			for _, a := range tt.backends {
				if n := r.InFlight(a); n != 0 {
					t.Errorf("InFlight(%s) = %d after the request, want 0", a, n)
				}
			}
		})
	}
}

// TestBackendDiesMidResponse: the client sees a cut response (never a
// complete-looking one) and the backend's in-flight count is released.
func TestBackendDiesMidResponse(t *testing.T) {
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		w.Write([]byte("partial"))
		http.NewResponseController(w).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	var log accessLog
	r := newRouter(t, ingress.Config{AccessLog: log.add})
	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(be))}))
	front := serve(t, r)
	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Host = "app.example.com"
	// The cut reaches the client either before the header (the router had
	// not flushed it yet) or as a short body; never as a whole response.
	if res, err := front.Client().Do(req); err == nil {
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil {
			t.Fatalf("read %d %q with no error; want the cut to reach the client", res.StatusCode, body)
		}
	}
	if e := log.wait(t, 1)[0]; e.Bytes != int64(len("partial")) {
		t.Errorf("access entry Bytes = %d, want %d", e.Bytes, len("partial"))
	}
	eventually(t, "InFlight falls to 0", func() bool { return r.InFlight(addrOf(be)) == 0 })
}
