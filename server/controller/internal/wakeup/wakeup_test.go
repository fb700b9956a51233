package wakeup

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/controller/job/jobtest"
)

var _ Clock = (*jobtest.Clock)(nil)

func TestWakeupsKeepTheEarliest(t *testing.T) {
	clk := jobtest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var fired atomic.Int32
	w := New(clk, func(string) { fired.Add(1) })
	w.At("a", clk.Now().Add(time.Minute))
	w.At("a", clk.Now().Add(2*time.Minute)) // later: dropped
	w.At("a", clk.Now().Add(30*time.Second))
	if n := clk.Pending(); n != 1 {
		t.Fatalf("%d timers pending, want 1", n)
	}
	if at, _ := clk.NextTimer(); !at.Equal(clk.Now().Add(30 * time.Second)) {
		t.Fatalf("timer at %v, want in 30 s", at)
	}
	clk.Advance(30 * time.Second)
	waitFor(t, func() bool { return fired.Load() == 1 })
	w.At("b", clk.Now().Add(time.Second))
	w.Forget("b")
	clk.Advance(time.Hour)
	time.Sleep(20 * time.Millisecond)
	if n := fired.Load(); n != 1 {
		t.Errorf("%d wake-ups, want 1 (b was forgotten)", n)
	}
	w.At("c", clk.Now().Add(-time.Second)) // past: at once
	waitFor(t, func() bool { return fired.Load() == 2 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition never held")
}
