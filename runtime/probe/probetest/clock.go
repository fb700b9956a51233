package probetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/skiffhq/skiff/runtime/probe"
)

// Clock is a fake probe.Clock. Time stands still until Advance; timers
// fire when Advance reaches them. BlockUntil and WaitUntil let a test wait
// until the code under test has dealt with every fired timer, so that
// nothing depends on real timing.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	armed   map[*timer]bool
	fired   int // timers fired and not yet Reset or Stopped
	created int
	changed chan struct{} // closed and replaced on every change
}

var _ probe.Clock = (*Clock)(nil)

// TimerCounts counts a Clock's timers.
type TimerCounts struct {
	// Armed: waiting for their time.
	Armed int
	// Fired: reached by Advance and not yet Reset or Stopped, that is,
	// their owner is still handling them.
	Fired int
	// Created: NewTimer calls so far.
	Created int
}

// NewClock returns a Clock reading now.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now, armed: make(map[*timer]bool), changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock reaches Now()+d.
func (c *Clock) NewTimer(d time.Duration) probe.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.created++
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock by d and fires every timer due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.armed {
		if !t.at.After(c.now) {
			c.fireLocked(t)
		}
	}
	c.notifyLocked()
}

// Counts returns the clock's timer counts.
func (c *Clock) Counts() TimerCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.countsLocked()
}

// countsLocked is Counts with c.mu held.
func (c *Clock) countsLocked() TimerCounts {
	return TimerCounts{Armed: len(c.armed), Fired: c.fired, Created: c.created}
}

// BlockUntil waits until exactly n timers are armed and every fired one
// has been Reset or Stopped (its owner is done with it), or ctx ends.
func (c *Clock) BlockUntil(ctx context.Context, n int) error {
	return c.WaitUntil(ctx, fmt.Sprintf("%d armed timers and none fired", n), func(t TimerCounts) bool {
		return t.Armed == n && t.Fired == 0
	})
}

// WaitUntil waits until cond holds for the clock's timers, or ctx ends;
// what names the condition in the error.
func (c *Clock) WaitUntil(ctx context.Context, what string, cond func(TimerCounts) bool) error {
	for {
		c.mu.Lock()
		got, changed := c.countsLocked(), c.changed
		c.mu.Unlock()
		if cond(got) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("fake clock: waiting for %s, have %+v: %w", what, got, ctx.Err())
		}
	}
}

// fireLocked sends t's value. c.mu is held.
func (c *Clock) fireLocked(t *timer) {
	delete(c.armed, t)
	t.fired = true
	c.fired++
	t.ch <- c.now // room: the channel is drained whenever t is armed
}

// disarmLocked takes t out of the armed and fired sets and drops a value
// nobody received. c.mu is held. It reports whether t was armed.
func (c *Clock) disarmLocked(t *timer) bool {
	was := c.armed[t]
	delete(c.armed, t)
	if t.fired {
		t.fired = false
		c.fired--
	}
	select {
	case <-t.ch:
	default:
	}
	return was
}

// notifyLocked wakes waiters. c.mu is held.
func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// timer is a Clock's timer.
type timer struct {
	c     *Clock
	at    time.Time
	fired bool
	ch    chan time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

// Stop disarms t.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.c.disarmLocked(t)
	t.c.notifyLocked()
	return was
}

// Reset re-arms t to fire d from now; d <= 0 fires it at once.
func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.c.disarmLocked(t)
	t.at = t.c.now.Add(d)
	if d <= 0 {
		t.c.fireLocked(t)
	} else {
		t.c.armed[t] = true
	}
	t.c.notifyLocked()
	return was
}
