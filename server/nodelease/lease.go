// Package nodelease keeps nodes' liveness leases in the server's memory.
// An agent renews its lease every few seconds; writing that to the store
// would cost a flash write per node every few seconds for nothing, so
// leases live only here. After a server restart every lease is missing
// until its agent renews it, which the node lifecycle controller must
// treat as "unknown for one lease period", not as "dead".
package nodelease

import (
	"sync"
	"time"
)

// Lease is one node's claim to be alive.
type Lease struct {
	// Holder is who renewed it (the node's identity).
	Holder string `json:"holderIdentity"`
	// Duration is how long after RenewTime the node counts as alive.
	Duration time.Duration `json:"-"`
	// DurationSeconds is Duration for the API.
	DurationSeconds int `json:"leaseDurationSeconds"`
	// RenewTime is when it was last renewed.
	RenewTime time.Time `json:"renewTime"`
	// AcquireTime is when this server first saw it.
	AcquireTime time.Time `json:"acquireTime"`
}

// Expired reports whether the lease ran out by now.
func (l Lease) Expired(now time.Time) bool { return now.After(l.RenewTime.Add(l.Duration)) }

// Table is the leases of all nodes. The zero value is not usable; use New.
type Table struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]Lease
}

// New returns an empty table; now is the clock (nil means time.Now).
func New(now func() time.Time) *Table {
	if now == nil {
		now = time.Now
	}
	return &Table{now: now, m: map[string]Lease{}}
}

// Renew records that node is alive for d from now.
func (t *Table) Renew(node, holder string, d time.Duration) Lease {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	l, ok := t.m[node]
	if !ok || l.Holder != holder {
		l.AcquireTime = now
	}
	l.Holder, l.Duration, l.DurationSeconds, l.RenewTime = holder, d, int(d/time.Second), now
	t.m[node] = l
	return l
}

// Get returns node's lease.
func (t *Table) Get(node string) (Lease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.m[node]
	return l, ok
}

// Forget drops node's lease (the node was deleted).
func (t *Table) Forget(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, node)
}
