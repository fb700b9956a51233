package jobtest

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestClockTimers(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewClock(t0)
	var a, b atomic.Int32
	c.AfterFunc(10*time.Second, func() { a.Add(1) })
	stopB := c.AfterFunc(20*time.Second, func() { b.Add(1) })
	c.Advance(9 * time.Second)
	if n := c.Pending(); n != 2 {
		t.Fatalf("%d pending after 9 s, want 2", n)
	}
	c.Advance(time.Second)
	wait(t, func() bool { return a.Load() == 1 })
	if !stopB() {
		t.Error("stop of a pending timer reported false")
	}
	c.Set(t0.Add(time.Hour))
	time.Sleep(10 * time.Millisecond)
	if b.Load() != 0 || c.Pending() != 0 {
		t.Errorf("stopped timer fired %d times, %d pending; want 0, 0", b.Load(), c.Pending())
	}
	c.Set(t0) // never backwards
	if !c.Now().Equal(t0.Add(time.Hour)) {
		t.Errorf("clock went back to %v", c.Now())
	}
	c.AfterFunc(0, func() { a.Add(1) })
	wait(t, func() bool { return a.Load() == 2 })
}

func wait(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition never held")
}
