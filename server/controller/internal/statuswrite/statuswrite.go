// Package statuswrite writes a workload's status computed from a cached
// copy, retrying once on the latest copy when the cache was behind. It
// does not compute statuses or decide whether one changed; the
// controller does both.
package statuswrite

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// Write puts the status (set writes it onto the object it is given) on a
// copy of cached and writes it with UpdateStatus through b. On a
// conflict (the cache was behind) it writes it once more onto the latest
// copy, unless that is another object (another UID) or its spec changed
// (another generation): the next sync computes anew. An object that is
// gone is no error.
func Write[T api.Object](ctx context.Context, b client.Backend, cached T, set func(next T)) error {
	m := cached.GetObjectMeta()
	objs := client.For[T](b, m.Namespace)
	next := api.Clone(cached)
	for attempt := 0; ; attempt++ {
		set(next)
		_, err := objs.UpdateStatus(ctx, next)
		if !errdefs.IsConflict(err) || attempt == 1 {
			if errdefs.IsNotFound(err) {
				return nil
			}
			return err
		}
		// The cache was behind: write the status onto the latest copy.
		if next, err = objs.Get(ctx, m.Name); err != nil {
			if errdefs.IsNotFound(err) {
				return nil
			}
			return err
		}
		if nm := next.GetObjectMeta(); nm.UID != m.UID || nm.Generation != m.Generation {
			return nil // the next sync computes anew
		}
	}
}
