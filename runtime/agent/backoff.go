package agent

import (
	"sync"
	"time"
)

// Crash-loop back-off, as kubelet: the first restart is at once, then
// 10 s, doubling to 5 min; a container that ran 10 min resets it.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

type backoffEntry struct {
	delay time.Duration
	last  time.Time
}

// backoff tracks restart delays per pod container (in memory only: after
// an agent restart every container starts with a clean slate).
type backoff struct {
	mu      sync.Mutex
	entries map[string]backoffEntry
	now     func() time.Time
}

func newBackoff(now func() time.Time) *backoff {
	return &backoff{entries: map[string]backoffEntry{}, now: now}
}

// wait returns how long the container must still wait before its next
// restart (0: restart now), given how long its last run lasted.
func (b *backoff) wait(key string, ran time.Duration) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return 0
	}
	if ran >= backoffReset {
		delete(b.entries, key)
		return 0
	}
	if left := e.last.Add(e.delay).Sub(b.now()); left > 0 {
		return left
	}
	return 0
}

// delay is the back-off the key is in, for messages.
func (b *backoff) delay(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.entries[key].delay
}

// restarted records a restart now and grows the next delay.
func (b *backoff) restarted(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	switch {
	case !ok:
		e.delay = backoffInitial
	default:
		e.delay = min(e.delay*2, backoffMax)
	}
	e.last = b.now()
	b.entries[key] = e
}

// reset drops one container's entry.
func (b *backoff) reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, key)
}

// forget drops every entry of a pod.
func (b *backoff) forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix && k[len(prefix)] == '/' {
			delete(b.entries, k)
		}
	}
}
