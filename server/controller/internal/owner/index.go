package owner

import "github.com/skiffhq/skiff/server/api"

// ControllerIndex returns an informer index function that files an
// object under the UID of its controller, if that is of kind (of any
// kind if kind is "").
func ControllerIndex[T api.Object](kind string) func(T) []string {
	return func(o T) []string {
		if ref := api.ControllerOf(o.GetObjectMeta()); ref != nil && (kind == "" || ref.Kind == kind) {
			return []string{ref.UID}
		}
		return nil
	}
}

// Indexer is what Controlled needs of a cache; *client.Informer[T] is
// one.
type Indexer[T api.Object] interface {
	ByIndex(index, value string) []T
}

// Controlled returns the cached objects in namespace ns whose controller
// has uid, from a cache with a ControllerIndex named index.
func Controlled[T api.Object](cache Indexer[T], index, ns, uid string) []T {
	var out []T
	for _, o := range cache.ByIndex(index, uid) {
		if o.GetObjectMeta().Namespace == ns {
			out = append(out, o)
		}
	}
	return out
}
