package ingress_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/skiffhq/skiff/netstack/ingress"
)

func TestWebSocketEcho(t *testing.T) {
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("backend accept: %v", err)
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
	var log accessLog
	r := newRouter(t, ingress.Config{AccessLog: log.add})
	r.SetTable(mustTable(t, ingress.Route{Host: "ws.example.com", App: "ws", Backends: backends(addrOf(be))}))
	front := serve(t, r)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/socket",
		&websocket.DialOptions{Host: "ws.example.com"})
	if err != nil {
		t.Fatalf("dial through router: %v", err)
	}
	defer c.CloseNow()
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade status %d", res.StatusCode)
	}
	for i := range 5 {
		msg := fmt.Sprintf("hello %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("write: %v", err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != "echo: "+msg {
			t.Fatalf("read = %q, %v; want %q", got, err, "echo: "+msg)
		}
	}
	if n := r.InFlight(addrOf(be)); n != 1 {
		t.Errorf("InFlight while the socket is open = %d, want 1", n)
	}
	c.Close(websocket.StatusNormalClosure, "bye")
	eventually(t, "InFlight falls to 0 after the socket closes", func() bool { return r.InFlight(addrOf(be)) == 0 })
	if e := log.wait(t, 1)[0]; e.Status != http.StatusSwitchingProtocols || e.App != "ws" {
		t.Errorf("access entry = %+v, want status 101 for app ws", e)
	}
}

// TestServerSentEvents checks that each event reaches the client before the
// backend writes the next: the backend waits for the client's ack, so any
// buffering in the router would deadlock the test.
func TestServerSentEvents(t *testing.T) {
	ack := make(chan struct{})
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for i := range 5 {
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			rc.Flush()
			select {
			case <-ack:
			case <-time.After(5 * time.Second):
				t.Errorf("event %d: no ack from the client in 5s: the router held it back", i)
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t, ingress.Route{Host: "sse.example.com", App: "sse", Backends: backends(addrOf(be))}))
	front := serve(t, r)

	req, _ := http.NewRequest("GET", front.URL+"/events", nil)
	req.Host = "sse.example.com"
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for i := range 5 {
		want := fmt.Sprintf("data: event %d", i)
		found := false
		for sc.Scan() {
			if sc.Text() == want {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("event %d: stream ended (%v) before %q", i, sc.Err(), want)
		}
		ack <- struct{}{}
	}
}

func TestHTTP2OverTLS(t *testing.T) {
	be := echoBackend(t, "be")
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t, ingress.Route{Host: "h2.example.com", App: "h2", Backends: backends(addrOf(be))}))

	check := func(t *testing.T, c *http.Client, url string) {
		req, _ := http.NewRequest("GET", url+"/x", nil)
		req.Host = "h2.example.com"
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.ProtoMajor != 2 || res.StatusCode != 200 {
			t.Fatalf("got %s %d, want HTTP/2 200", res.Proto, res.StatusCode)
		}
		h := http.Header(decodeSeen(t, string(body)).Header)
		if h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-Host") != "h2.example.com" {
			t.Fatalf("backend saw X-Forwarded-Proto %q Host %q, want https, h2.example.com", h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Host"))
		}
	}
	t.Run("httptest", func(t *testing.T) {
		s := httptest.NewUnstartedServer(r)
		s.EnableHTTP2 = true
		s.StartTLS()
		defer s.Close()
		check(t, s.Client(), s.URL)
	})
	t.Run("Server and TLSConfig", func(t *testing.T) {
		// Borrow httptest's certificate for our own listener and server.
		certSrc := httptest.NewUnstartedServer(nil)
		certSrc.StartTLS()
		cert := certSrc.TLS.Certificates[0]
		certSrc.Close()
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(leaf)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := r.Server()
		go srv.Serve(tls.NewListener(ln, ingress.TLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })))
		defer srv.Close()
		check(t, client, "https://"+ln.Addr().String())
	})
}

// TestLargeBodiesStream sends 64 MiB up and down through the router. The
// upload is proven streamed: the backend must see its first chunk before
// the client writes the rest.
func TestLargeBodiesStream(t *testing.T) {
	const size = 64 << 20
	firstChunk := make(chan struct{})
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "PUT":
			h := sha256.New()
			buf := make([]byte, 4096)
			n, err := io.ReadFull(r.Body, buf)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			h.Write(buf[:n])
			close(firstChunk)
			m, err := io.Copy(h, r.Body)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, "%d %s", int64(n)+m, hex.EncodeToString(h.Sum(nil)))
		case "GET":
			w.Header().Set("Content-Length", fmt.Sprint(size))
			io.CopyN(w, newPattern(), size)
		}
	}))
	r := newRouter(t, ingress.Config{})
	r.SetTable(mustTable(t, ingress.Route{Host: "big.example.com", App: "big", Backends: backends(addrOf(be))}))
	front := serve(t, r)

	t.Run("upload", func(t *testing.T) {
		pr, pw := io.Pipe()
		want := sha256.New()
		go func() {
			chunk := make([]byte, 4096)
			rand.Read(chunk)
			want.Write(chunk)
			pw.Write(chunk)
			select {
			case <-firstChunk:
			case <-time.After(5 * time.Second):
				pw.CloseWithError(fmt.Errorf("backend did not get the first 4 KiB in 5s: the router buffers request bodies"))
				return
			}
			rest := io.TeeReader(io.LimitReader(newPattern(), size-4096), want)
			_, err := io.Copy(pw, rest)
			pw.CloseWithError(err)
		}()
		req, _ := http.NewRequest("PUT", front.URL+"/upload", pr)
		req.Host = "big.example.com"
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got, _ := io.ReadAll(res.Body)
		if w := fmt.Sprintf("%d %x", size, want.Sum(nil)); string(got) != w {
			t.Fatalf("backend got %q, want %q", got, w)
		}
	})
	t.Run("download", func(t *testing.T) {
		req, _ := http.NewRequest("GET", front.URL+"/download", nil)
		req.Host = "big.example.com"
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got, want := sha256.New(), sha256.New()
		n, err := io.Copy(got, res.Body)
		io.CopyN(want, newPattern(), size)
		if err != nil || n != size || hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(want.Sum(nil)) {
			t.Fatalf("downloaded %d bytes (%v), sums %x vs %x", n, err, got.Sum(nil), want.Sum(nil))
		}
	})
}

// pattern is an endless, cheap, non-repeating-per-block byte stream.
type pattern struct{ n uint64 }

func newPattern() *pattern { return &pattern{} }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.n*2654435761>>13) ^ byte(p.n)
		p.n++
	}
	return len(b), nil
}
