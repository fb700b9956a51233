package ingress_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
)

// TestDrainRemovedBackend: a slow request to A keeps running to completion
// after the table drops A, new requests go to B, and InFlight(A) falls to
// 0 once the slow request ends.
func TestDrainRemovedBackend(t *testing.T) {
	entered, finish := make(chan struct{}), make(chan struct{})
	a := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first half, ")
		http.NewResponseController(w).Flush()
		close(entered)
		<-finish
		io.WriteString(w, "second half from A")
	}))
	b := echoBackend(t, "B")
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(a))}))
	front := serve(t, r)

	type result struct {
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", front.URL+"/slow", nil)
		req.Host = "app.example.com"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		slow <- result{string(body), err}
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("slow request never reached A")
	}
	if n := r.InFlight(addrOf(a)); n != 1 {
		t.Fatalf("InFlight(A) during the slow request = %d, want 1", n)
	}

	r.SetTable(mustTable(t, ingress.Route{Host: "app.example.com", App: "app", Backends: backends(addrOf(b))}))
	for range 10 {
		code, body, _ := do(t, front.Client(), "GET", front.URL, "app.example.com", nil)
		if code != 200 || decodeSeen(t, body).Backend != "B" {
			t.Fatalf("new request after the switch: %d %q, want 200 from B", code, body)
		}
	}
	if n := r.InFlight(addrOf(a)); n != 1 {
		t.Fatalf("InFlight(A) after A was removed, slow request still running = %d, want 1", n)
	}
	if n := r.InFlight(addrOf(b)); n != 0 {
		t.Errorf("InFlight(B) with no request running = %d, want 0", n)
	}

	close(finish)
	res := <-slow
	if res.err != nil || res.body != "first half, second half from A" {
		t.Fatalf("slow request = %q, %v; want it whole, not cut", res.body, res.err)
	}
	eventually(t, "InFlight(A) falls to 0", func() bool { return r.InFlight(addrOf(a)) == 0 })
}
