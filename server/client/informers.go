package client

import (
	"log/slog"
	"reflect"
	"sync"

	"github.com/skiffhq/skiff/server/api"
)

// Informers hands out shared informers: one per kind, namespace and
// selector, however many controllers ask for it, so that a server holds
// one decoded copy of its pods rather than one per controller. Each user
// adds its handlers and indexes and runs the informer as if it were its
// own; the cache is kept while any user's Run lasts.
type Informers struct {
	backend Backend
	log     *slog.Logger

	mu  sync.Mutex
	all map[informerKey]any
}

type informerKey struct {
	kind                      reflect.Type
	namespace, labels, fields string
}

// NewInformers returns an empty set over b.
func NewInformers(b Backend, log *slog.Logger) *Informers {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Informers{backend: b, log: log, all: map[informerKey]any{}}
}

// Shared returns the set's informer of the T objects in namespace ("" =
// all) matching opts' selectors, making it on first use.
func Shared[T api.Object](f *Informers, namespace string, opts api.ListOptions) *Informer[T] {
	key := informerKey{reflect.TypeFor[T](), namespace, opts.LabelSelector, opts.FieldSelector}
	f.mu.Lock()
	defer f.mu.Unlock()
	if inf, ok := f.all[key]; ok {
		return inf.(*Informer[T])
	}
	inf := NewInformer[T](f.backend, namespace, opts, f.log.With("informer", resourceOf[T]()))
	f.all[key] = inf
	return inf
}

// Len is how many informers the set holds.
func (f *Informers) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.all)
}
