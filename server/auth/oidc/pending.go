package oidc

import (
	"container/list"
	"sync"
	"time"
)

// Limits of the sign-ins in flight. A browser that never comes back
// leaves an entry behind; the cap keeps a flood of Start calls from
// growing memory, at the price of the oldest unfinished sign-ins.
const (
	// MaxPending is how many sign-ins may be in flight at once; the
	// oldest is dropped to make room.
	MaxPending = 10000
	// PendingTTL is how long a sign-in may take from Start to Finish.
	PendingTTL = 10 * time.Minute
)

// pending is what Start keeps for Finish, keyed by state.
type pending struct {
	state    string
	nonce    string
	verifier string // PKCE code verifier
	returnTo string
	created  time.Time
}

// pendingStore holds sign-ins in flight, oldest first, so that both
// expiry and the cap drop from the front.
type pendingStore struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	byState map[string]*list.Element // of *pending
	order   *list.List               // oldest at Front
}

func newPendingStore(max int, ttl time.Duration) *pendingStore {
	return &pendingStore{max: max, ttl: ttl, byState: map[string]*list.Element{}, order: list.New()}
}

// add keeps p, dropping expired entries and, past the cap, the oldest.
// It reports how many entries the cap dropped.
func (s *pendingStore) add(p *pending) (dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(p.created)
	for s.order.Len() >= s.max {
		s.removeLocked(s.order.Front())
		dropped++
	}
	s.byState[p.state] = s.order.PushBack(p)
	return dropped
}

// take removes and returns the entry for state. found is false for an
// unknown (or already used, or dropped) state; expired is true when the
// entry was there but is older than the TTL.
func (s *pendingStore) take(state string, now time.Time) (p *pending, found, expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byState[state]
	if !ok {
		return nil, false, false
	}
	s.removeLocked(e)
	p = e.Value.(*pending)
	if now.Sub(p.created) > s.ttl {
		return nil, true, true
	}
	return p, true, false
}

func (s *pendingStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

func (s *pendingStore) expireLocked(now time.Time) {
	for e := s.order.Front(); e != nil; e = s.order.Front() {
		if now.Sub(e.Value.(*pending).created) <= s.ttl {
			return
		}
		s.removeLocked(e)
	}
}

func (s *pendingStore) removeLocked(e *list.Element) {
	delete(s.byState, e.Value.(*pending).state)
	s.order.Remove(e)
}
