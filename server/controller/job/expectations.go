package job

import (
	"sync"
	"time"
)

// expectationsTimeout is how long a job waits for the pod informer to
// show the creates and deletes it asked for before it syncs anyway.
const expectationsTimeout = 5 * time.Minute

// expectations remembers, per job key, the pod creates and deletes
// issued that the pod informer has not shown yet; while any are
// outstanding no more pods are created or deleted, so a job never makes
// two pods for one missing. It is the replica set controller's, which is
// unexported there (server/controller/replicaset/expectations.go); both
// belong in one shared package.
type expectations struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds    int
	deletes map[string]struct{} // pod keys
	at      time.Time
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{now: now, m: map[string]*expectation{}}
}

// satisfied: nothing outstanding, or it has waited past the timeout.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && len(x.deletes) == 0) {
		return true
	}
	return e.now().Sub(x.at) > expectationsTimeout
}

// expect records n creates and the pods about to be deleted.
func (e *expectations) expect(key string, adds int, deletes []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: adds, deletes: make(map[string]struct{}, len(deletes)), at: e.now()}
	for _, p := range deletes {
		x.deletes[p] = struct{}{}
	}
	e.m[key] = x
}

// creationObserved: one create showed up (or failed and never will).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// deletionObserved: the pod was seen deleted (or its delete failed).
func (e *expectations) deletionObserved(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, pod)
	}
}

// forget drops a job's expectations.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
