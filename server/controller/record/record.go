// Package record writes Events about objects for controllers, coalesced
// as Kubernetes' event aggregator does: a new message is an Event, a repeat
// only bumps its count (written at most every few seconds), and past ten
// distinct messages per object and reason in ten minutes they fold into
// one "combined" Event. Writing happens off the sync path and Events are
// advisory: when the queue is full they are dropped, never waited for.
//
// The object an Event is about is passed as a reference, so every
// controller (replica set, deployment, job, cron job) shares it; each
// builds its own Recorder, named for its component, and runs it in its own
// errgroup; a controller whose Config may carry another Eventer (a test's
// fake) keeps whichever it has in a Given. It does not decide which
// Events a controller writes.
package record

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Coalescing: a job of 1,000 pods, or a replica set scaled to 1,000, must
// not write 1,000 Events.
const (
	// distinctMessages is how many different messages one object and
	// reason get as Events of their own within eventWindow; after that
	// they are combined into one Event whose count grows, as Kubernetes'
	// event aggregator does.
	distinctMessages = 10
	// eventWindow is how long a reason's distinct messages are counted,
	// and how long after its last change an Event is forgotten.
	eventWindow = 10 * time.Minute
	// eventFlush is how often count changes are written: a repeat never
	// writes by itself, the next flush carries every repeat since.
	eventFlush = 5 * time.Second
	// eventQueue bounds the Event creates waiting to be written; beyond
	// it they are dropped (Events are advisory).
	eventQueue = 256
)

// Recorder writes Events about objects. Every new Event is created (in
// order, off the sync path); repeats only bump a count, written at most
// once per flush; and beyond distinctMessages messages per object and
// reason, the rest are folded into one "combined" Event.
type Recorder struct {
	backend   client.Backend
	now       func() time.Time
	log       *slog.Logger
	component string

	mu      sync.Mutex
	events  map[string]*pendingEvent // uid/type/reason/message ("" message: combined)
	reasons map[string]*reasonCount  // uid/type/reason

	creates chan *api.Event
}

type pendingEvent struct {
	ev      *api.Event // owned by the recorder; copied for writes
	written int32      // count last written (0: not created yet)
	last    time.Time
}

type reasonCount struct {
	distinct int
	since    time.Time
}

// New returns a Recorder writing through b as component
// ("job-controller"); now is the clock (nil: time.Now). Run writes.
func New(b client.Backend, component string, now func() time.Time, log *slog.Logger) *Recorder {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{
		backend: b, now: now, log: log, component: component,
		events: map[string]*pendingEvent{}, reasons: map[string]*reasonCount{},
		creates: make(chan *api.Event, eventQueue),
	}
}

// Eventf records an Event about the object obj names (its kind, API
// version, namespace, name and uid).
func (r *Recorder) Eventf(obj api.ObjectReference, typ, reason, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	now := r.now()
	base := obj.UID + "/" + typ + "/" + reason
	r.mu.Lock()
	defer r.mu.Unlock()
	key := base + "/" + msg
	if _, seen := r.events[key]; !seen {
		rc := r.reasons[base]
		if rc == nil || now.Sub(rc.since) > eventWindow {
			rc = &reasonCount{since: now}
			r.reasons[base] = rc
		}
		if rc.distinct >= distinctMessages {
			key, msg = base+"/", "(combined from similar events): "+msg
		} else {
			rc.distinct++
		}
	}
	if e, ok := r.events[key]; ok {
		e.ev.Count++
		e.ev.LastTimestamp = api.NewTime(now)
		e.ev.Message = msg // a combined Event shows the latest message
		e.last = now
		return // the next flush writes it
	}
	b := make([]byte, 8)
	rand.Read(b)
	ev := &api.Event{
		ObjectMeta:          api.ObjectMeta{Name: obj.Name + "." + hex.EncodeToString(b), Namespace: obj.Namespace},
		InvolvedObject:      obj,
		Reason:              reason,
		Message:             msg,
		Source:              api.EventSource{Component: r.component},
		FirstTimestamp:      api.NewTime(now),
		LastTimestamp:       api.NewTime(now),
		Count:               1,
		Type:                typ,
		ReportingController: r.component,
	}
	r.events[key] = &pendingEvent{ev: ev, last: now}
	select {
	case r.creates <- api.Clone(ev):
		r.events[key].written = 1
	default:
		// Dropped; the flush creates it with its count.
		r.log.Debug("event queue full", "object", obj.Namespace+"/"+obj.Name, "reason", reason)
	}
}

// Run writes Events until ctx ends.
func (r *Recorder) Run(ctx context.Context) error {
	t := time.NewTicker(eventFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-r.creates:
			r.create(ctx, ev)
		case <-t.C:
			r.Flush(ctx)
		}
	}
}

func (r *Recorder) create(ctx context.Context, ev *api.Event) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := r.backend.Create(ctx, "events", ev.Namespace, ev); err != nil && ctx.Err() == nil {
		r.log.Debug("create event", "event", ev.Namespace+"/"+ev.Name, "reason", ev.Reason, "err", err)
	}
}

// Flush writes the counts that changed since the last flush (creating
// Events whose create was dropped) and forgets Events idle for a window.
// Run calls it every few seconds.
func (r *Recorder) Flush(ctx context.Context) {
	// Creates first: a count is never patched onto an Event not made yet.
	for drained := false; !drained; {
		select {
		case ev := <-r.creates:
			r.create(ctx, ev)
		default:
			drained = true
		}
	}
	now := r.now()
	type write struct {
		ev     *api.Event
		create bool
	}
	var writes []write
	r.mu.Lock()
	for k, e := range r.events {
		switch {
		case e.written == 0:
			writes = append(writes, write{api.Clone(e.ev), true})
		case e.written != e.ev.Count:
			writes = append(writes, write{api.Clone(e.ev), false})
		case now.Sub(e.last) > eventWindow:
			delete(r.events, k)
			continue
		default:
			continue
		}
		e.written = e.ev.Count
	}
	for k, rc := range r.reasons {
		if now.Sub(rc.since) > eventWindow {
			delete(r.reasons, k)
		}
	}
	r.mu.Unlock()
	for _, w := range writes {
		if ctx.Err() != nil {
			return
		}
		if w.create {
			r.create(ctx, w.ev)
			continue
		}
		patch := fmt.Appendf(nil, `{"count":%d,"lastTimestamp":%q,"message":%q}`,
			w.ev.Count, w.ev.LastTimestamp.UTC().Format(time.RFC3339), w.ev.Message)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := r.backend.Patch(wctx, "events", w.ev.Namespace, w.ev.Name, patch, ""); err != nil && wctx.Err() == nil {
			r.log.Debug("update event", "event", w.ev.Namespace+"/"+w.ev.Name, "reason", w.ev.Reason, "err", err)
		}
		cancel()
	}
}

// Forget drops what is remembered of an object's Events (it is gone).
func (r *Recorder) Forget(uid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.events {
		if len(k) > len(uid) && k[:len(uid)] == uid && k[len(uid)] == '/' {
			delete(r.events, k)
		}
	}
	for k := range r.reasons {
		if len(k) > len(uid) && k[:len(uid)] == uid && k[len(uid)] == '/' {
			delete(r.reasons, k)
		}
	}
}

// The Event reasons the workload controllers give their pod and job
// writes, as Kubernetes'.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedCreate     = "FailedCreate"
	ReasonFailedDelete     = "FailedDelete"
)
