package routes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/netstack/ingress/routes"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

const domain = "apps.skiff.local"

// newRegistry is the real control plane in process: the registry over a
// bbolt store in the test's directory.
func newRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st, BookmarkInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}
	return reg
}

// syncLog is a concurrency-safe buffer for a test's logs.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// env is a registry, a router serving on loopback and a Syncer between
// them.
type env struct {
	reg    *registry.Registry
	router *ingress.Router
	front  *httptest.Server
	syncer *routes.Syncer
	log    *syncLog
	cancel context.CancelFunc
}

// newEnv builds the env; setup runs before the syncer starts (objects
// that exist before it), then newEnv waits for Ready.
func newEnv(t testing.TB, rcfg ingress.Config, cfg routes.Config, setup func(*env)) *env {
	t.Helper()
	e := &env{reg: newRegistry(t), log: &syncLog{}}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(e.log, testOutput(t)), nil))
	rcfg.Log = logger
	rcfg.Activate = func(ctx context.Context, app string) error { return e.syncer.Activate(ctx, app) }
	rcfg.AccessLog = func(a ingress.AccessEntry) { e.syncer.Observe(a) }
	r, err := ingress.New(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	e.router = r
	cfg.Informers = client.NewInformers(e.reg, logger)
	cfg.Router = r
	cfg.AppsDomain = domain
	cfg.Log = logger
	if e.syncer, err = routes.New(cfg); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(r)
	s.Config = r.Server()
	s.Start()
	t.Cleanup(s.Close)
	e.front = s
	if setup != nil {
		setup(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	done := make(chan error, 1)
	go func() { done <- e.syncer.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-e.syncer.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("syncer not ready after 5s")
	}
	return e
}

func testOutput(t testing.TB) io.Writer {
	if tt, ok := t.(*testing.T); ok {
		return tt.Output()
	}
	return io.Discard
}

func (e *env) createApp(t testing.TB, name string, domains ...string) *api.App {
	t.Helper()
	a, err := client.For[*api.App](e.reg, "default").Create(context.Background(),
		&api.App{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.AppSpec{Domains: domains}})
	if err != nil {
		t.Fatalf("create app %s: %v", name, err)
	}
	return a
}

// updateApp changes app name with fn, status included.
func (e *env) updateApp(t testing.TB, name string, fn func(*api.App), status bool) {
	t.Helper()
	apps := client.For[*api.App](e.reg, "default")
	ctx := context.Background()
	err := client.RetryOnConflict(ctx, func() error {
		a, err := apps.Get(ctx, name)
		if err != nil {
			return err
		}
		fn(a)
		if status {
			_, err = apps.UpdateStatus(ctx, a)
		} else {
			_, err = apps.Update(ctx, a)
		}
		return err
	})
	if err != nil {
		t.Fatalf("update app %s: %v", name, err)
	}
}

// setEndpoints writes the Endpoints of app: one subset per ready
// address (each loopback backend has its own port), and the notReady
// addresses in a subset of their own.
func (e *env) setEndpoints(t testing.TB, app string, ready []string, notReady ...string) {
	t.Helper()
	ep := &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: app, Namespace: "default"}}
	subset := func(addr string, isReady bool) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		ss := api.EndpointSubset{Ports: []api.EndpointPort{{Port: int32(p), Protocol: api.ProtocolTCP}}}
		if isReady {
			ss.Addresses = []api.EndpointAddress{{IP: host}}
		} else {
			ss.NotReadyAddresses = []api.EndpointAddress{{IP: host}}
		}
		ep.Subsets = append(ep.Subsets, ss)
	}
	for _, a := range ready {
		subset(a, true)
	}
	for _, a := range notReady {
		subset(a, false)
	}
	eps := client.For[*api.Endpoints](e.reg, "default")
	ctx := context.Background()
	err := client.RetryOnConflict(ctx, func() error {
		cur, err := eps.Get(ctx, app)
		if err != nil {
			_, err = eps.Create(ctx, ep)
			return err
		}
		ep.ResourceVersion = cur.ResourceVersion
		_, err = eps.Update(ctx, ep)
		return err
	})
	if err != nil {
		t.Fatalf("write endpoints %s: %v", app, err)
	}
}

// get sends a GET with Host host through the router.
func (e *env) get(t testing.TB, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", e.front.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	res, err := e.front.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s%s: read body: %v", host, path, err)
	}
	return res.StatusCode, string(b)
}

// named starts a loopback backend answering every request with its name.
func named(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"backend": name, "host": r.Host})
	}))
	t.Cleanup(s.Close)
	return s
}

func addr(s *httptest.Server) string { return s.Listener.Addr().String() }

// servedBy returns the backend name in a named backend's answer.
func servedBy(body string) string {
	var m map[string]string
	json.Unmarshal([]byte(body), &m)
	return m["backend"]
}

// eventually polls cond every 5 ms for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
