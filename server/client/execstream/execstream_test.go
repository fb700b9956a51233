package execstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// serve runs Serve with run behind a test HTTP server and returns a
// connected client and a channel closed when Serve returned.
func serve(t *testing.T, withStdin bool, run func(ctx context.Context, s Streams) (int, error)) (*websocket.Conn, <-chan struct{}) {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		Serve(r.Context(), conn, withStdin, run)
		close(done)
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	return conn, done
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Serve did not return", what)
	}
}

func TestStdinOutputAndExitCode(t *testing.T) {
	conn, done := serve(t, true, func(ctx context.Context, s Streams) (int, error) {
		b, err := io.ReadAll(s.Stdin)
		if err != nil {
			return -1, err
		}
		s.Stdout.Write(bytes.ToUpper(b))
		s.Stderr.Write([]byte("to stderr"))
		return 3, nil
	})
	var out, errb bytes.Buffer
	big := strings.Repeat("abc", 50000) // more than one message
	code, err := Run(context.Background(), conn, strings.NewReader(big), &out, &errb, nil)
	if err != nil || code != 3 {
		t.Fatalf("Run = %d, %v; want 3", code, err)
	}
	if out.String() != strings.ToUpper(big) || errb.String() != "to stderr" {
		t.Errorf("stdout %d bytes, stderr %q", out.Len(), errb.String())
	}
	waitDone(t, done, "after exit")
}

func TestResizeAndError(t *testing.T) {
	got := make(chan TermSize, 1)
	conn, done := serve(t, false, func(ctx context.Context, s Streams) (int, error) {
		select {
		case ts := <-s.Resize:
			got <- ts
		case <-time.After(5 * time.Second):
		}
		return -1, errors.New("no such command: frob")
	})
	resize := make(chan TermSize, 1)
	resize <- TermSize{Width: 120, Height: 40}
	_, err := Run(context.Background(), conn, nil, io.Discard, io.Discard, resize)
	if err == nil || !strings.Contains(err.Error(), "no such command: frob") {
		t.Fatalf("Run error %v, want the agent's", err)
	}
	if ts := <-got; ts != (TermSize{120, 40}) {
		t.Errorf("resize %+v", ts)
	}
	waitDone(t, done, "after an error")
}

// A client that goes away ends the command, even one that neither reads
// its stdin nor writes.
func TestClientGoneEndsTheCommand(t *testing.T) {
	ended := make(chan struct{})
	conn, done := serve(t, true, func(ctx context.Context, s Streams) (int, error) {
		<-ctx.Done()
		close(ended)
		return -1, ctx.Err()
	})
	for range 3 {
		if err := conn.Write(context.Background(), websocket.MessageBinary, append([]byte{chStdin}, "ignored"...)); err != nil {
			t.Fatal(err)
		}
	}
	conn.CloseNow()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the command still runs after its client went away")
	}
	waitDone(t, done, "after the client went away")
}

// Stdin that arrives after the command exited leaks nothing.
func TestStdinAfterExit(t *testing.T) {
	conn, done := serve(t, true, func(ctx context.Context, s Streams) (int, error) { return 0, nil })
	conn.CloseRead(context.Background()) // a client that keeps reading, as Run does
	for range stdinQueue + 5 {
		if conn.Write(context.Background(), websocket.MessageBinary, append([]byte{chStdin}, "late"...)) != nil {
			break // closed by the server
		}
	}
	waitDone(t, done, "with stdin after exit")
}

func TestNoStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err == nil {
			conn.Write(r.Context(), websocket.MessageBinary, append([]byte{chStdout}, "partial"...))
			conn.CloseNow()
		}
	}))
	defer srv.Close()
	conn, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Run(context.Background(), conn, nil, &out, io.Discard, nil); !errors.Is(err, ErrNoStatus) {
		t.Errorf("Run error %v, want ErrNoStatus", err)
	}
	if out.String() != "partial" {
		t.Errorf("output %q", out.String())
	}
}
