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
	// keyed holds the watchers that select one value of their resource's
	// trigger field (a node's agent: pods with spec.nodeName=NODE). They
	// are woken only by changes to that value, and read only those
	// changes, instead of every watcher waking for every change: with a
	// thousand nodes that is most of a busy server's watch cost.
	keyed map[triggerKey]map[*trigger]struct{}
}

// triggerFields names, per resource, the field whose value keys watchers.
var triggerFields = map[string]string{"pods": "spec.nodeName"}

type triggerKey struct{ resource, value string }

// trigger is one keyed watcher's queue: the revisions of the changes to
// its key that it has not read yet, and a channel closed when one comes.
type trigger struct {
	key triggerKey
	// from is the revision the watch started after: a change at or
	// before it is not the watcher's even when it is appended later (a
	// list may show a revision whose batch is not in the ring yet).
	from   int64
	revs   []int64
	notify chan struct{}
}

func newHistory(size int, rev int64) *history {
	return &history{ring: make([]event, size), compacted: rev, notify: make(chan struct{}), keyed: map[triggerKey]map[*trigger]struct{}{}}
}

// triggerValues are the trigger field's values before and after e: a
// change that moves a pod between nodes concerns both.
func (e event) triggerValues() (cur, prev string, hasCur, hasPrev bool) {
	f, ok := triggerFields[e.resource]
	if !ok {
		return "", "", false, false
	}
	cur, hasCur = e.fields[f]
	if e.prevFields != nil {
		prev, hasPrev = e.prevFields[f]
	}
	return cur, prev, hasCur, hasPrev
}

// addTrigger registers a keyed watcher that has read everything up to
// rev; the changes to its key after rev still in the ring are queued. A
// rev older than the ring is expired, as for any watch.
func (h *history) addTrigger(key triggerKey, rev int64) (*trigger, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rev < h.compacted {
		return nil, fmt.Errorf("revision %d is older than the kept history (from %d): %w", rev, h.compacted, errdefs.ErrExpired)
	}
	t := &trigger{key: key, from: rev, notify: make(chan struct{})}
	for i := int(rev - h.compacted); i < h.n; i++ {
		e := h.ring[(h.start+i)%len(h.ring)]
		if e.resource != key.resource {
			continue
		}
		if cur, prev, hc, hp := e.triggerValues(); (hc && cur == key.value) || (hp && prev == key.value) {
			t.revs = append(t.revs, e.rev)
		}
	}
	set := h.keyed[key]
	if set == nil {
		set = map[*trigger]struct{}{}
		h.keyed[key] = set
	}
	set[t] = struct{}{}
	return t, nil
}

func (h *history) removeTrigger(t *trigger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if set := h.keyed[t.key]; set != nil {
		delete(set, t)
		if len(set) == 0 {
			delete(h.keyed, t.key)
		}
	}
}

// touch queues rev for the keyed watchers of key and wakes them.
func (h *history) touch(key triggerKey, rev int64, woken map[*trigger]bool) {
	for t := range h.keyed[key] {
		if rev <= t.from {
			continue // before the watch began
		}
		if n := len(t.revs); n > 0 && t.revs[n-1] == rev {
			continue // both values of one change are this key
		}
		t.revs = append(t.revs, rev)
		if extra := len(t.revs) - len(h.ring); extra > 1 {
			// A watcher this far behind has lost changes; one of them
			// is kept to say so when it reads on.
			t.revs = append(t.revs[:0], t.revs[extra-1:]...)
		}
		woken[t] = true
	}
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
	if len(h.keyed) > 0 {
		woken := map[*trigger]bool{}
		for _, e := range evs {
			cur, prev, hc, hp := e.triggerValues()
			if hc {
				h.touch(triggerKey{e.resource, cur}, e.rev, woken)
			}
			if hp && (!hc || prev != cur) {
				h.touch(triggerKey{e.resource, prev}, e.rev, woken)
			}
		}
		for t := range woken {
			close(t.notify)
			t.notify = make(chan struct{})
		}
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
		for _, set := range h.keyed {
			for t := range set {
				close(t.notify)
			}
		}
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

// keyedAfter is after for a keyed watcher: up to max of the changes
// queued for t, and the revision it has then read everything up to (the
// newest revision when nothing more is queued). Its own changes, not
// the ring's oldest revision, say whether it fell behind: a watcher of
// an idle node reads nothing for hours and is still up to date.
func (h *history) keyedAfter(t *trigger, rev int64, buf []event, max int) ([]event, int64, <-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return buf, rev, nil, fmt.Errorf("store is closed: %w", errdefs.ErrUnavailable)
	}
	n := 0
	for ; n < len(t.revs) && len(buf) < max; n++ {
		r := t.revs[n]
		if r <= h.compacted {
			return buf, rev, nil, fmt.Errorf("revision %d is older than the kept history (from %d): %w", r, h.compacted, errdefs.ErrExpired)
		}
		buf = append(buf, h.ring[(h.start+int(r-h.compacted-1))%len(h.ring)])
	}
	t.revs = append(t.revs[:0], t.revs[n:]...)
	upTo := h.compacted + int64(h.n)
	if len(t.revs) > 0 {
		upTo = buf[len(buf)-1].rev
	}
	return buf, upTo, t.notify, nil
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
	var trig *trigger
	if f, ok := triggerFields[k.Resource]; ok && opts.Fields != nil {
		if v, ok := opts.Fields.RequiresExactMatch(f); ok {
			t, err := s.hist.addTrigger(triggerKey{k.Resource, v}, from)
			if err != nil {
				return nil, err
			}
			trig = t
		}
	}
	if trig == nil {
		if _, _, err := s.hist.after(from, nil, 0); err != nil {
			return nil, err
		}
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
	w.trigger = trig
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
	// trigger, if not nil, is this keyed watcher's queue of changes.
	trigger *trigger
}

// next returns the changes after the cursor that the watcher should
// look at, the revision it has then seen everything up to, and a channel
// closed when there may be more.
func (w *watcher) next(buf []event) ([]event, int64, <-chan struct{}, error) {
	if w.trigger != nil {
		return w.hist.keyedAfter(w.trigger, w.cursor, buf, cap(buf))
	}
	evs, notify, err := w.hist.after(w.cursor, buf, cap(buf))
	upTo := w.cursor
	if len(evs) > 0 {
		upTo = evs[len(evs)-1].rev
	}
	return evs, upTo, notify, err
}

func (w *watcher) ResultChan() <-chan api.WatchEvent { return w.ch }
func (w *watcher) Stop()                             { w.cancel() }

func (w *watcher) run(ctx context.Context) {
	defer close(w.ch)
	defer w.cancel()
	if w.trigger != nil {
		defer w.hist.removeTrigger(w.trigger)
	}
	var bookmark <-chan time.Time
	if w.opts.BookmarkInterval > 0 {
		t := time.NewTicker(w.opts.BookmarkInterval)
		defer t.Stop()
		bookmark = t.C
	}
	// A batch of 32 events (≈ 3 KB) lives on this goroutine's stack: a
	// server holds one per watch (1,000 agents, 1,000 watches), and a
	// bigger batch grows every stack past 32 KB for nothing — the loop
	// takes the next batch at once.
	buf := make([]event, 0, 32)
	sent := false // since the last bookmark tick
	tick := false // a bookmark is due once the watcher has caught up
	for {
		evs, upTo, notify, err := w.next(buf[:0])
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
		w.cursor = max(w.cursor, upTo)
		if len(evs) > 0 {
			continue
		}
		if tick {
			if !sent {
				b := w.kind.New()
				api.SetTypeMeta(b)
				b.GetObjectMeta().ResourceVersion = strconv.FormatInt(w.cursor, 10)
				if !w.send(ctx, api.WatchEvent{Type: api.Bookmark, Object: b}) {
					return
				}
			}
			tick, sent = false, false
		}
		select {
		case <-ctx.Done():
			return
		case <-notify:
		case <-bookmark:
			tick = true
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
