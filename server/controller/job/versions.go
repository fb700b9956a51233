package job

import (
	"strconv"
	"sync"
)

// versions remembers, per key, the resourceVersion of the last status
// this controller wrote, so that a sync on a cache that does not show
// that write yet is skipped: acting on its own stale status (a job not
// yet seen finished) would, say, replace a pod of a job that has failed.
// The informer's event for the write queues the key again. A
// resourceVersion is the store's revision, so versions compare as
// numbers; one that does not parse is never stale.
type versions struct {
	mu sync.Mutex
	m  map[string]int64
}

func newVersions() *versions { return &versions{m: map[string]int64{}} }

// wrote records a write of key at rv.
func (v *versions) wrote(key, rv string) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n > v.m[key] {
		v.m[key] = n
	}
}

// stale reports whether the cached rv predates the last write of key;
// once it does not, the write is forgotten.
func (v *versions) stale(key, rv string) bool {
	n, err := strconv.ParseInt(rv, 10, 64)
	v.mu.Lock()
	defer v.mu.Unlock()
	w, ok := v.m[key]
	if !ok || err != nil {
		return false
	}
	if n < w {
		return true
	}
	delete(v.m, key)
	return false
}

func (v *versions) forget(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, key)
}
