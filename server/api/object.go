package api

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Object is any stored kind. Every kind embeds TypeMeta and ObjectMeta, so
// it gets both methods for free.
type Object interface {
	GetTypeMeta() *TypeMeta
	GetObjectMeta() *ObjectMeta
}

// List is the wire form of a list of one kind: {"kind":"PodList",
// "metadata":{"resourceVersion":..,"continue":..},"items":[...]}.
type List[T any] struct {
	TypeMeta `json:",inline"`
	ListMeta ListMeta `json:"metadata"`
	Items    []T      `json:"items"`
}

// EventType is the type of a watch event.
type EventType string

// The watch event types.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	// Bookmark carries only metadata.resourceVersion: "you have seen
	// everything up to here", so a resumed watch starts from it.
	Bookmark EventType = "BOOKMARK"
	// Error ends a watch; Err says why (errdefs.ErrExpired: list again).
	Error EventType = "ERROR"
)

// WatchEvent is one change seen by a watch. For Deleted, Object is the last
// state with the resourceVersion of the deletion.
type WatchEvent struct {
	Type   EventType
	Object Object
	Err    error
}

// Watcher is a running watch. Events arrive in revision order; the channel
// closes when the watch ends (Stop, context, or after an Error event).
type Watcher interface {
	ResultChan() <-chan WatchEvent
	Stop()
}

// ListOptions select and page a list or a watch. The string forms are what
// the HTTP API takes as query parameters.
type ListOptions struct {
	// LabelSelector, e.g. "app=web,tier!=db,env in (prod,staging),!canary".
	LabelSelector string `json:"labelSelector,omitempty"`
	// FieldSelector, e.g. "spec.nodeName=node1,metadata.name!=x".
	FieldSelector string `json:"fieldSelector,omitempty"`
	// Limit caps a list page; Continue (from the previous page) resumes.
	Limit    int64  `json:"limit,omitempty"`
	Continue string `json:"continue,omitempty"`
	// ResourceVersion for a watch: deliver every change after it. Empty or
	// "0" means from now.
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// Preconditions must hold for a delete to go ahead.
type Preconditions struct {
	UID             *string `json:"uid,omitempty"`
	ResourceVersion *string `json:"resourceVersion,omitempty"`
}

// DeleteOptions tune a delete.
type DeleteOptions struct {
	TypeMeta `json:",inline"`
	// GracePeriodSeconds overrides a pod's terminationGracePeriodSeconds;
	// 0 deletes at once.
	GracePeriodSeconds *int64         `json:"gracePeriodSeconds,omitempty"`
	Preconditions      *Preconditions `json:"preconditions,omitempty"`
	// PropagationPolicy: Background (default), Foreground or Orphan.
	PropagationPolicy string `json:"propagationPolicy,omitempty"`
}

// Key is where an object lives: its resource, namespace ("" for
// cluster-scoped kinds) and name.
type Key struct {
	Resource  string
	Namespace string
	Name      string
}

func (k Key) String() string {
	if k.Namespace == "" {
		return k.Resource + "/" + k.Name
	}
	return k.Resource + "/" + k.Namespace + "/" + k.Name
}

// KeyOf returns the key of obj, whose kind must be registered.
func KeyOf(obj Object) (Key, error) {
	k, err := KindOf(obj)
	if err != nil {
		return Key{}, err
	}
	m := obj.GetObjectMeta()
	return Key{Resource: k.Resource, Namespace: m.Namespace, Name: m.Name}, nil
}

// Clone returns a deep copy of obj. Objects handed out by caches are shared
// and read-only; clone before changing one.
func Clone[T Object](obj T) T {
	b, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("api.Clone: marshal %T: %v", obj, err)) // kinds always marshal
	}
	out := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("api.Clone: unmarshal %T: %v", obj, err))
	}
	return out
}

// CopyStatus sets dst's status to src's, for kinds with a status (a no-op
// for the others). The two share the status's maps and slices.
func CopyStatus(dst, src Object) {
	d := reflect.ValueOf(dst).Elem().FieldByName("Status")
	s := reflect.ValueOf(src).Elem().FieldByName("Status")
	if d.IsValid() && s.IsValid() && d.CanSet() && d.Type() == s.Type() {
		d.Set(s)
	}
}
