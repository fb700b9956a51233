package probetest

import (
	"context"
	"testing"
	"time"
)

func TestClockTimers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	a := c.NewTimer(time.Second)
	b := c.NewTimer(3 * time.Second)
	if got, want := c.Counts(), (TimerCounts{Armed: 2, Created: 2}); got != want {
		t.Fatalf("counts = %+v, want %+v", got, want)
	}

	c.Advance(2 * time.Second)
	select {
	case got := <-a.C():
		if want := t0.Add(2 * time.Second); !got.Equal(want) {
			t.Errorf("a fired at %s, want %s", got, want)
		}
	default:
		t.Fatal("a did not fire at 2s")
	}
	select {
	case <-b.C():
		t.Fatal("b fired at 2s, want 3s")
	default:
	}
	if got, want := c.Counts(), (TimerCounts{Armed: 1, Fired: 1, Created: 2}); got != want {
		t.Errorf("counts after a fired = %+v, want %+v", got, want)
	}
	// a is fired and not yet reset: BlockUntil waits for its owner.
	short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := c.BlockUntil(short, 1); err == nil {
		t.Errorf("BlockUntil(1) with a fired timer not reset = nil, want it to wait")
	}
	stop()
	a.Reset(time.Second)
	if err := c.BlockUntil(ctx, 2); err != nil {
		t.Fatal(err)
	}

	c.Advance(time.Second) // 3s: both due
	if !b.Stop() && len(b.C()) != 0 {
		t.Errorf("b: a value remains after Stop")
	}
	a.Stop()
	if got, want := c.Counts(), (TimerCounts{Created: 2}); got != want {
		t.Errorf("counts after stopping both = %+v, want %+v", got, want)
	}
	if !c.Now().Equal(t0.Add(3 * time.Second)) {
		t.Errorf("now = %s, want %s", c.Now(), t0.Add(3*time.Second))
	}

	z := c.NewTimer(0)
	select {
	case <-z.C():
	default:
		t.Error("a zero timer did not fire at once")
	}
}
