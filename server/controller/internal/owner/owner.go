// Package owner is what controllers share about controller
// ownerReferences: finding, in an informer cache, the object one names;
// checking afresh that an object may still adopt; writing a pod adopted or
// released; indexing and adopting orphan pods (orphans.go); and splitting
// the "namespace/name" keys controllers queue. It does not decide what a
// controller owns: each claims its pods itself.
package owner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// Getter is what Resolve needs of a cache; *client.Informer[T] is one.
type Getter[T api.Object] interface {
	Get(namespace, name string) (T, bool)
}

// Resolve returns the object of kind that ref names in namespace ns, if
// the cache holds it with ref's UID; otherwise (nil ref, another kind, not
// cached, or a namesake that replaced it) the zero T.
func Resolve[T api.Object](cache Getter[T], kind, ns string, ref *api.OwnerReference) T {
	var none T
	if ref == nil || ref.Kind != kind {
		return none
	}
	o, ok := cache.Get(ns, ref.Name)
	if !ok || o.GetObjectMeta().UID != ref.UID {
		return none
	}
	return o
}

// SplitKey splits a queue key "namespace/name".
func SplitKey(key string) (ns, name string) {
	ns, name, _ = strings.Cut(key, "/")
	return ns, name
}

// canAdopt reports whether the T named name in ns may adopt orphans: read
// afresh through b (the cache may be behind), it still exists, is the one
// with uid, and is not being deleted.
func canAdopt[T api.Object](ctx context.Context, b client.Backend, ns, name, uid string) (bool, error) {
	fresh, err := client.For[T](b, ns).Get(ctx, name)
	switch {
	case errdefs.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	m := fresh.GetObjectMeta()
	return m.UID == uid && m.DeletionTimestamp == nil, nil
}

// setController writes pod with ref as its controller (adopt) or without
// any reference to ref's UID (release), through b. A pod that is gone is
// not an error; written is the pod as updated, nil if it was not.
func setController(ctx context.Context, b client.Backend, pod *api.Pod, ref api.OwnerReference, adopt bool) (written *api.Pod, err error) {
	next := api.Clone(pod)
	var refs []api.OwnerReference
	for _, r := range next.OwnerReferences {
		if r.UID != ref.UID {
			refs = append(refs, r)
		}
	}
	if adopt {
		refs = append(refs, ref)
	}
	next.OwnerReferences = refs
	written, err = client.For[*api.Pod](b, pod.Namespace).Update(ctx, next)
	switch {
	case errdefs.IsNotFound(err):
		return nil, nil
	case err != nil:
		verb := "release"
		if adopt {
			verb = "adopt"
		}
		return nil, fmt.Errorf("%s pod %s/%s: %w", verb, pod.Namespace, pod.Name, err)
	}
	return written, nil
}

// Claim writes the pods a controller's claim decided on: it releases
// those in release from ref's owner and, when canAdopt says the owner (a
// T, what in messages: "replica set") may still adopt, makes ref the
// controller of those in adopt. It returns the pods adopted and every
// failed write; a failed check before adopting ends it at once. written,
// if not nil, hears of each pod updated.
func Claim[T api.Object](ctx context.Context, b client.Backend, what string, ref api.OwnerReference, ns string, release, adopt []*api.Pod, written func(pod *api.Pod, adopted bool)) ([]*api.Pod, error) {
	var errs []error
	set := func(p *api.Pod, adopt bool) bool {
		got, err := setController(ctx, b, p, ref, adopt)
		if err != nil {
			errs = append(errs, err)
			return false
		}
		if got != nil && written != nil {
			written(p, adopt)
		}
		return true
	}
	for _, p := range release {
		set(p, false)
	}
	if len(adopt) > 0 {
		ok, err := canAdopt[T](ctx, b, ns, ref.Name, ref.UID)
		if err != nil {
			return nil, fmt.Errorf("check %s before adopting: %w", what, err)
		}
		if !ok {
			adopt = nil
		}
	}
	var adopted []*api.Pod
	for _, p := range adopt {
		if set(p, true) {
			adopted = append(adopted, p)
		}
	}
	return adopted, errors.Join(errs...)
}

// MaxPodNamePrefix keeps generated pod names within a DNS label (63):
// the store appends five random characters to the generateName prefix.
const MaxPodNamePrefix = 63 - 5

// PodNamePrefix is the generateName of the pods an owner named name
// creates: "<name>-", cut to leave room for the store's random suffix.
func PodNamePrefix(name string) string {
	prefix := name + "-"
	if len(prefix) > MaxPodNamePrefix {
		prefix = prefix[:MaxPodNamePrefix]
	}
	return prefix
}
