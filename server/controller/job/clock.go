package job

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

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// wakeups queues keys at a time on the controller's clock: the back-off
// end, the active deadline and the TTL of a job. Only the earliest
// wake-up per key is kept; a later one is dropped, a sooner one replaces
// it. (client.Queue.AddAfter would do, but it runs on the wall clock.)
type wakeups struct {
	clock Clock
	add   func(key string)

	mu sync.Mutex
	m  map[string]*wakeup
}

type wakeup struct {
	at   time.Time
	stop func() bool
}

func newWakeups(clock Clock, add func(string)) *wakeups {
	return &wakeups{clock: clock, add: add, m: map[string]*wakeup{}}
}

// at queues key at t (now if t has passed).
func (w *wakeups) at(key string, t time.Time) {
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

// forget cancels key's wake-up.
func (w *wakeups) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x, ok := w.m[key]; ok {
		x.stop()
		delete(w.m, key)
	}
}

// stopAll cancels every wake-up.
func (w *wakeups) stopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, x := range w.m {
		x.stop()
		delete(w.m, k)
	}
}
