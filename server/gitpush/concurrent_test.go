package gitpush

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConcurrentPushesToOneApp checks that pushes to one app reach Receive
// one at a time, and that a push based on a ref another push moved meanwhile
// is refused instead of deploying a release git would then not record.
func TestConcurrentPushesToOneApp(t *testing.T) {
	ts := newTestServer(t)
	w1 := ts.newWorkTree(t)
	w1.must("push", ts.url("tok-dev", "web"), "main")
	w2 := &workTree{t: t, ts: ts, dir: filepath.Join(t.TempDir(), "w2")}
	(&workTree{t: t, ts: ts, dir: filepath.Dir(w2.dir)}).must("clone", "--quiet", ts.url("tok-dev", "web"), "w2")
	a := w1.commit("a", "a\n")
	w2.commit("b", "b\n")

	entered, release := make(chan struct{}), make(chan struct{})
	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error {
		if p.Update.New == a {
			close(entered)
			<-release
		}
		return nil
	})
	pushA := w1.cmd("push", ts.url("tok-dev", "web"), "main")
	var outA, outB bytes.Buffer
	pushA.Stderr = &outA
	if err := pushA.Start(); err != nil {
		t.Fatal(err)
	}
	<-entered
	pushB := w2.cmd("push", ts.url("tok-dev", "web"), "main")
	pushB.Stderr = &outB
	if err := pushB.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let B reach its hook and wait
	close(release)
	if err := pushA.Wait(); err != nil {
		t.Fatalf("push A: %v\n%s", err, outA.String())
	}
	if err := pushB.Wait(); err == nil {
		t.Fatalf("push B succeeded, want it refused:\n%s", outB.String())
	}
	if !strings.Contains(outB.String(), "moved while this push waited") {
		t.Errorf("push B output lacks the reason:\n%s", outB.String())
	}
	t.Logf("push B:\n%s", outB.String())
	if got := ts.bareRef("web", "refs/heads/main"); got != a {
		t.Errorf("bare main = %q, want push A's %q", got, a)
	}
	if n := len(ts.receivedPushes()); n != 2 {
		t.Errorf("Receive called %d times, want 2 (the first push and A)", n)
	}
}

// BenchmarkPush measures one small push to the deploy branch, end to end:
// git push over HTTPS, http-backend, receive-pack, the hook round trip and
// the ref update.
func BenchmarkPush(b *testing.B) {
	ts := newTestServer(b)
	w := ts.newWorkTree(b)
	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error { return nil })
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		w.commit("f", strings.Repeat("x", n)+"\n")
		b.StartTimer()
		w.must("push", "--quiet", ts.url("tok-dev", "web"), "main")
	}
}

// BenchmarkClone measures a clone of a small app repository.
func BenchmarkClone(b *testing.B) {
	ts := newTestServer(b)
	w := ts.newWorkTree(b)
	w.must("push", "--quiet", ts.url("tok-dev", "web"), "main")
	dst := b.TempDir()
	n := 0
	for b.Loop() {
		n++
		w.must("clone", "--quiet", ts.url("tok-viewer", "web"), filepath.Join(dst, strconv.Itoa(n)))
	}
}
