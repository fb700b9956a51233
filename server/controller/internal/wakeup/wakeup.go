// Package wakeup queues controller keys at a time on a clock that tests
// can move (client.Queue.AddAfter runs on the wall clock): the job
// controller's back-off ends, active deadlines and TTLs, the cron job
// controller's next schedule times. It does not sync anything; it only
// calls the function it is given with the key.
package wakeup

import (
	"sync"
	"time"
)

// Clock is the controller's time source. AfterFunc calls f in its own
// goroutine after d, as time.AfterFunc; the func it returns stops the
// timer. Tests pass jobtest.Clock, which moves only when told.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

var _ Clock = RealClock{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Set queues keys at a time on the controller's clock. Only the earliest
// wake-up per key is kept; a later one is dropped, a sooner one replaces
// it. (client.Queue.AddAfter would do, but it runs on the wall clock.)
type Set struct {
	clock Clock
	add   func(key string)

	mu sync.Mutex
	m  map[string]*wakeup
}

type wakeup struct {
	at   time.Time
	stop func() bool
}

// New returns a Set that calls add with a key when its time comes on
// clock.
func New(clock Clock, add func(key string)) *Set {
	return &Set{clock: clock, add: add, m: map[string]*wakeup{}}
}

// At queues key at t (now if t has passed).
func (w *Set) At(key string, t time.Time) {
	d := t.Sub(w.clock.Now())
	if d <= 0 {
		w.add(key)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if x, ok := w.m[key]; ok {
		if !t.Before(x.at) {
			return
		}
		x.stop()
	}
	x := &wakeup{at: t}
	x.stop = w.clock.AfterFunc(d, func() {
		w.mu.Lock()
		if w.m[key] == x {
			delete(w.m, key)
		}
		w.mu.Unlock()
		w.add(key)
	})
	w.m[key] = x
}

// Forget cancels key's wake-up.
func (w *Set) Forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x, ok := w.m[key]; ok {
		x.stop()
		delete(w.m, key)
	}
}

// StopAll cancels every wake-up.
func (w *Set) StopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, x := range w.m {
		x.stop()
		delete(w.m, k)
	}
}
