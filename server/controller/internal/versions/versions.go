// Package versions remembers the resourceVersion of the last status a
// controller wrote per key, so that a sync on a cache that does not show
// that write yet can be skipped, and writes statuses so. It does not
// compute statuses or decide when one is out of date.
package versions

import (
	"context"
	"strconv"
	"sync"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// Versions remembers, per key, the resourceVersion of the last status
// this controller wrote, so that a sync on a cache that does not show
// that write yet is skipped: acting on its own stale status (a job not
// yet seen finished) would, say, replace a pod of a job that has failed;
// for a cron job, an old lastScheduleTime or active list would redo work
// the write recorded.
// The informer's event for the write queues the key again. A
// resourceVersion is the store's revision, so versions compare as
// numbers; one that does not parse is never stale.
type Versions struct {
	mu sync.Mutex
	m  map[string]int64
}

// New returns an empty Versions.
func New() *Versions { return &Versions{m: map[string]int64{}} }

// Wrote records a write of key at rv.
func (v *Versions) Wrote(key, rv string) {
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

// Stale reports whether the cached rv predates the last write of key;
// once it does not, the write is forgotten.
func (v *Versions) Stale(key, rv string) bool {
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

// Forget drops what is remembered of key.
func (v *Versions) Forget(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, key)
}

// UpdateStatus writes next (a copy of the cached object carrying its new
// status) with UpdateStatus through b and, once written, records its
// resourceVersion in v under key. An object that is gone is no error; a
// conflict is returned as it is: the cache was behind.
func UpdateStatus[T api.Object](ctx context.Context, v *Versions, b client.Backend, key string, next T) error {
	m := next.GetObjectMeta()
	written, err := client.For[T](b, m.Namespace).UpdateStatus(ctx, next)
	if err == nil {
		v.Wrote(key, written.GetObjectMeta().ResourceVersion)
	}
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}
