package garbagecollector

import (
	"context"
	"log/slog"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// cache is one kind's informer, seen through the few questions the
// collector asks of it. Objects are shared and read-only.
type cache interface {
	kind() api.Kind
	run(ctx context.Context) error
	waitForSync(ctx context.Context) bool
	// byUID returns the cached object with uid.
	byUID(uid string) (api.Object, bool)
	// dependents returns the cached objects with an owner reference to uid.
	dependents(uid string) []api.Object
	// all returns every cached object.
	all() []api.Object
	// get returns the cached object by namespace and name.
	get(namespace, name string) (api.Object, bool)
}

// Index names.
const (
	indexUID   = "uid"
	indexOwner = "owner"
)

// events tells the collector about changes in any kind.
type events interface {
	onAdd(obj api.Object)
	onUpdate(old, cur api.Object)
	onDelete(obj api.Object)
}

// typedCache is a cache over a typed informer.
type typedCache[T api.Object] struct {
	k   api.Kind
	inf *client.Informer[T]
}

func newTypedCache[T api.Object](k api.Kind, b client.Backend, h events, log *slog.Logger) cache {
	inf := client.NewInformer[T](b, "", api.ListOptions{}, log.With("informer", k.Resource))
	// Errors only when an index is added twice or after Run: neither here.
	_ = inf.AddIndex(indexUID, func(o T) []string { return []string{o.GetObjectMeta().UID} })
	_ = inf.AddIndex(indexOwner, func(o T) []string {
		refs := o.GetObjectMeta().OwnerReferences
		if len(refs) == 0 {
			return nil
		}
		uids := make([]string, len(refs))
		for i, r := range refs {
			uids[i] = r.UID
		}
		return uids
	})
	inf.AddHandler(client.HandlerFuncs[T]{
		AddFunc:    func(o T) { h.onAdd(o) },
		UpdateFunc: func(old, cur T) { h.onUpdate(old, cur) },
		DeleteFunc: func(o T) { h.onDelete(o) },
	})
	return &typedCache[T]{k: k, inf: inf}
}

func (c *typedCache[T]) kind() api.Kind                       { return c.k }
func (c *typedCache[T]) run(ctx context.Context) error        { return c.inf.Run(ctx) }
func (c *typedCache[T]) waitForSync(ctx context.Context) bool { return c.inf.WaitForSync(ctx) }
func (c *typedCache[T]) dependents(uid string) []api.Object {
	return objects(c.inf.ByIndex(indexOwner, uid))
}
func (c *typedCache[T]) all() []api.Object { return objects(c.inf.List()) }
func (c *typedCache[T]) get(namespace, name string) (api.Object, bool) {
	o, ok := c.inf.Get(namespace, name)
	return o, ok
}

func (c *typedCache[T]) byUID(uid string) (api.Object, bool) {
	if l := c.inf.ByIndex(indexUID, uid); len(l) > 0 {
		return l[0], true
	}
	return nil, false
}

func objects[T api.Object](l []T) []api.Object {
	out := make([]api.Object, len(l))
	for i, o := range l {
		out[i] = o
	}
	return out
}

// newKindCache returns the cache for kind k, or false for a kind the
// collector does not watch. Every kind of server/api is listed here (a
// test checks it) except Event: Events are never owners, skiff gives
// them no owner references, and they are the kind written most, so
// watching them would cost memory and CPU for nothing. (Namespace
// deletion still deletes a namespace's Events, by listing.)
func newKindCache(k api.Kind, b client.Backend, h events, log *slog.Logger) (cache, bool) {
	switch k.Kind {
	case "Namespace":
		return newTypedCache[*api.Namespace](k, b, h, log), true
	case "Node":
		return newTypedCache[*api.Node](k, b, h, log), true
	case "Pod":
		return newTypedCache[*api.Pod](k, b, h, log), true
	case "ConfigMap":
		return newTypedCache[*api.ConfigMap](k, b, h, log), true
	case "Secret":
		return newTypedCache[*api.Secret](k, b, h, log), true
	case "Service":
		return newTypedCache[*api.Service](k, b, h, log), true
	case "Endpoints":
		return newTypedCache[*api.Endpoints](k, b, h, log), true
	case "Deployment":
		return newTypedCache[*api.Deployment](k, b, h, log), true
	case "ReplicaSet":
		return newTypedCache[*api.ReplicaSet](k, b, h, log), true
	case "DaemonSet":
		return newTypedCache[*api.DaemonSet](k, b, h, log), true
	case "StatefulSet":
		return newTypedCache[*api.StatefulSet](k, b, h, log), true
	case "Job":
		return newTypedCache[*api.Job](k, b, h, log), true
	case "CronJob":
		return newTypedCache[*api.CronJob](k, b, h, log), true
	}
	return nil, false
}
