package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Resource is typed access to one kind in one namespace:
//
//	pods := client.For[*api.Pod](backend, "default")
//	p, err := pods.Get(ctx, "web")
type Resource[T api.Object] struct {
	backend   Backend
	resource  string
	namespace string
}

// For returns typed access to kind T in namespace ("" for cluster-scoped
// kinds, or for List and Watch across all namespaces).
func For[T api.Object](b Backend, namespace string) *Resource[T] {
	return &Resource[T]{backend: b, resource: resourceOf[T](), namespace: namespace}
}

func typed[T api.Object](obj api.Object, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("the server answered with a %T, not a %T", obj, zero)
	}
	return t, nil
}

// Create stores a new object.
func (r *Resource[T]) Create(ctx context.Context, obj T) (T, error) {
	return typed[T](r.backend.Create(ctx, r.resource, r.namespace, obj))
}

// Get reads one object.
func (r *Resource[T]) Get(ctx context.Context, name string) (T, error) {
	return typed[T](r.backend.Get(ctx, r.resource, r.namespace, name))
}

// List reads one page: the objects, the list's resourceVersion and the
// continue token for the next page ("" when done).
func (r *Resource[T]) List(ctx context.Context, opts api.ListOptions) ([]T, string, string, error) {
	l, err := r.backend.List(ctx, r.resource, r.namespace, opts)
	if err != nil {
		return nil, "", "", err
	}
	out := make([]T, 0, len(l.Items))
	for _, o := range l.Items {
		t, err := typed[T](o, nil)
		if err != nil {
			return nil, "", "", err
		}
		out = append(out, t)
	}
	return out, l.ResourceVersion, l.Continue, nil
}

// Update replaces an object (not its status).
func (r *Resource[T]) Update(ctx context.Context, obj T) (T, error) {
	return typed[T](r.backend.Update(ctx, r.resource, r.namespace, obj, ""))
}

// UpdateStatus replaces an object's status.
func (r *Resource[T]) UpdateStatus(ctx context.Context, obj T) (T, error) {
	return typed[T](r.backend.Update(ctx, r.resource, r.namespace, obj, "status"))
}

// Patch applies a JSON merge patch.
func (r *Resource[T]) Patch(ctx context.Context, name string, patch []byte) (T, error) {
	return typed[T](r.backend.Patch(ctx, r.resource, r.namespace, name, patch, ""))
}

// Delete deletes (or starts deleting) an object.
func (r *Resource[T]) Delete(ctx context.Context, name string, opts api.DeleteOptions) (T, error) {
	return typed[T](r.backend.Delete(ctx, r.resource, r.namespace, name, opts))
}

// Watch streams changes after opts.ResourceVersion.
func (r *Resource[T]) Watch(ctx context.Context, opts api.ListOptions) (api.Watcher, error) {
	return r.backend.Watch(ctx, r.resource, r.namespace, opts)
}

// RetryOnConflict runs fn — typically get, change, update — again when it
// fails with errdefs.ErrConflict, with a short jittered wait, a few times.
func RetryOnConflict(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 6; attempt++ {
		if err = fn(); !errdefs.IsConflict(err) {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(10*time.Millisecond)<<attempt)) + time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return err
}
