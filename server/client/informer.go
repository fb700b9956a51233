package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// Handler is told about changes an informer sees, in order, one at a time.
type Handler[T api.Object] interface {
	OnAdd(obj T)
	OnUpdate(old, new T)
	OnDelete(obj T)
}

// HandlerFuncs is a Handler from optional functions.
type HandlerFuncs[T api.Object] struct {
	AddFunc    func(obj T)
	UpdateFunc func(old, new T)
	DeleteFunc func(obj T)
}

// OnAdd calls AddFunc if set.
func (h HandlerFuncs[T]) OnAdd(obj T) {
	if h.AddFunc != nil {
		h.AddFunc(obj)
	}
}

// OnUpdate calls UpdateFunc if set.
func (h HandlerFuncs[T]) OnUpdate(old, new T) {
	if h.UpdateFunc != nil {
		h.UpdateFunc(old, new)
	}
}

// OnDelete calls DeleteFunc if set.
func (h HandlerFuncs[T]) OnDelete(obj T) {
	if h.DeleteFunc != nil {
		h.DeleteFunc(obj)
	}
}

// Informer keeps a local cache of one kind of object — list, then watch
// from the list's revision — and tells handlers about every change. When
// the watch ends it resumes from the last revision seen; when that
// revision has expired, or on any error, it lists again (with back-off)
// and reconciles the cache, so handlers never miss a change. There is no
// periodic resync: nothing is done while nothing changes.
//
// Objects in the cache and passed to handlers are shared and read-only;
// api.Clone one before changing it.
type Informer[T api.Object] struct {
	backend   Backend
	resource  string
	namespace string
	opts      api.ListOptions
	log       *slog.Logger

	// dispatch is held while handlers are told of a change, so that a
	// handler added late hears of the cache's contents before any later
	// change.
	dispatch sync.Mutex
	mu       sync.RWMutex
	items    map[string]T
	indexers map[string]func(T) []string
	indices  map[string]map[string]map[string]struct{} // index → value → keys
	handlers []Handler[T]
	lastRV   string

	// runners counts the Run calls in progress; the list-and-watch loop
	// runs while there is at least one.
	runners int
	stop    context.CancelFunc
	stopped chan struct{}

	synced   chan struct{}
	syncOnce sync.Once
}

// NewInformer returns an informer of the T objects in namespace ("" = all)
// that match opts' selectors.
func NewInformer[T api.Object](b Backend, namespace string, opts api.ListOptions, log *slog.Logger) *Informer[T] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Informer[T]{
		backend:   b,
		resource:  resourceOf[T](),
		namespace: namespace,
		opts:      api.ListOptions{LabelSelector: opts.LabelSelector, FieldSelector: opts.FieldSelector},
		log:       log,
		items:     map[string]T{},
		indexers:  map[string]func(T) []string{},
		indices:   map[string]map[string]map[string]struct{}{},
		synced:    make(chan struct{}),
	}
}

// resourceOf names the resource of kind T.
func resourceOf[T api.Object]() string {
	var zero T
	obj := reflect.New(reflect.TypeOf(zero).Elem()).Interface().(api.Object)
	k, err := api.KindOf(obj)
	if err != nil {
		return ""
	}
	return k.Resource
}

// AddHandler registers h. A handler added while the informer runs is
// first told of every cached object as an add, then of later changes.
func (i *Informer[T]) AddHandler(h Handler[T]) {
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	i.mu.Lock()
	i.handlers = append(i.handlers, h)
	existing := make([]T, 0, len(i.items))
	for _, o := range i.items {
		existing = append(existing, o)
	}
	i.mu.Unlock()
	for _, o := range existing {
		h.OnAdd(o)
	}
}

// AddHandlerUntil registers h as AddHandler does and removes it when ctx
// ends: for a user of a shared informer that may stop and start again
// (a restarted DNS server, say) while the informer runs on for others.
//
// Once ctx has ended h hears nothing more (each event checks ctx first);
// the removal itself, which frees it, follows on its own goroutine. Like
// every handler, h must not block: the informer's other users wait.
func (i *Informer[T]) AddHandlerUntil(ctx context.Context, h Handler[T]) {
	w := &untilHandler[T]{ctx: ctx, h: h}
	i.AddHandler(w)
	context.AfterFunc(ctx, func() {
		i.dispatch.Lock()
		defer i.dispatch.Unlock()
		i.mu.Lock()
		defer i.mu.Unlock()
		// A new slice, not the old one's array changed in place.
		i.handlers = slices.DeleteFunc(slices.Clone(i.handlers), func(o Handler[T]) bool { return o == Handler[T](w) })
	})
}

// untilHandler passes events to h while ctx lasts; its address is the
// identity it is removed by.
type untilHandler[T api.Object] struct {
	ctx context.Context
	h   Handler[T]
}

func (u *untilHandler[T]) OnAdd(obj T) {
	if u.ctx.Err() == nil {
		u.h.OnAdd(obj)
	}
}

func (u *untilHandler[T]) OnUpdate(old, new T) {
	if u.ctx.Err() == nil {
		u.h.OnUpdate(old, new)
	}
}

func (u *untilHandler[T]) OnDelete(obj T) {
	if u.ctx.Err() == nil {
		u.h.OnDelete(obj)
	}
}

// AddIndex adds a named index: fn returns the values an object is filed
// under. An index name means one function: adding a name that exists
// keeps the first (so that the users of a shared informer can each ask
// for the indexes they read). Added while the informer runs, the index is
// built from the cache at once.
func (i *Informer[T]) AddIndex(name string, fn func(T) []string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, ok := i.indexers[name]; ok {
		return
	}
	i.indexers[name] = fn
	index := map[string]map[string]struct{}{}
	i.indices[name] = index
	for k, o := range i.items {
		for _, v := range fn(o) {
			if index[v] == nil {
				index[v] = map[string]struct{}{}
			}
			index[v][k] = struct{}{}
		}
	}
}

// HasSynced reports whether the first list has been loaded.
func (i *Informer[T]) HasSynced() bool {
	select {
	case <-i.synced:
		return true
	default:
		return false
	}
}

// WaitForSync blocks until the first list is loaded or ctx ends.
func (i *Informer[T]) WaitForSync(ctx context.Context) bool {
	select {
	case <-i.synced:
		return true
	case <-ctx.Done():
		return false
	}
}

// LastSyncResourceVersion is the revision the cache reflects.
func (i *Informer[T]) LastSyncResourceVersion() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.lastRV
}

func cacheKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func keyOf(obj api.Object) string {
	m := obj.GetObjectMeta()
	return cacheKey(m.Namespace, m.Name)
}

// Get returns the cached object.
func (i *Informer[T]) Get(namespace, name string) (T, bool) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	o, ok := i.items[cacheKey(namespace, name)]
	return o, ok
}

// List returns every cached object.
func (i *Informer[T]) List() []T {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]T, 0, len(i.items))
	for _, o := range i.items {
		out = append(out, o)
	}
	return out
}

// ByIndex returns the cached objects filed under value in index.
func (i *Informer[T]) ByIndex(index, value string) []T {
	i.mu.RLock()
	defer i.mu.RUnlock()
	var out []T
	for k := range i.indices[index][value] {
		out = append(out, i.items[k])
	}
	return out
}

// Run keeps the cache until ctx ends. An informer may be run by several
// callers at once (its users in one process, see Informers): the cache
// is kept while any of their contexts lives.
func (i *Informer[T]) Run(ctx context.Context) error {
	if i.resource == "" {
		return errors.New("informer: not a registered kind")
	}
	i.mu.Lock()
	i.runners++
	if i.runners == 1 {
		loop, stop := context.WithCancel(context.Background())
		prev := i.stopped
		i.stop, i.stopped = stop, make(chan struct{})
		go func(stopped chan struct{}) {
			defer close(stopped)
			if prev != nil {
				<-prev // the last run's loop has let go of the cache
			}
			i.loop(loop)
		}(i.stopped)
	}
	stopped := i.stopped
	i.mu.Unlock()

	<-ctx.Done()
	i.mu.Lock()
	i.runners--
	last := i.runners == 0
	if last {
		i.stop()
	}
	i.mu.Unlock()
	if last {
		<-stopped
	}
	return nil
}

// loop lists and watches until ctx ends.
func (i *Informer[T]) loop(ctx context.Context) {
	delay := 100 * time.Millisecond
	for {
		err := i.listAndWatch(ctx, &delay)
		if ctx.Err() != nil {
			return
		}
		i.log.Debug("informer relisting", "resource", i.resource, "after", delay, "err", err)
		wait := delay/2 + time.Duration(rand.Int64N(int64(delay)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// listAndWatch lists, then watches until the watch fails for good.
func (i *Informer[T]) listAndWatch(ctx context.Context, delay *time.Duration) error {
	list, err := ListAll(ctx, i.backend, i.resource, i.namespace, i.opts)
	if err != nil {
		return fmt.Errorf("list %s: %w", i.resource, err)
	}
	i.replace(list.Items, list.ResourceVersion)
	i.syncOnce.Do(func() { close(i.synced) })
	*delay = 100 * time.Millisecond

	for {
		wopts := i.opts
		wopts.ResourceVersion = i.LastSyncResourceVersion()
		w, err := i.backend.Watch(ctx, i.resource, i.namespace, wopts)
		if err != nil {
			return fmt.Errorf("watch %s: %w", i.resource, err)
		}
		err = i.consume(ctx, w)
		w.Stop()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The watch ended cleanly (server timeout, restart): resume from
		// the last revision; if it has expired, the next Watch says so.
	}
}

// consume applies a watch's events until it ends.
func (i *Informer[T]) consume(ctx context.Context, w api.Watcher) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			switch e.Type {
			case api.Error:
				// Expired or not, the way on is a fresh list.
				return fmt.Errorf("watch %s: %w", i.resource, e.Err)
			case api.Bookmark:
				i.mu.Lock()
				i.lastRV = e.Object.GetObjectMeta().ResourceVersion
				i.mu.Unlock()
			case api.Added, api.Modified:
				obj, ok := e.Object.(T)
				if !ok {
					return fmt.Errorf("watch %s: got a %T", i.resource, e.Object)
				}
				i.upsert(obj)
			case api.Deleted:
				obj, ok := e.Object.(T)
				if !ok {
					return fmt.Errorf("watch %s: got a %T", i.resource, e.Object)
				}
				i.remove(obj)
			}
		}
	}
}

// upsert stores obj and tells handlers. An ADDED for a cached key is an
// update (a paged list may already hold the newer state).
func (i *Informer[T]) upsert(obj T) {
	k := keyOf(obj)
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	i.mu.Lock()
	old, had := i.items[k]
	i.setLocked(k, obj, old, had)
	i.lastRV = obj.GetObjectMeta().ResourceVersion
	hs := i.handlers
	i.mu.Unlock()
	for _, h := range hs {
		if had {
			h.OnUpdate(old, obj)
		} else {
			h.OnAdd(obj)
		}
	}
}

// remove drops obj and tells handlers; a DELETED for an unknown key is
// only a revision step.
func (i *Informer[T]) remove(obj T) {
	k := keyOf(obj)
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	i.mu.Lock()
	old, had := i.items[k]
	if had {
		i.unindexLocked(k, old)
		delete(i.items, k)
	}
	i.lastRV = obj.GetObjectMeta().ResourceVersion
	hs := i.handlers
	i.mu.Unlock()
	if had {
		for _, h := range hs {
			h.OnDelete(obj)
		}
	}
}

// replace makes the cache equal to a fresh list, telling handlers the
// differences.
func (i *Informer[T]) replace(objs []api.Object, rv string) {
	type change struct {
		old, new T
		had, del bool
	}
	var changes []change
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	i.mu.Lock()
	seen := make(map[string]bool, len(objs))
	for _, o := range objs {
		obj, ok := o.(T)
		if !ok {
			continue
		}
		k := keyOf(obj)
		seen[k] = true
		old, had := i.items[k]
		if had && old.GetObjectMeta().ResourceVersion == obj.GetObjectMeta().ResourceVersion {
			continue
		}
		i.setLocked(k, obj, old, had)
		changes = append(changes, change{old: old, new: obj, had: had})
	}
	for k, old := range i.items {
		if !seen[k] {
			i.unindexLocked(k, old)
			delete(i.items, k)
			changes = append(changes, change{old: old, del: true})
		}
	}
	i.lastRV = rv
	hs := i.handlers
	i.mu.Unlock()
	for _, c := range changes {
		for _, h := range hs {
			switch {
			case c.del:
				h.OnDelete(c.old)
			case c.had:
				h.OnUpdate(c.old, c.new)
			default:
				h.OnAdd(c.new)
			}
		}
	}
}

func (i *Informer[T]) setLocked(k string, obj, old T, had bool) {
	if had {
		i.unindexLocked(k, old)
	}
	i.items[k] = obj
	for name, fn := range i.indexers {
		for _, v := range fn(obj) {
			set := i.indices[name][v]
			if set == nil {
				set = map[string]struct{}{}
				i.indices[name][v] = set
			}
			set[k] = struct{}{}
		}
	}
}

func (i *Informer[T]) unindexLocked(k string, old T) {
	for name, fn := range i.indexers {
		for _, v := range fn(old) {
			delete(i.indices[name][v], k)
			if len(i.indices[name][v]) == 0 {
				delete(i.indices[name], v)
			}
		}
	}
}

// KickOnChange sends on kick, without blocking (a kick already waiting
// stands for this one too), at every add, update and delete of inf until
// ctx ends: for a loop that redoes all its work once per burst of
// changes. kick should have a buffer of one.
func KickOnChange[T api.Object](ctx context.Context, inf *Informer[T], kick chan<- struct{}) {
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	inf.AddHandlerUntil(ctx, HandlerFuncs[T]{
		AddFunc:    func(T) { poke() },
		UpdateFunc: func(_, _ T) { poke() },
		DeleteFunc: func(T) { poke() },
	})
}
