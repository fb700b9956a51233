package ingress_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/skiffhq/skiff/netstack/ingress"
)

// TestResponseHeaderTimeout: a backend that sends no headers within
// ResponseHeaderTimeout gets the client a 504 naming the app; one that
// sends them in time streams on however long its body takes, and a
// WebSocket upgrade is not bounded.
func TestResponseHeaderTimeout(t *testing.T) {
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-headers":
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
				return
			}
		case "/slow-body":
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			time.Sleep(400 * time.Millisecond)
			w.Write([]byte("late body"))
			return
		case "/ws":
			time.Sleep(400 * time.Millisecond)
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
		w.Write([]byte("ok"))
	}))
	r := newRouter(t, ingress.Config{ResponseHeaderTimeout: 200 * time.Millisecond})
	r.SetTable(mustTable(t, ingress.Route{Host: "slow.example.com", App: "slow", Backends: backends(addrOf(be))}))
	front := serve(t, r)
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Host = "slow.example.com"
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 1024)
		for {
			n, err := res.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return res.StatusCode, b.String()
	}
	start := time.Now()
	if code, body := get("/slow-headers"); code != 504 || !strings.Contains(body, "App slow did not start answering") {
		t.Errorf("slow headers = %d %q, want 504 naming the app", code, body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("504 after %v, want about 200ms", d)
	}
	if code, body := get("/slow-body"); code != 200 || body != "late body" {
		t.Errorf("slow body = %d %q, want 200 late body", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/ws", &websocket.DialOptions{Host: "slow.example.com"})
	if err != nil {
		t.Fatalf("upgrade answered after 400ms with a 200ms header timeout: %v, want it through", err)
	}
	c.CloseNow()
}
