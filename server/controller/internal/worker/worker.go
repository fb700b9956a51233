// Package worker runs a controller's sync loop over its work queue: take
// a key, sync it, reset its back-off when the sync succeeded, queue it
// again rate-limited when it failed; and (Loop) runs a controller's
// informers and its workers together until its context ends. It does not
// decide what a sync does or how a failure is logged; the controller
// passes both in.
package worker

import (
	"context"

	"github.com/skiffhq/skiff/server/client"
)

// Run takes keys from q until q shuts down and syncs each. A key whose
// sync succeeded, or failed because ctx ended, has its back-off
// forgotten; one whose sync failed is passed to failed (to log) and
// queued again rate-limited.
func Run(ctx context.Context, q *client.Queue[string], sync func(ctx context.Context, key string) error, failed func(key string, err error)) {
	for {
		key, ok := q.Get()
		if !ok {
			return
		}
		if err := sync(ctx, key); err == nil || ctx.Err() != nil {
			q.Forget(key)
		} else {
			failed(key, err)
			q.AddRateLimited(key)
		}
		q.Done(key)
	}
}
