package logs

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock returns a clock that starts at a fixed time and moves one
// second a call.
func testClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func newTestWriter(t *testing.T, path string, opts Options) *Writer {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = testClock()
	}
	w, err := NewWriter(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func write(t *testing.T, w *Writer, stream, s string) {
	t.Helper()
	n, err := w.Stream(stream).Write([]byte(s))
	if err != nil || n != len(s) {
		t.Fatalf("write %q to %s: %d, %v", s, stream, n, err)
	}
}

func readAll(t *testing.T, path string, opts ReadOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := Read(context.Background(), path, opts, &out); err != nil {
		t.Fatalf("Read(%s, %+v): %v", path, opts, err)
	}
	return out.String()
}

// writeTestFile writes a log file as another writer could have left it.
func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// records parses every record of a file.
func records(t *testing.T, path string) []Line {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ls []Line
	for _, raw := range strings.SplitAfter(string(b), "\n") {
		if raw == "" {
			continue
		}
		l, err := ParseLine([]byte(raw))
		if err != nil {
			t.Fatalf("record %q of %s: %v", raw, path, err)
		}
		ls = append(ls, l)
	}
	return ls
}

// syncBuffer is an output a following Read writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFollow runs a following Read of path in the background. stop
// ends it, waits for it and fails the test unless it returned nil; it is
// also called at the end of the test if the test did not.
func startFollow(t *testing.T, path string, opts ReadOptions) (out *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = new(syncBuffer)
	done := make(chan error, 1)
	go func() { done <- Read(ctx, path, opts, out) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("following Read after cancel: %v, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return out, stop
}

// waitFor waits until cond holds, failing the test after a generous
// limit: it catches a follower that never sees a line, not a slow one.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
