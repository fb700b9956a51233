package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Regressions found in review: each of these failed before the fix.

// A keyed watch from a revision older than the ring is expired, not
// started at the ring's oldest change (the ones between would be lost
// without a word).
func TestKeyedRegressionAddTriggerOldRevSilent(t *testing.T) {
	h := newHistory(4, 0)
	var evs []event
	for i := int64(1); i <= 6; i++ {
		p := pod("default", fmt.Sprintf("p%d", i), "n1", nil)
		evs = append(evs, newEvent(i, api.Added, "pods", p, nil))
	}
	h.append(evs) // ring holds 3..6, compacted=2
	if _, err := h.addTrigger(triggerKey{"pods", "n1"}, 1); !errdefs.IsExpired(err) {
		t.Errorf("keyed watch from rev 1 (ring from 3): err %v, want expired (rev 2 would be lost silently)", err)
	}
}

// Through Watch: start at the oldest kept revision while another goroutine
// writes; the ring may roll between Watch's after() check and addTrigger.
func TestKeyedRegressionWatchRaceSilentLoss(t *testing.T) {
	s := newStore(t, Config{HistorySize: 2, MaxBatch: 1})
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			s.Create(ctx, pod("default", fmt.Sprintf("p%d", i), "n1", nil))
		}
	}()
	defer func() { stop.Store(true); <-done }()
	sel, _ := api.ParseFieldSelector("spec.nodeName=n1")
	deadline := time.Now().Add(2 * time.Second) // it failed within milliseconds before the fix
	for tries := 0; time.Now().Before(deadline); tries++ {
		s.hist.mu.Lock()
		from := s.hist.compacted
		s.hist.mu.Unlock()
		if from == 0 {
			continue
		}
		w, err := s.Watch(ctx, "pods", WatchOptions{Revision: from, Fields: sel})
		if err != nil {
			continue // Expired at once: fine
		}
		select {
		case e := <-w.ResultChan():
			if e.Type != api.Error {
				if r := rv(e.Object); r != from+1 {
					t.Fatalf("try %d: watch from %d got first event at %d with no error: %d changes lost silently", tries, from, r, r-from-1)
				}
			}
		case <-time.After(2 * time.Second):
		}
		w.Stop()
	}
}

// A keyed watch from a future revision skips the changes at or before
// it, as the unkeyed path does.
func TestKeyedRegressionFutureRevision(t *testing.T) {
	s := newStore(t, Config{})
	sel, _ := api.ParseFieldSelector("spec.nodeName=n1")
	kw, _ := s.Watch(ctx, "pods", WatchOptions{Revision: 5, Fields: sel})
	uw, _ := s.Watch(ctx, "pods", WatchOptions{Revision: 5})
	for i := range 6 {
		s.Create(ctx, pod("default", fmt.Sprintf("p%d", i), "n1", nil))
	}
	k := <-kw.ResultChan()
	u := <-uw.ResultChan()
	if rv(k.Object) != rv(u.Object) {
		t.Errorf("watch from rev 5: keyed first event rev %d, unkeyed %d", rv(k.Object), rv(u.Object))
	}
}

// List then Watch from the list's revision (what every informer does).
// The list can read a commit whose events are not in the ring yet; the
// keyed watch must not replay changes the list already held.
func TestKeyedRegressionWatchAfterListDuplicates(t *testing.T) {
	s := newStore(t, Config{MaxBatch: 1})
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			s.Create(ctx, pod("default", fmt.Sprintf("p%d", i), "n1", nil))
		}
	}()
	defer func() { stop.Store(true); <-done }()
	sel, _ := api.ParseFieldSelector("spec.nodeName=n1")
	deadline := time.Now().Add(2 * time.Second) // it failed within milliseconds before the fix
	for tries := 0; time.Now().Before(deadline); tries++ {
		res, err := s.List(ctx, "pods", ListOptions{Fields: sel, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.Watch(ctx, "pods", WatchOptions{Revision: res.Revision, Fields: sel})
		if err != nil {
			continue
		}
		select {
		case e := <-w.ResultChan():
			if e.Type != api.Error && rv(e.Object) <= res.Revision {
				t.Fatalf("try %d: watch from %d (the list's revision) delivered %s at revision %d, which the list already held", tries, res.Revision, e.Type, rv(e.Object))
			}
		case <-time.After(2 * time.Second):
		}
		w.Stop()
	}
}

// The List-before-append window at history level: one batch deletes pod x
// (rev 9) and creates a new x (rev 10); a list read at rev 10 holds the new
// x; the keyed watch from 10 must not deliver DELETED x (rev 9) — an
// informer would drop the live pod from its cache — nor ADDED x again.
func TestKeyedRegressionReplaysBatchBeforeListRev(t *testing.T) {
	h := newHistory(16, 8)
	tr, err := h.addTrigger(triggerKey{"pods", "n1"}, 10) // Watch from the list's revision 10
	if err != nil {
		t.Fatal(err)
	}
	old := pod("default", "x", "n1", nil)
	cur := pod("default", "x", "n1", nil)
	h.append([]event{newEvent(9, api.Deleted, "pods", old, nil), newEvent(10, api.Added, "pods", cur, nil)})
	got, _, _, _ := h.keyedAfter(tr, 10, nil, 100)
	for _, e := range got {
		if e.rev <= 10 {
			t.Errorf("watch from 10 delivered %s at rev %d", e.typ, e.rev)
		}
	}
}
