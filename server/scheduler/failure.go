package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// Why a pod is not scheduled, in its PodScheduled condition and Event.
const (
	ReasonUnschedulable    = "Unschedulable"
	ReasonFailedScheduling = "FailedScheduling"
	// componentName is the Events' source, as Kubernetes names it.
	componentName = "default-scheduler"
)

// reportInterval is the least time between two writes about one pod: an
// Event repeat only bumps a count in memory until then, and a changed
// message replaces the condition at most this often. A pod that cycles
// through the queue does not wear the flash.
const reportInterval = 30 * time.Second

// repeatInterval is the least time between two writes of one Event's
// count: a pod that stays unschedulable for the same reason is retried
// every minute, and an idle cluster must not write for it each time.
const repeatInterval = 10 * time.Minute

// reporter writes why pods cannot be scheduled: the PodScheduled
// condition (False, Unschedulable, the per-node-class message) and a
// FailedScheduling Event; and, for preemption, the pods'
// status.nominatedNodeName and the victims' Preempted Events. Writes go
// out from one goroutine, so the scheduling loop never waits on them; a
// pod's newer failure (or nomination) replaces one not yet written.
type reporter struct {
	b   client.Backend
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]failure
	order   []string
	pods    map[string]*podReport // what was written, by pod key
	// noms are the nominatedNodeName writes to make, by pod key (the
	// newest wins), in nomOrder; events are Events to create.
	noms     map[string]nominationWrite
	nomOrder []string
	events   []*api.Event
	wake     chan struct{}
}

// nominationWrite sets a pod's status.nominatedNodeName ("" clears it).
type nominationWrite struct {
	namespace, name, uid, node string
}

var _ EventRecorder = (*reporter)(nil)

type failure struct {
	pod     *api.Pod
	message string
}

type podReport struct {
	uid string
	// event is the Event being counted; eventMsg its message.
	event, eventMsg string
	count           int32
	first           time.Time
	eventWritten    time.Time
	// condWritten is when the condition was last written, with condMsg.
	condWritten time.Time
	condMsg     string
}

func newReporter(b client.Backend, now func() time.Time, log *slog.Logger) *reporter {
	return &reporter{b: b, now: now, log: log, pending: map[string]failure{}, pods: map[string]*podReport{},
		noms: map[string]nominationWrite{}, wake: make(chan struct{}, 1)}
}

func (r *reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// nominate queues a write of the pod's status.nominatedNodeName; node ""
// clears it. Unlike a failure it is written even once the pod is bound
// (a pod bound elsewhere has its nomination cleared).
func (r *reporter) nominate(pod *api.Pod, node string) {
	key := pod.Namespace + "/" + pod.Name
	r.mu.Lock()
	if _, queued := r.noms[key]; !queued {
		r.nomOrder = append(r.nomOrder, key)
	}
	r.noms[key] = nominationWrite{namespace: pod.Namespace, name: pod.Name, uid: pod.UID, node: node}
	r.mu.Unlock()
	r.poke()
}

// Record queues an Event to create (a preemption victim's).
func (r *reporter) Record(ev *api.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.poke()
}

// eventName names a new Event about a pod, as Kubernetes does: the pod's
// name and a random suffix.
func eventName(pod string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return pod + "." + hex.EncodeToString(b)
}

// report queues a failure of pod.
func (r *reporter) report(pod *api.Pod, message string) {
	key := pod.Namespace + "/" + pod.Name
	r.mu.Lock()
	if _, queued := r.pending[key]; !queued {
		r.order = append(r.order, key)
	}
	r.pending[key] = failure{pod: pod, message: message}
	r.mu.Unlock()
	r.poke()
}

// forget drops what is remembered of a pod (bound or deleted).
func (r *reporter) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pods, key)
	if _, ok := r.pending[key]; ok {
		delete(r.pending, key)
		for i, k := range r.order {
			if k == key {
				r.order = append(r.order[:i], r.order[i+1:]...)
				break
			}
		}
	}
}

// run writes queued failures until ctx ends.
func (r *reporter) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		}
		for r.writeNext(ctx) {
		}
	}
}

// writeNext writes one queued item — nominations first (the preemptor
// and the pods it displaced), then failures, then Events — and reports
// whether there was one.
func (r *reporter) writeNext(ctx context.Context) bool {
	r.mu.Lock()
	switch {
	case len(r.nomOrder) > 0:
		key := r.nomOrder[0]
		r.nomOrder = r.nomOrder[1:]
		n := r.noms[key]
		delete(r.noms, key)
		r.mu.Unlock()
		r.writeNomination(ctx, n)
	case len(r.order) > 0:
		key := r.order[0]
		r.order = r.order[1:]
		f := r.pending[key]
		delete(r.pending, key)
		rep := r.pods[key]
		if rep == nil || rep.uid != f.pod.UID {
			rep = &podReport{uid: f.pod.UID}
			r.pods[key] = rep
		}
		r.mu.Unlock()
		r.write(ctx, f, rep)
	case len(r.events) > 0:
		ev := r.events[0]
		r.events[0] = nil
		r.events = r.events[1:]
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := r.b.Create(ctx, "events", ev.Namespace, ev); err != nil && ctx.Err() == nil {
			r.log.Debug("write event", "pod", ev.Namespace+"/"+ev.InvolvedObject.Name, "reason", ev.Reason, "err", err)
		}
	default:
		r.mu.Unlock()
		return false
	}
	return true
}

// writeNomination sets the pod's status.nominatedNodeName, if it is
// still the same pod (uid) and says otherwise.
func (r *reporter) writeNomination(ctx context.Context, n nominationWrite) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pods := client.For[*api.Pod](r.b, n.namespace)
	err := client.RetryOnConflict(ctx, func() error {
		cur, err := pods.Get(ctx, n.name)
		if err != nil {
			return err
		}
		if cur.UID != n.uid || cur.Status.NominatedNodeName == n.node {
			return nil // replaced, or already so
		}
		p := api.Clone(cur)
		p.Status.NominatedNodeName = n.node
		_, err = pods.UpdateStatus(ctx, p)
		return err
	})
	if err != nil && !errdefs.IsNotFound(err) && ctx.Err() == nil {
		r.log.Warn("write nominated node", "pod", n.namespace+"/"+n.name, "node", n.node, "err", err)
	}
}

// write records one failure. rep is only touched by the run goroutine
// (forget drops the map's reference, not the value).
func (r *reporter) write(ctx context.Context, f failure, rep *podReport) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	now := r.now()
	if r.conditionDue(f, rep, now) {
		if err := r.writeCondition(ctx, f); err != nil {
			if ctx.Err() == nil && !errdefs.IsNotFound(err) {
				r.log.Warn("write pod condition", "pod", f.pod.Namespace+"/"+f.pod.Name, "err", err)
			}
		} else {
			rep.condWritten, rep.condMsg = now, f.message
		}
	}
	r.recordEvent(ctx, f, rep, now)
}

// conditionDue reports whether the pod's condition needs writing: it does
// not say Unschedulable yet, or it says another message and the last write
// is old enough.
func (r *reporter) conditionDue(f failure, rep *podReport, now time.Time) bool {
	if rep.condMsg == f.message && now.Sub(rep.condWritten) < reportInterval {
		return false // written; the informer has not shown it yet
	}
	c := findCondition(f.pod.Status.Conditions, api.PodScheduled)
	if c == nil || c.Status != api.ConditionFalse || c.Reason != ReasonUnschedulable {
		return true
	}
	return c.Message != f.message && now.Sub(rep.condWritten) >= reportInterval
}

func findCondition(cs []api.PodCondition, t api.PodConditionType) *api.PodCondition {
	for i := range cs {
		if cs[i].Type == t {
			return &cs[i]
		}
	}
	return nil
}

// writeCondition sets PodScheduled False on the pod, while it is unbound.
func (r *reporter) writeCondition(ctx context.Context, f failure) error {
	pods := client.For[*api.Pod](r.b, f.pod.Namespace)
	cur := f.pod
	return client.RetryOnConflict(ctx, func() error {
		if cur == nil {
			fresh, err := pods.Get(ctx, f.pod.Name)
			if err != nil {
				return err
			}
			cur = fresh
		}
		if cur.UID != f.pod.UID || cur.Spec.NodeName != "" {
			return nil // replaced, or bound meanwhile
		}
		p := api.Clone(cur)
		cur = nil // a conflict reads it again
		now := api.NewTime(r.now())
		c := api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: ReasonUnschedulable, Message: f.message, LastProbeTime: now, LastTransitionTime: now}
		if old := findCondition(p.Status.Conditions, api.PodScheduled); old != nil {
			if old.Status == api.ConditionFalse {
				c.LastTransitionTime = old.LastTransitionTime
			}
			*old = c
		} else {
			p.Status.Conditions = append(p.Status.Conditions, c)
		}
		_, err := pods.UpdateStatus(ctx, p)
		return err
	})
}

// recordEvent creates the pod's FailedScheduling Event, or counts a
// repeat and writes the count at most once per repeatInterval. A new
// message starts a new Event (no sooner than reportInterval).
func (r *reporter) recordEvent(ctx context.Context, f failure, rep *podReport, now time.Time) {
	if rep.event != "" && rep.eventMsg == f.message && now.Sub(rep.eventWritten) < repeatInterval {
		rep.count++ // the same failure again: nothing new to write yet
		return
	}
	if rep.event != "" && now.Sub(rep.eventWritten) < reportInterval {
		return
	}
	var err error
	if rep.event != "" && rep.eventMsg == f.message {
		rep.count++
		patch := fmt.Appendf(nil, `{"count":%d,"lastTimestamp":%q}`, rep.count, api.NewTime(now).UTC().Format(time.RFC3339))
		_, err = r.b.Patch(ctx, "events", f.pod.Namespace, rep.event, patch, "")
	} else {
		rep.event, rep.eventMsg, rep.count, rep.first = eventName(f.pod.Name), f.message, 1, now
		ev := &api.Event{
			ObjectMeta:          api.ObjectMeta{Name: rep.event, Namespace: f.pod.Namespace},
			InvolvedObject:      api.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: f.pod.Namespace, Name: f.pod.Name, UID: f.pod.UID},
			Reason:              ReasonFailedScheduling,
			Message:             f.message,
			Source:              api.EventSource{Component: componentName},
			FirstTimestamp:      api.NewTime(now),
			LastTimestamp:       api.NewTime(now),
			Count:               1,
			Type:                api.EventTypeWarning,
			ReportingController: componentName,
		}
		_, err = r.b.Create(ctx, "events", f.pod.Namespace, ev)
	}
	rep.eventWritten = now
	if err != nil && ctx.Err() == nil {
		r.log.Debug("write event", "pod", f.pod.Namespace+"/"+f.pod.Name, "err", err)
	}
}
