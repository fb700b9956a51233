package owner

import "github.com/skiffhq/skiff/server/api"

// The index names the controllers share. The controllers read one shared
// informer per kind (client.Informers), where an index name means one
// function: a name used twice for different functions would give one of
// its users the wrong answers. So every index a controller adds is one of
// these, with the function beside it — or, for an index only one
// controller reads, a name prefixed with that controller's package
// ("endpoints.pod-label") kept beside its function there.
const (
	// ByController files an object under its controller's UID
	// (ControllerIndex). UIDs are unique across kinds, so the owner's
	// kind need not be part of the key.
	ByController = "controller"
	// ByNamespace files an object under its namespace (NamespaceIndex).
	ByNamespace = "namespace"
	// ByOrphanNamespace files a pod no controller owns under its
	// namespace (OrphanIndex).
	ByOrphanNamespace = "orphans"
	// ByClaim files a pod under "namespace/claim" for each
	// persistentVolumeClaim volume it has (ClaimIndex); the name is
	// Kubernetes' for the same index.
	ByClaim = "pod-pvc-index"
)

// ClaimIndex files a pod under the keys of the claims it names; add it
// as ByClaim.
func ClaimIndex(p *api.Pod) []string {
	var out []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			out = append(out, p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName)
		}
	}
	return out
}

// ControllerIndex files an object under the UID of its controller; add
// it as ByController.
func ControllerIndex[T api.Object](o T) []string {
	if ref := api.ControllerOf(o.GetObjectMeta()); ref != nil {
		return []string{ref.UID}
	}
	return nil
}

// NamespaceIndex files an object under its namespace; add it as
// ByNamespace.
func NamespaceIndex[T api.Object](o T) []string {
	return []string{o.GetObjectMeta().Namespace}
}

// Indexer is what Controlled needs of a cache; *client.Informer[T] is
// one.
type Indexer[T api.Object] interface {
	ByIndex(index, value string) []T
}

// Controlled returns the cached objects in namespace ns whose controller
// has uid, from a cache with ControllerIndex as ByController.
func Controlled[T api.Object](cache Indexer[T], ns, uid string) []T {
	var out []T
	for _, o := range cache.ByIndex(ByController, uid) {
		if o.GetObjectMeta().Namespace == ns {
			out = append(out, o)
		}
	}
	return out
}
