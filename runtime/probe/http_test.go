package probe

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// loopback starts a test server on 127.0.0.1 and returns it with its port.
func loopback(t testing.TB, h http.Handler, tls bool) (*httptest.Server, int) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // plain HTTP to the TLS server is a test case
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatalf("parse test server url %q: %v", srv.URL, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("test server port %q: %v", u.Port(), err)
	}
	return srv, port
}

// httpTarget is a container on 127.0.0.1 whose port "http" is port.
func httpTarget(port int) *Target {
	return &Target{
		PodIP:       "127.0.0.1",
		ContainerID: "c1",
		Container: api.Container{Name: "app", Ports: []api.ContainerPort{
			{Name: "http", ContainerPort: int32(port)},
			{Name: "metrics", ContainerPort: 9090},
		}},
	}
}

// httpProbe is an httpGet probe of path on port with timeout 1s.
func httpProbe(path string, port api.IntOrString) *api.Probe {
	return &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: path, Port: port}}, TimeoutSeconds: 1}
}

func TestHTTPGet(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "fine") })
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such page", http.StatusNotFound) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "it broke", http.StatusInternalServerError)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/moved-missing", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/missing", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://other.invalid/ok", http.StatusFound)
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("full") != "1" {
			http.Error(w, "want full=1", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("x", 100<<10))) })
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		// A 200 promising 100 bytes, then the connection drops after 2.
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("ok"))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	_, port := loopback(t, mux, false)

	tests := []struct {
		name     string
		path     string
		port     api.IntOrString
		want     Result
		wantMsg  string // a part of the message
		wantSize int    // if set, the message's length
	}{
		{name: "200", path: "/ok", port: api.FromInt(int32(port)), want: Success, wantMsg: "fine"},
		{name: "404", path: "/missing", port: api.FromInt(int32(port)), want: Failure, wantMsg: "status 404 Not Found: no such page"},
		{name: "500", path: "/broken", port: api.FromInt(int32(port)), want: Failure, wantMsg: "status 500"},
		{name: "redirect to same host followed", path: "/moved", port: api.FromInt(int32(port)), want: Success, wantMsg: "fine"},
		{name: "redirect to a 404", path: "/moved-missing", port: api.FromInt(int32(port)), want: Failure, wantMsg: "status 404"},
		{name: "redirect loop", path: "/loop", port: api.FromInt(int32(port)), want: Failure, wantMsg: "stopped after 10 redirects"},
		{name: "redirect to another host not followed", path: "/elsewhere", port: api.FromInt(int32(port)), want: Success, wantMsg: "redirect to another host"},
		{name: "path with query", path: "/query?full=1", port: api.FromInt(int32(port)), want: Success},
		{name: "path without slash", path: "ok", port: api.FromInt(int32(port)), want: Success, wantMsg: "fine"},
		{name: "named port", path: "/ok", port: api.FromString("http"), want: Success, wantMsg: "fine"},
		{name: "unknown port name", path: "/ok", port: api.FromString("admin"), want: Failure, wantMsg: `port "admin": container "app" has no port of that name`},
		{name: "port out of range", path: "/ok", port: api.FromInt(70000), want: Failure, wantMsg: "not a port number"},
		{name: "connection lost mid-body", path: "/cut", port: api.FromInt(int32(port)), want: Failure, wantMsg: "status 200 OK: reading the body: unexpected EOF"},
		{name: "body cut at 10 KiB", path: "/big", port: api.FromInt(int32(port)), want: Success, wantSize: maxOutput},
	}
	pr := newProber(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := pr.probe(context.Background(), httpProbe(tt.path, tt.port), httpTarget(port))
			if got != tt.want {
				t.Errorf("result = %v, want %v (message %q)", got, tt.want, msg)
			}
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.wantMsg)
			}
			if tt.wantSize != 0 && len(msg) != tt.wantSize {
				t.Errorf("message length = %d, want %d", len(msg), tt.wantSize)
			}
		})
	}
}

func TestHTTPGetHeaders(t *testing.T) {
	got := make(chan *http.Request, 1)
	_, port := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r }), false)
	tests := []struct {
		name    string
		headers []api.HTTPHeader
		want    map[string]string // "Host" is the request's host
	}{
		{
			name: "defaults",
			want: map[string]string{"Host": "127.0.0.1:" + strconv.Itoa(port), "User-Agent": "skiff-probe/1", "Accept": "*/*", "Connection": "close"},
		},
		{
			name:    "set",
			headers: []api.HTTPHeader{{Name: "Host", Value: "app.example.test"}, {Name: "x-probe", Value: "1"}, {Name: "User-Agent", Value: "mine"}, {Name: "Accept", Value: "application/json"}},
			want:    map[string]string{"Host": "app.example.test", "X-Probe": "1", "User-Agent": "mine", "Accept": "application/json"},
		},
	}
	pr := newProber(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := httpProbe("/", api.FromInt(int32(port)))
			p.HTTPGet.HTTPHeaders = tt.headers
			if res, msg := pr.probe(context.Background(), p, httpTarget(port)); res != Success {
				t.Fatalf("result = %v (%q), want Success", res, msg)
			}
			r := <-got
			for k, want := range tt.want {
				v := r.Header.Get(k)
				if k == "Host" {
					v = r.Host
				}
				if v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
		})
	}
}

func TestHTTPGetHTTPSSelfSigned(t *testing.T) {
	_, port := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "want TLS", http.StatusBadRequest)
		}
	}), true)
	tests := []struct {
		scheme api.URIScheme
		want   Result
	}{
		{api.URISchemeHTTPS, Success},
		{api.URISchemeHTTP, Failure}, // plain HTTP to a TLS server gets a 400
	}
	pr := newProber(nil)
	for _, tt := range tests {
		t.Run(string(tt.scheme), func(t *testing.T) {
			p := httpProbe("/", api.FromInt(int32(port)))
			p.HTTPGet.Scheme = tt.scheme
			if got, msg := pr.probe(context.Background(), p, httpTarget(port)); got != tt.want {
				t.Errorf("result = %v (%q), want %v", got, msg, tt.want)
			}
		})
	}
}

func TestHTTPGetTimeout(t *testing.T) {
	t.Parallel()
	_, port := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}), false)
	start := time.Now()
	got, msg := newProber(nil).probe(context.Background(), httpProbe("/", api.FromInt(int32(port))), httpTarget(port))
	if got != Failure || !strings.Contains(msg, "timed out after 1s") {
		t.Errorf("probe = %v %q, want Failure, timed out after 1s", got, msg)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("probe took %s, want about the 1s timeout", d)
	}
}

func TestHTTPGetNoHost(t *testing.T) {
	tg := httpTarget(80)
	tg.PodIP = ""
	got, msg := newProber(nil).probe(context.Background(), httpProbe("/", api.FromInt(80)), tg)
	if want := "no host set and the pod has no IP"; got != Failure || !strings.Contains(msg, want) {
		t.Errorf("probe = %v %q, want Failure, %q", got, msg, want)
	}
}

func TestHTTPGetKeepsNoConnections(t *testing.T) {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	_, port := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), false)
	pr := newProber(nil)
	p := httpProbe("/", api.FromInt(int32(port)))
	pr.probe(context.Background(), p, httpTarget(port)) // warm up: the listener, the poller
	before := openFDs(t)
	const n = 50
	for range n {
		if got, msg := pr.probe(context.Background(), p, httpTarget(port)); got != Success {
			t.Fatalf("probe = %v %q, want Success", got, msg)
		}
	}
	// The server closes its side asynchronously; give it time.
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := openFDs(t)
		if after-before < 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("open fds after %d probes = %d, before %d: connections leak", n, after, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	return len(ents)
}
