package cni

import "sync"

// uidLocks serialises the work on one pod uid while letting different pods
// proceed in parallel. The zero value is ready to use.
type uidLocks struct {
	mu sync.Mutex
	m  map[string]*uidLock
}

type uidLock struct {
	mu   sync.Mutex
	refs int // holders and waiters; the entry is dropped at zero
}

// lock locks uid and returns the function that unlocks it.
func (l *uidLocks) lock(uid string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*uidLock)
	}
	e := l.m[uid]
	if e == nil {
		e = &uidLock{}
		l.m[uid] = e
	}
	e.refs++
	l.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(l.m, uid)
		}
		l.mu.Unlock()
	}
}
