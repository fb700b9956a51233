package agent

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

// recorder writes Events about pods, for `skiff describe`. A repeat of
// the same event bumps its count instead of making a new object, and is
// written at most once per eventCoalesce so a crash loop does not wear
// the flash.
type recorder struct {
	backend client.Backend
	node    string
	now     func() time.Time
	log     *slog.Logger

	mu   sync.Mutex
	seen map[string]*seenEvent // uid/type/reason/message

	// writes go out in order from one goroutine (run), so a pod's sync
	// never waits for an Event's write; a full queue drops the write
	// (the count still grows, and the next repeat carries it).
	writes chan eventWrite
}

// eventWrite is one Event to create, or to patch with a new count.
type eventWrite struct {
	ev     *api.Event
	create bool
}

// eventQueue is how many Event writes wait before new ones are dropped.
const eventQueue = 512

type seenEvent struct {
	name    string
	ns      string
	count   int32
	first   time.Time
	written time.Time
}

const eventCoalesce = 30 * time.Second

func newRecorder(b client.Backend, node string, now func() time.Time, log *slog.Logger) *recorder {
	return &recorder{backend: b, node: node, now: now, log: log, seen: map[string]*seenEvent{}, writes: make(chan eventWrite, eventQueue)}
}

func (r *recorder) normal(pod *api.Pod, reason, msg string) {
	r.record(pod, api.EventTypeNormal, reason, msg)
}

func (r *recorder) warn(pod *api.Pod, reason, msg string) {
	r.record(pod, api.EventTypeWarning, reason, msg)
}

func (r *recorder) record(pod *api.Pod, typ, reason, msg string) {
	if pod == nil {
		return
	}
	key := pod.UID + "/" + typ + "/" + reason + "/" + msg
	now := r.now()
	r.mu.Lock()
	e, ok := r.seen[key]
	if ok {
		e.count++
		if now.Sub(e.written) < eventCoalesce {
			// Counted; the next write after the window carries it.
			r.mu.Unlock()
			return
		}
	} else {
		b := make([]byte, 8)
		rand.Read(b)
		e = &seenEvent{name: pod.Name + "." + hex.EncodeToString(b), ns: pod.Namespace, count: 1, first: now}
		r.seen[key] = e
	}
	e.written = now
	ev := &api.Event{
		ObjectMeta:          api.ObjectMeta{Name: e.name, Namespace: pod.Namespace},
		InvolvedObject:      api.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Reason:              reason,
		Message:             msg,
		Source:              api.EventSource{Component: "skiff-agent", Host: r.node},
		FirstTimestamp:      api.NewTime(e.first),
		LastTimestamp:       api.NewTime(now),
		Count:               e.count,
		Type:                typ,
		ReportingController: "skiff-agent",
		ReportingInstance:   r.node,
	}
	first := !ok
	r.mu.Unlock()
	select {
	case r.writes <- eventWrite{ev: ev, create: first}:
	default:
		r.log.Debug("event queue full; dropped", "pod", pod.Namespace+"/"+pod.Name, "reason", reason)
	}
}

// run writes queued Events until ctx ends.
func (r *recorder) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case w := <-r.writes:
			r.write(ctx, w)
		}
	}
}

func (r *recorder) write(ctx context.Context, w eventWrite) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ev := w.ev
	var err error
	if w.create {
		_, err = r.backend.Create(ctx, "events", ev.Namespace, ev)
	} else {
		patch := fmt.Appendf(nil, `{"count":%d,"lastTimestamp":%q}`, ev.Count, ev.LastTimestamp.UTC().Format(time.RFC3339))
		_, err = r.backend.Patch(ctx, "events", ev.Namespace, ev.Name, patch, "")
	}
	if err != nil && ctx.Err() == nil {
		r.log.Debug("write event", "event", ev.Namespace+"/"+ev.Name, "reason", ev.Reason, "err", err)
	}
}

// forget drops what is remembered of a pod's events.
func (r *recorder) forget(uid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.seen {
		if len(k) > len(uid) && k[:len(uid)] == uid {
			delete(r.seen, k)
		}
	}
}
