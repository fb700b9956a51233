package ingress_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
)

// seen is what the echo backend reports about a request it got.
type seen struct {
	Backend string              `json:"backend"`
	Host    string              `json:"host"`
	Path    string              `json:"path"`
	Header  map[string][]string `json:"header"`
	Remote  string              `json:"remote"`
}

// echoBackend starts a real loopback HTTP server that answers every
// request with a JSON description of it, signed with name.
func echoBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{Backend: name, Host: r.Host, Path: r.URL.Path, Header: r.Header, Remote: r.RemoteAddr})
	}))
}

func backend(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func addrOf(s *httptest.Server) string { return s.Listener.Addr().String() }

// deadAddr is a loopback address nothing listens on: connecting to it is
// refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func newRouter(t *testing.T, cfg ingress.Config) *ingress.Router {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	r, err := ingress.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

func mustTable(t *testing.T, routes ...ingress.Route) *ingress.Table {
	t.Helper()
	tbl, err := ingress.NewTable(routes)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tbl
}

func backends(addrs ...string) []ingress.Backend {
	var bs []ingress.Backend
	for _, a := range addrs {
		bs = append(bs, ingress.Backend{Addr: a})
	}
	return bs
}

// serve starts the router on a real loopback listener.
func serve(t *testing.T, r *ingress.Router) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(r)
	s.Config = r.Server()
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// do sends method to the router at base with the given Host header and
// returns the status, the body and the response header.
func do(t *testing.T, c *http.Client, method, base, host string, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, base+"/some/path?q=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, base, host, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return res.StatusCode, string(b), res.Header
}

func decodeSeen(t *testing.T, body string) seen {
	t.Helper()
	var s seen
	if err := json.NewDecoder(strings.NewReader(body)).Decode(&s); err != nil {
		t.Fatalf("backend answer %q: %v", body, err)
	}
	return s
}

// accessLog collects access entries.
type accessLog struct {
	mu      sync.Mutex
	entries []ingress.AccessEntry
}

func (l *accessLog) add(e ingress.AccessEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}

// wait returns the entries once there are at least n, or fails after 5 s.
func (l *accessLog) wait(t *testing.T, n int) []ingress.AccessEntry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		got := append([]ingress.AccessEntry(nil), l.entries...)
		l.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log has %d entries after 5s, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually polls cond every 5 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
