package store

import (
	"context"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// Store keeps objects and their history of changes. Implementations:
// *Bolt (this package). All methods are safe for concurrent use.
//
// Objects passed in are not retained; objects returned are owned by the
// caller, except those delivered by Watch, which are shared between
// watchers and must be treated as read-only (api.Clone before changing).
type Store interface {
	Creater
	Getter
	Lister
	Updater
	Deleter
	Watcher
	// Revision is the store's current revision: the resourceVersion of the
	// last change.
	Revision() int64
	Close() error
}

// Creater stores a new object. The store sets uid, creationTimestamp,
// resourceVersion and generation (1), and a name from generateName if the
// name is empty. errdefs.ErrAlreadyExists if the key is taken.
type Creater interface {
	Create(ctx context.Context, obj api.Object) (api.Object, error)
}

// Getter reads one object. errdefs.ErrNotFound if absent.
type Getter interface {
	Get(ctx context.Context, key api.Key) (api.Object, error)
}

// Lister reads the objects of one resource matching opts, at one revision.
type Lister interface {
	List(ctx context.Context, resource string, opts ListOptions) (*ListResult, error)
}

// Updater replaces an object. If obj carries a resourceVersion it must be
// the stored one (else errdefs.ErrConflict). An update that changes nothing
// writes nothing and returns the stored object unchanged. The store keeps
// uid and creationTimestamp, bumps generation when anything but metadata
// and status changed, and removes an object whose deletionTimestamp is set
// once its finalizers are empty and no grace period is pending.
type Updater interface {
	Update(ctx context.Context, obj api.Object, opts UpdateOptions) (api.Object, error)
}

// Deleter deletes an object: at once, or — when it has finalizers, or is a
// pod bound to a node with a grace period — by setting deletionTimestamp
// and returning the object, which is removed later (see Updater). Returns
// the last state of the object.
//
// opts.PropagationPolicy sets finalizers in the same transaction:
// Foreground adds api.FinalizerForeground, Orphan api.FinalizerOrphan
// (each drops the other), Background drops both, "" leaves them be; any
// other value is an api.FieldErrors. A namespace always gets
// api.FinalizerNamespace and status.phase Terminating instead (Orphan is
// refused), and no object can be created in it from then on. A second
// delete of an object being deleted writes only if it changes the
// finalizers or shortens the grace period.
type Deleter interface {
	Delete(ctx context.Context, key api.Key, opts api.DeleteOptions) (api.Object, error)
}

// Watcher streams changes to one resource after a revision.
type Watcher interface {
	Watch(ctx context.Context, resource string, opts WatchOptions) (api.Watcher, error)
}

// ListOptions select a list. Zero values select everything.
type ListOptions struct {
	Namespace string       // "" = all namespaces
	Labels    api.Selector // nil = everything
	Fields    api.Selector // nil = everything; keys as api.SelectableFields
	Limit     int64        // 0 = no limit
	Continue  string       // token from a previous page's ListResult
}

// ListResult is one page of a list.
type ListResult struct {
	Items []api.Object
	// Revision the page was read at.
	Revision int64
	// Continue is set when more items remain: pass it to get the next page.
	Continue string
}

// UpdateOptions tune an update.
type UpdateOptions struct {
	// Subresource "status" writes only the status of a kind that has one;
	// "" writes everything but the status.
	Subresource string
}

// WatchOptions select a watch.
type WatchOptions struct {
	Namespace string
	Labels    api.Selector
	Fields    api.Selector
	// Revision: deliver every change after it. 0 means from now.
	// errdefs.ErrExpired if it is older than the kept history.
	Revision int64
	// BookmarkInterval, when non-zero, sends a Bookmark event carrying the
	// watch's current revision at that interval while it is idle.
	BookmarkInterval time.Duration
}
