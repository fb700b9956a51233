// Package podhandler turns a pod informer's events into work for the
// controller that owns each pod, or may adopt it: it queues the owner's
// key ("namespace/name") and tells the owner's expectations the creates
// and deletes the informer showed. Handler is shared by the replica set
// and job controllers; Adopters (who may adopt an orphan) also by the
// daemon set and stateful set controllers. It does not sync anything or
// decide what a controller owns.
package podhandler

import (
	"reflect"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/expectations"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

// Owners is what Handler needs of the owners' cache;
// *client.Informer[T] is one.
type Owners[T api.Object] interface {
	owner.Getter[T]
	ByIndex(index, value string) []T
}

var _ Owners[*api.Job] = (*client.Informer[*api.Job])(nil)

// Handler routes the pod events of one kind of owner (a T). Its
// AddPod, UpdatePod and DeletePod are the pod informer's handlers.
type Handler[T api.Object] struct {
	// Kind is the owners' kind, as in an ownerReference: "ReplicaSet".
	Kind   string
	Owners Owners[T]
	// ByNamespace is the name of an Owners index that files owners
	// under their namespace.
	ByNamespace string
	// Selector is an owner's pod selector.
	Selector func(T) *api.LabelSelector
	Queue    *client.Queue[string]
	Exp      *expectations.Expectations

	// The controllers differ in these details; each says its own.

	// MinReadySeconds, if not nil, is an owner's minReadySeconds: when
	// a pod it controls turns Ready, its key is queued again a second
	// after they pass (the pod is available only then).
	MinReadySeconds func(T) int32
	// OrphanChangesOnly: an orphan's update queues the owners that may
	// adopt it only when its labels changed or it was just released;
	// otherwise every update does.
	OrphanChangesOnly bool
	// RelabeledDeletes: a pod being deleted whose labels changed in the
	// same update counts as deleted for its old version's owner too.
	RelabeledDeletes bool
}

// Key is the queue key of an object: "namespace/name".
func Key(o api.Object) string {
	m := o.GetObjectMeta()
	return m.Namespace + "/" + m.Name
}

func podKey(p *api.Pod) string { return p.Namespace + "/" + p.Name }

// resolve returns the owner ref names, if it is the one cached.
func (h *Handler[T]) resolve(ns string, ref *api.OwnerReference) (T, bool) {
	var none T
	o := owner.Resolve[T](h.Owners, h.Kind, ns, ref)
	return o, any(o) != any(none)
}

// Matching returns the owners in pod's namespace whose selector matches
// it: who may adopt an orphan.
func (h *Handler[T]) Matching(pod *api.Pod) []T {
	return Adopters(h.Owners.ByIndex(h.ByNamespace, pod.Namespace), pod, h.Selector)
}

// Adopters returns those of owners in pod's namespace whose selector
// (an empty one selects nothing) matches pod.
func Adopters[T api.Object](owners []T, pod *api.Pod, selector func(T) *api.LabelSelector) []T {
	var out []T
	for _, o := range owners {
		if o.GetObjectMeta().Namespace != pod.Namespace {
			continue
		}
		sel, err := api.LabelSelectorAsSelector(selector(o))
		if err != nil || sel.Empty() || !sel.Matches(pod.Labels) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// AddPod handles a pod the informer shows for the first time.
func (h *Handler[T]) AddPod(pod *api.Pod) {
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (a relist).
		h.DeletePod(pod)
		return
	}
	if ref := api.ControllerOf(&pod.ObjectMeta); ref != nil {
		if o, ok := h.resolve(pod.Namespace, ref); ok {
			h.Exp.CreationObserved(Key(o))
			h.Queue.Add(Key(o))
		}
		return
	}
	for _, o := range h.Matching(pod) {
		h.Queue.Add(Key(o))
	}
}

// UpdatePod handles a pod that changed from old to cur.
func (h *Handler[T]) UpdatePod(old, cur *api.Pod) {
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !reflect.DeepEqual(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// A pod being deleted counts as deleted for expectations; the
		// informer may never show its final removal in time.
		h.DeletePod(cur)
		if h.RelabeledDeletes && labelsChanged {
			h.DeletePod(old)
		}
		return
	}
	curRef, oldRef := api.ControllerOf(&cur.ObjectMeta), api.ControllerOf(&old.ObjectMeta)
	if oldRef != nil && (curRef == nil || curRef.UID != oldRef.UID) {
		// Released or moved: the old owner has one fewer.
		if o, ok := h.resolve(old.Namespace, oldRef); ok {
			h.Queue.Add(Key(o))
		}
	}
	if curRef != nil {
		if o, ok := h.resolve(cur.Namespace, curRef); ok {
			h.Queue.Add(Key(o))
			// Available only minReadySeconds after it became ready: look
			// again then.
			if h.MinReadySeconds != nil {
				if min := h.MinReadySeconds(o); !podstate.Ready(old) && podstate.Ready(cur) && min > 0 {
					h.Queue.AddAfter(Key(o), time.Duration(min)*time.Second+time.Second)
				}
			}
		}
		return
	}
	if !h.OrphanChangesOnly || labelsChanged || oldRef != nil {
		for _, o := range h.Matching(cur) {
			h.Queue.Add(Key(o))
		}
	}
}

// DeletePod handles a pod that is gone, or being deleted.
func (h *Handler[T]) DeletePod(pod *api.Pod) {
	ref := api.ControllerOf(&pod.ObjectMeta)
	if ref == nil {
		return
	}
	if o, ok := h.resolve(pod.Namespace, ref); ok {
		h.Exp.DeletionObserved(Key(o), podKey(pod))
		h.Queue.Add(Key(o))
	}
}
