package ingress_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/skiffhq/skiff/netstack/ingress"
)

// connCounter counts the connections a backend accepted and closed.
type connCounter struct {
	mu             sync.Mutex
	opened, closed int
}

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.opened++
	case http.StateClosed, http.StateHijacked:
		c.closed++
	}
}

func (c *connCounter) get() (opened, closed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.closed
}

// countedEcho is an echo backend whose connections are counted.
func countedEcho(t *testing.T, name string) (*httptest.Server, *connCounter) {
	t.Helper()
	c := &connCounter{}
	s := httptest.NewUnstartedServer(echoBackend(t, name).Config.Handler)
	s.Config.ConnState = c.hook
	s.Start()
	t.Cleanup(s.Close)
	return s, c
}

// TestRemovingBackendKeepsOthersConnections: dropping B from the table
// closes B's idle keep-alive connection and leaves A's, which the next
// request to A reuses.
func TestRemovingBackendKeepsOthersConnections(t *testing.T) {
	a, ac := countedEcho(t, "A")
	b, bc := countedEcho(t, "B")
	r := newRouter(t, ingress.Config{})
	both := ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(a), addrOf(b))}
	r.SetTable(mustTable(t, both))
	front := serve(t, r)
	for range 4 {
		if code, body, _ := do(t, front.Client(), "GET", front.URL, "app.example.com", nil); code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
	}
	if ao, _ := ac.get(); ao != 1 {
		t.Fatalf("A accepted %d connections for sequential requests, want 1 kept alive", ao)
	}
	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(a))}))
	eventually(t, "B's idle connection is closed", func() bool { _, bcl := bc.get(); return bcl == 1 })
	for range 3 {
		code, body, _ := do(t, front.Client(), "GET", front.URL, "app.example.com", nil)
		if code != 200 || decodeSeen(t, body).Backend != "A" {
			t.Fatalf("after removing B: %d %q, want 200 from A", code, body)
		}
	}
	if ao, acl := ac.get(); ao != 1 || acl != 0 {
		t.Errorf("A opened %d and closed %d connections across B's removal, want 1 and 0: its keep-alive connection was dropped", ao, acl)
	}
}

// TestRemovedBackendDrainsWithoutIdleLeft: a request in flight on a
// removed backend finishes, and its connection is closed after it
// rather than kept idle.
func TestRemovedBackendDrainsWithoutIdleLeft(t *testing.T) {
	entered, finish := make(chan struct{}), make(chan struct{})
	c := &connCounter{}
	slow := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-finish
		w.Write([]byte("done"))
	}))
	slow.Config.ConnState = c.hook
	slow.Start()
	t.Cleanup(slow.Close)
	other := echoBackend(t, "other")
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(slow))}))
	front := serve(t, r)
	done := make(chan string, 1)
	go func() {
		_, body, _ := do(t, front.Client(), "GET", front.URL, "app.example.com", nil)
		done <- body
	}()
	<-entered
	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(other))}))
	close(finish)
	if body := <-done; body != "done" {
		t.Fatalf("in-flight request on the removed backend = %q, want it whole", body)
	}
	eventually(t, "InFlight(removed) falls to 0", func() bool { return r.InFlight(addrOf(slow)) == 0 })
	eventually(t, "the removed backend's connection is closed, not kept idle", func() bool { _, cl := c.get(); return cl == 1 })
}

// TestCloseBackendEndsWebSockets: a WebSocket to a removed backend that
// never closes counts in InFlight until CloseBackend, which ends it and
// leaves other backends' sockets open.
func TestCloseBackendEndsWebSockets(t *testing.T) {
	wsBackend := func() *httptest.Server {
		return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, msg, err := c.Read(r.Context())
				if err != nil {
					return
				}
				c.Write(r.Context(), typ, msg)
			}
		}))
	}
	old, keep := wsBackend(), wsBackend()
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t,
		ingress.Route{Host: "old.example.com", App: "old", Backends: backends(addrOf(old))},
		ingress.Route{Host: "keep.example.com", App: "keep", Backends: backends(addrOf(keep))}))
	front := serve(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(host string) *websocket.Conn {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/socket", &websocket.DialOptions{Host: host})
		if err != nil {
			t.Fatalf("dial %s through router: %v", host, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	echo := func(c *websocket.Conn) error {
		if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			return err
		}
		_, _, err := c.Read(ctx)
		return err
	}
	oc, kc := dial("old.example.com"), dial("keep.example.com")
	for _, c := range []*websocket.Conn{oc, kc} {
		if err := echo(c); err != nil {
			t.Fatalf("echo: %v", err)
		}
	}
	r.SetTable(mustTable(t, ingress.Route{Host: "keep.example.com", App: "keep", Backends: backends(addrOf(keep))}))
	time.Sleep(50 * time.Millisecond)
	if n := r.InFlight(addrOf(old)); n != 1 {
		t.Fatalf("InFlight(old) with its socket open after removal = %d, want 1", n)
	}
	r.CloseBackend(addrOf(old))
	eventually(t, "InFlight(old) falls to 0 after CloseBackend", func() bool { return r.InFlight(addrOf(old)) == 0 })
	if err := echo(oc); err == nil {
		t.Error("socket to the closed backend still echoes")
	}
	if err := echo(kc); err != nil {
		t.Errorf("socket to the other backend: %v, want it untouched", err)
	}
	if n := r.InFlight(addrOf(keep)); n != 1 {
		t.Errorf("InFlight(keep) = %d, want 1", n)
	}
}
