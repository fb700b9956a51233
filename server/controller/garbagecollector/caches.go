package garbagecollector

import (
	"context"

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
	indexOwner = "owners" // every owner's UID, not only the controller's
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

func newTypedCache[T api.Object](k api.Kind, f *client.Informers, h events) cache {
	inf := client.Shared[T](f, "", api.ListOptions{})
	inf.AddIndex(indexUID, func(o T) []string { return []string{o.GetObjectMeta().UID} })
	inf.AddIndex(indexOwner, func(o T) []string {
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
func newKindCache(k api.Kind, f *client.Informers, h events) (cache, bool) {
	switch k.Kind {
	case "Namespace":
		return newTypedCache[*api.Namespace](k, f, h), true
	case "Node":
		return newTypedCache[*api.Node](k, f, h), true
	case "Pod":
		return newTypedCache[*api.Pod](k, f, h), true
	case "ConfigMap":
		return newTypedCache[*api.ConfigMap](k, f, h), true
	case "Secret":
		return newTypedCache[*api.Secret](k, f, h), true
	case "Service":
		return newTypedCache[*api.Service](k, f, h), true
	case "Endpoints":
		return newTypedCache[*api.Endpoints](k, f, h), true
	case "Deployment":
		return newTypedCache[*api.Deployment](k, f, h), true
	case "ReplicaSet":
		return newTypedCache[*api.ReplicaSet](k, f, h), true
	case "DaemonSet":
		return newTypedCache[*api.DaemonSet](k, f, h), true
	case "StatefulSet":
		return newTypedCache[*api.StatefulSet](k, f, h), true
	case "ControllerRevision":
		return newTypedCache[*api.ControllerRevision](k, f, h), true
	case "Job":
		return newTypedCache[*api.Job](k, f, h), true
	case "CronJob":
		return newTypedCache[*api.CronJob](k, f, h), true
	case "PersistentVolumeClaim":
		return newTypedCache[*api.PersistentVolumeClaim](k, f, h), true
	case "PriorityClass":
		return newTypedCache[*api.PriorityClass](k, f, h), true
	case "User":
		return newTypedCache[*api.User](k, f, h), true
	case "Role":
		return newTypedCache[*api.Role](k, f, h), true
	case "RoleBinding":
		return newTypedCache[*api.RoleBinding](k, f, h), true
	case "App":
		return newTypedCache[*api.App](k, f, h), true
	case "Build":
		return newTypedCache[*api.Build](k, f, h), true
	case "Release":
		return newTypedCache[*api.Release](k, f, h), true
	}
	return nil, false
}
