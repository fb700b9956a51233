package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// A watch of pods by spec.nodeName (every agent's) is keyed: it is woken
// and fed only by changes to its node's pods.

func nodeWatch(t *testing.T, s *Bolt, node string, opts WatchOptions) api.Watcher {
	t.Helper()
	sel, err := api.ParseFieldSelector("spec.nodeName=" + node)
	if err != nil {
		t.Fatal(err)
	}
	opts.Fields = sel
	w, err := s.Watch(ctx, "pods", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if w.(*watcher).trigger == nil {
		t.Fatal("a spec.nodeName watch is not keyed")
	}
	return w
}

func noEvent(t *testing.T, w api.Watcher) {
	t.Helper()
	select {
	case e := <-w.ResultChan():
		t.Errorf("unexpected %s of %s (err %v)", e.Type, e.Object.GetObjectMeta().Name, e.Err)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestKeyedWatchSeesItsNodeOnly(t *testing.T) {
	s := newStore(t, Config{})
	w := nodeWatch(t, s, "n1", WatchOptions{})
	other := nodeWatch(t, s, "n2", WatchOptions{})

	s.Create(ctx, pod("default", "elsewhere", "n2", nil))
	a, _ := s.Create(ctx, pod("default", "a", "n1", nil))
	u := api.Clone(a.(*api.Pod))
	u.Labels = map[string]string{"v": "2"}
	s.Update(ctx, u, UpdateOptions{})
	zero := int64(0)
	s.Delete(ctx, podKey("default", "a"), api.DeleteOptions{GracePeriodSeconds: &zero})
	got := wantTypes(t, w, api.Added, api.Modified, api.Deleted)
	for _, e := range got {
		if e.Object.GetObjectMeta().Name != "a" {
			t.Errorf("n1's watch got %s of %s", e.Type, e.Object.GetObjectMeta().Name)
		}
	}
	noEvent(t, w)
	if e := wantTypes(t, other, api.Added); e[0].Object.GetObjectMeta().Name != "elsewhere" {
		t.Errorf("n2's watch got %s", e[0].Object.GetObjectMeta().Name)
	}

	// Binding (nodeName "" → n1) is an ADDED for n1, and a DELETED for a
	// watch of unbound pods (nodeName ""), which is keyed too.
	unbound := nodeWatch(t, s, "", WatchOptions{})
	b, _ := s.Create(ctx, pod("default", "b", "", nil))
	wantTypes(t, unbound, api.Added)
	bp := api.Clone(b.(*api.Pod))
	bp.Spec.NodeName = "n1"
	s.Update(ctx, bp, UpdateOptions{})
	wantTypes(t, w, api.Added)
	wantTypes(t, unbound, api.Deleted)
	noEvent(t, other)
}

func TestKeyedWatchStartsFromARevision(t *testing.T) {
	s := newStore(t, Config{})
	s.Create(ctx, pod("default", "before", "n1", nil)) // rev 1
	s.Create(ctx, pod("default", "x", "n2", nil))      // rev 2
	s.Create(ctx, pod("default", "after", "n1", nil))  // rev 3
	w := nodeWatch(t, s, "n1", WatchOptions{Revision: 1})
	if got := wantTypes(t, w, api.Added); got[0].Object.GetObjectMeta().Name != "after" {
		t.Errorf("watch from rev 1 got %s first, want after (rev 3)", got[0].Object.GetObjectMeta().Name)
	}
	noEvent(t, w)
}

// An idle node's watch is not expired by other nodes' changes rolling
// the history over, and its bookmarks carry the newest revision.
func TestKeyedWatchIdleThroughRollover(t *testing.T) {
	s := newStore(t, Config{HistorySize: 10})
	w := nodeWatch(t, s, "quiet", WatchOptions{BookmarkInterval: 20 * time.Millisecond})
	var last int64
	for i := range 100 {
		o, err := s.Create(ctx, pod("default", fmt.Sprintf("busy%d", i), "busy", nil))
		if err != nil {
			t.Fatal(err)
		}
		last = rv(o)
	}
	deadline := time.After(5 * time.Second)
	for bm := int64(0); bm < last; {
		select {
		case e := <-w.ResultChan():
			if e.Type != api.Bookmark {
				t.Fatalf("idle watch got %s (err %v), want only bookmarks", e.Type, e.Err)
			}
			bm = rv(e.Object)
		case <-deadline:
			t.Fatalf("no bookmark at revision %d", last)
		}
	}
	s.Create(ctx, pod("default", "mine", "quiet", nil))
	for {
		select {
		case e := <-w.ResultChan():
			if e.Type == api.Bookmark {
				continue
			}
			if e.Type != api.Added || e.Object.GetObjectMeta().Name != "mine" {
				t.Fatalf("got %s (err %v), want ADDED mine", e.Type, e.Err)
			}
			return
		case <-deadline:
			t.Fatal("the node's own pod never arrived")
		}
	}
}

// A node's watch that does not read while its own changes overrun the
// history is told it fell behind.
func TestKeyedWatchExpiresWhenBehindOnItsOwn(t *testing.T) {
	s := newStore(t, Config{HistorySize: 10})
	w := nodeWatch(t, s, "n1", WatchOptions{})
	for i := range 200 {
		s.Create(ctx, pod("default", fmt.Sprintf("p%d", i), "n1", nil))
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed without an error event")
			}
			if e.Type == api.Error {
				if !errdefs.IsExpired(e.Err) {
					t.Errorf("error event err = %v, want expired", e.Err)
				}
				return
			}
		case <-deadline:
			t.Fatal("slow keyed watcher never told it fell behind")
		}
	}
}

// Stopped keyed watchers leave nothing behind in the history.
func TestKeyedWatchStopForgets(t *testing.T) {
	s := newStore(t, Config{})
	w := nodeWatch(t, s, "n1", WatchOptions{})
	w.Stop()
	for range w.ResultChan() { // closed once the watcher has gone
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.hist.mu.Lock()
		n := len(s.hist.keyed)
		s.hist.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("a stopped keyed watcher is still registered")
}
