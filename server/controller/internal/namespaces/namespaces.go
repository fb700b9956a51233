// Package namespaces answers whether a namespace is going away, which a
// controller asks when a create in it failed: a namespace being deleted
// refuses new objects, and that failure is expected, not an event to
// record. It does not delete namespaces or their contents.
package namespaces

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// Closing reports whether namespace ns, read through b, is gone or being
// deleted. A failed read that is not "not found" says no.
func Closing(ctx context.Context, b client.Backend, ns string) bool {
	n, err := client.For[*api.Namespace](b, "").Get(ctx, ns)
	return errdefs.IsNotFound(err) || (err == nil && n.DeletionTimestamp != nil)
}
