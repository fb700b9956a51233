package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// event is one committed change. obj is the new state (for a delete, the
// last state at the deletion's revision); prev is the state before, nil for
// a create or delete. Both are shared by every watcher and never changed.
type event struct {
	rev      int64
	typ      api.EventType
	resource string
	obj      api.Object
	prev     api.Object
	// fields and prevFields are obj's and prev's selectable fields, made
	// once here rather than by every watcher with a field selector (a
	// thousand agents each watch pods by spec.nodeName).
	fields, prevFields map[string]string
}

func newEvent(rev int64, typ api.EventType, resource string, obj, prev api.Object) event {
	e := event{rev: rev, typ: typ, resource: resource, obj: obj, prev: prev, fields: api.SelectableFields(obj)}
	if prev != nil {
		e.prevFields = api.SelectableFields(prev)
	}
	return e
}

// history is the ring of the most recent events. Revisions are contiguous,
// so the event of revision r sits at a fixed offset from the oldest.
type history struct {
	mu sync.Mutex
	// ring[(start+i)%len(ring)] holds revision compacted+1+i, for i < n.
	ring      []event
	start, n  int
	compacted int64 // every event after this revision is kept
	notify    chan struct{}
	closed    bool
}

func newHistory(size int, rev int64) *history {
	return &history{ring: make([]event, size), compacted: rev, notify: make(chan struct{})}
}

// last is the revision of the newest event in the ring.
func (h *history) last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.compacted + int64(h.n)
}

func (h *history) append(evs []event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range evs {
		if h.n == len(h.ring) {
			h.ring[h.start] = event{}
			h.start = (h.start + 1) % len(h.ring)
			h.n--
			h.compacted++
		}
		h.ring[(h.start+h.n)%len(h.ring)] = e
		h.n++
	}
	close(h.notify)
	h.notify = make(chan struct{})
}

func (h *history) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.notify)
	}
}

// after copies up to max events with revisions after rev into buf. When
// there are none it returns a channel that is closed on the next append.
func (h *history) after(rev int64, buf []event, max int) ([]event, <-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return buf, nil, fmt.Errorf("store is closed: %w", errdefs.ErrUnavailable)
	}
	if rev < h.compacted {
		return buf, nil, fmt.Errorf("revision %d is older than the kept history (from %d): %w", rev, h.compacted, errdefs.ErrExpired)
	}
	for i := int(rev - h.compacted); i < h.n && len(buf) < max; i++ {
		buf = append(buf, h.ring[(h.start+i)%len(h.ring)])
	}
	return buf, h.notify, nil
}

// Watch streams the changes to resource after opts.Revision.
func (s *Bolt) Watch(ctx context.Context, resource string, opts WatchOptions) (api.Watcher, error) {
	k, ok := api.LookupResource(resource)
	if !ok {
		return nil, fmt.Errorf("resource %q: %w", resource, errdefs.ErrNotFound)
	}
	from := opts.Revision
	if from == 0 {
		from = s.hist.last()
	}
	// Fail at once, before streaming, when the revision is gone.
	if _, _, err := s.hist.after(from, nil, 0); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{
		kind:   k,
		opts:   opts,
		hist:   s.hist,
		cursor: from,
		ch:     make(chan api.WatchEvent, 64),
		cancel: cancel,
	}
	go w.run(ctx)
	return w, nil
}

type watcher struct {
	kind   api.Kind
	opts   WatchOptions
	hist   *history
	cursor int64
	ch     chan api.WatchEvent
	cancel context.CancelFunc
}

func (w *watcher) ResultChan() <-chan api.WatchEvent { return w.ch }
func (w *watcher) Stop()                             { w.cancel() }

func (w *watcher) run(ctx context.Context) {
	defer close(w.ch)
	defer w.cancel()
	var bookmark <-chan time.Time
	if w.opts.BookmarkInterval > 0 {
		t := time.NewTicker(w.opts.BookmarkInterval)
		defer t.Stop()
		bookmark = t.C
	}
	buf := make([]event, 0, 256)
	sent := false // since the last bookmark tick
	for {
		evs, notify, err := w.hist.after(w.cursor, buf[:0], cap(buf))
		if err != nil {
			if !errdefs.IsUnavailable(err) {
				w.send(ctx, api.WatchEvent{Type: api.Error, Err: err})
			}
			return
		}
		for _, e := range evs {
			w.cursor = e.rev
			if out, ok := w.filter(e); ok {
				if !w.send(ctx, out) {
					return
				}
				sent = true
			}
		}
		if len(evs) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-notify:
		case <-bookmark:
			if !sent {
				b := w.kind.New()
				api.SetTypeMeta(b)
				b.GetObjectMeta().ResourceVersion = strconv.FormatInt(w.cursor, 10)
				if !w.send(ctx, api.WatchEvent{Type: api.Bookmark, Object: b}) {
					return
				}
			}
			sent = false
		}
	}
}

func (w *watcher) send(ctx context.Context, e api.WatchEvent) bool {
	select {
	case w.ch <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// filter turns a change into what this watcher sees: nothing if it is of
// another resource or namespace; and with selectors, an object that starts
// matching is ADDED and one that stops matching is DELETED.
func (w *watcher) filter(e event) (api.WatchEvent, bool) {
	if e.resource != w.kind.Resource {
		return api.WatchEvent{}, false
	}
	if ns := w.opts.Namespace; ns != "" && w.kind.Namespaced && e.obj.GetObjectMeta().Namespace != ns {
		return api.WatchEvent{}, false
	}
	cur := matchesFields(e.obj, e.fields, w.opts.Labels, w.opts.Fields)
	if e.typ != api.Modified {
		return api.WatchEvent{Type: e.typ, Object: e.obj}, cur
	}
	was := matchesFields(e.prev, e.prevFields, w.opts.Labels, w.opts.Fields)
	switch {
	case was && cur:
		return api.WatchEvent{Type: api.Modified, Object: e.obj}, true
	case cur:
		return api.WatchEvent{Type: api.Added, Object: e.obj}, true
	case was:
		return api.WatchEvent{Type: api.Deleted, Object: e.obj}, true
	}
	return api.WatchEvent{}, false
}
