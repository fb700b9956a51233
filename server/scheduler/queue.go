package scheduler

import (
	"container/heap"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// ClusterEvent is a change that can make an unschedulable pod fit.
type ClusterEvent int

// The cluster events. Plugins say which of them can undo their refusal
// (see pipeline.go); an unschedulable pod moves back to the active queue
// only on an event one of the plugins that refused it cares about.
const (
	NodeAdd ClusterEvent = iota
	// NodeUpdate: labels, taints, unschedulable, allocatable or images
	// changed.
	NodeUpdate
	// AssignedPodAdd: a pod was bound (or assumed) to a node.
	AssignedPodAdd
	// AssignedPodUpdate: a bound pod's labels changed.
	AssignedPodUpdate
	// AssignedPodDelete: a bound pod was deleted or finished, freeing
	// its resources and ports.
	AssignedPodDelete
	// NamespaceChange: a namespace's labels changed.
	NamespaceChange
	// ClaimChange: a PersistentVolumeClaim was created or deleted, or
	// its selected node or deletion changed.
	ClaimChange
	numClusterEvents
)

func (e ClusterEvent) String() string {
	return [...]string{"NodeAdd", "NodeUpdate", "AssignedPodAdd", "AssignedPodUpdate", "AssignedPodDelete", "NamespaceChange", "ClaimChange"}[e]
}

// Back-off and timeout of the scheduling queue.
const (
	initialBackoff = 1 * time.Second
	maxBackoff     = 10 * time.Second
	// unschedulableTimeout is the longest a pod waits in the
	// unschedulable queue without a relevant event.
	unschedulableTimeout = 60 * time.Second
)

// QueuedPod is a pending pod in the scheduling queue.
type QueuedPod struct {
	*PodInfo
	// Added is when the pod first entered the queue (FIFO order among
	// equal priorities).
	Added time.Time
	// Attempts counts scheduling attempts.
	Attempts int
	// UnschedulablePlugins are the plugins that refused it last time.
	UnschedulablePlugins map[string]bool

	lastAttempt     time.Time
	unschedulableAt time.Time
	backoffUntil    time.Time
	where           int // one of the where* constants
	index           int // in its heap
	// seqAtPop is the queue's event counts when the pod was popped.
	seqAtPop [numClusterEvents]int64
	// next is the pod's newest version, received while it was in flight.
	next    *PodInfo
	updated bool // the pod changed while it was in flight
}

const (
	whereActive = iota
	whereBackoff
	whereUnschedulable
	whereInFlight
)

// Queue is the scheduling queue: pods ready to try (active, highest
// priority first, then oldest), pods waiting out a back-off after a failed
// attempt (1 s doubling to 10 s), and pods no node fits, waiting for a
// cluster event that might change that (or 60 s). A pod is in exactly one
// of them, or in flight (being scheduled or bound).
type Queue struct {
	now       func() time.Time
	interests [numClusterEvents]map[string]bool // event → plugins that care

	mu            sync.Mutex
	cond          *sync.Cond
	active        podHeap
	backoff       podHeap
	unschedulable map[string]*QueuedPod
	// refusedBy counts the unschedulable pods per refusing plugin ("" for
	// pods no plugin in particular refused), so that an event no refusing
	// plugin cares about costs nothing however many pods wait.
	refusedBy map[string]int
	pods      map[string]*QueuedPod
	eventSeq  [numClusterEvents]int64 // MoveAll calls per event
	closed    bool
}

// NewQueue returns an empty queue. interests maps each event to the
// plugins whose refusals it may undo.
func NewQueue(now func() time.Time, interests map[ClusterEvent][]string) *Queue {
	q := &Queue{now: now, unschedulable: map[string]*QueuedPod{}, refusedBy: map[string]int{}, pods: map[string]*QueuedPod{}}
	q.active.less = func(a, b *QueuedPod) bool {
		pa, pb := priority(a.Pod), priority(b.Pod)
		if pa != pb {
			return pa > pb
		}
		return a.Added.Before(b.Added)
	}
	q.backoff.less = func(a, b *QueuedPod) bool { return a.backoffUntil.Before(b.backoffUntil) }
	for e, names := range interests {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		q.interests[e] = m
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues a new pending pod, or updates a queued one. An update that
// changes the pod's spec or labels moves it out of the unschedulable
// queue: the change may make it fit.
func (q *Queue) Add(p *api.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := p.Namespace + "/" + p.Name
	qp, ok := q.pods[key]
	if !ok {
		qp = &QueuedPod{PodInfo: NewPodInfo(p), Added: q.now()}
		q.pods[key] = qp
		q.pushActive(qp)
		return
	}
	changed := podChanged(qp.Pod, p)
	if qp.where == whereInFlight {
		// The scheduling goroutine reads qp.PodInfo: swap it in when the
		// pod comes back.
		qp.next = NewPodInfo(p)
		qp.updated = qp.updated || changed
		return
	}
	qp.PodInfo = NewPodInfo(p)
	switch qp.where {
	case whereActive:
		heap.Fix(&q.active, qp.index)
	case whereBackoff:
		heap.Fix(&q.backoff, qp.index)
	case whereUnschedulable:
		if changed {
			q.removeUnschedulable(key)
			q.requeue(qp)
		}
	}
}

// podChanged reports whether anything that scheduling reads changed.
func podChanged(a, b *api.Pod) bool {
	if a.Generation != b.Generation || len(a.Labels) != len(b.Labels) {
		return true
	}
	for k, v := range a.Labels {
		if bv, ok := b.Labels[k]; !ok || bv != v {
			return true
		}
	}
	// Generation counts spec changes; tolerations may be added in place.
	return len(a.Spec.Tolerations) != len(b.Spec.Tolerations)
}

// Delete drops a pod (deleted, bound elsewhere, or no longer ours).
func (q *Queue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[key]
	if !ok {
		return
	}
	delete(q.pods, key)
	switch qp.where {
	case whereActive:
		heap.Remove(&q.active, qp.index)
	case whereBackoff:
		heap.Remove(&q.backoff, qp.index)
	case whereUnschedulable:
		q.removeUnschedulable(key)
	}
}

// Pop waits for an active pod and hands it out in flight; false once the
// queue is closed.
func (q *Queue) Pop() (*QueuedPod, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, false
	}
	qp := heap.Pop(&q.active).(*QueuedPod)
	qp.where = whereInFlight
	qp.Attempts++
	qp.lastAttempt = q.now()
	qp.seqAtPop = q.eventSeq
	qp.updated = false
	return qp, true
}

// Done ends a pod's time in the queue: it was bound.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.pods[key]; ok && qp.where == whereInFlight {
		delete(q.pods, key)
	}
}

// AddUnschedulable puts back a pod no node fits. If a cluster event or a
// change to the pod came while it was in flight, the refusal may be stale:
// it goes to back-off instead, to be tried again soon.
func (q *Queue) AddUnschedulable(qp *QueuedPod, plugins map[string]bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.Key] != qp || qp.where != whereInFlight {
		return // deleted or bound meanwhile
	}
	q.takeNext(qp)
	qp.UnschedulablePlugins = plugins
	qp.backoffUntil = qp.lastAttempt.Add(backoffFor(qp.Attempts))
	if qp.updated || q.missedEvent(qp) {
		q.pushBackoff(qp)
		return
	}
	qp.where = whereUnschedulable
	qp.unschedulableAt = q.now()
	q.addUnschedulable(qp)
}

// AddBackoff puts back a pod whose attempt failed for another reason
// (an error, a failed bind), to try again after its back-off.
func (q *Queue) AddBackoff(qp *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.Key] != qp || qp.where != whereInFlight {
		return
	}
	q.takeNext(qp)
	qp.backoffUntil = qp.lastAttempt.Add(backoffFor(qp.Attempts))
	q.pushBackoff(qp)
}

// takeNext swaps in the version of the pod received while it was in flight.
func (q *Queue) takeNext(qp *QueuedPod) {
	if qp.next != nil {
		qp.PodInfo, qp.next = qp.next, nil
	}
}

// missedEvent reports whether an event that may undo the pod's refusal
// came while it was in flight.
func (q *Queue) missedEvent(qp *QueuedPod) bool {
	for e := range numClusterEvents {
		if q.eventSeq[e] != qp.seqAtPop[e] && interested(qp.UnschedulablePlugins, q.interests[e]) {
			return true
		}
	}
	return false
}

// backoffFor is the wait after a pod's n-th failed attempt: 1 s, doubling,
// at most 10 s.
func backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// MoveAll moves the unschedulable pods that event may help back to the
// active queue (or to back-off, if theirs has not run out).
func (q *Queue) MoveAll(event ClusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.eventSeq[event]++
	if len(q.unschedulable) == 0 {
		return
	}
	care := q.interests[event]
	if q.refusedBy[""] == 0 && !anyCount(q.refusedBy, care) {
		return
	}
	for key, qp := range q.unschedulable {
		if !interested(qp.UnschedulablePlugins, care) {
			continue
		}
		q.removeUnschedulable(key)
		q.requeue(qp)
	}
}

func anyCount(counts map[string]int, care map[string]bool) bool {
	for p := range care {
		if counts[p] > 0 {
			return true
		}
	}
	return false
}

func (q *Queue) addUnschedulable(qp *QueuedPod) {
	q.unschedulable[qp.Key] = qp
	if len(qp.UnschedulablePlugins) == 0 {
		q.refusedBy[""]++
	}
	for p := range qp.UnschedulablePlugins {
		q.refusedBy[p]++
	}
}

func (q *Queue) removeUnschedulable(key string) {
	qp, ok := q.unschedulable[key]
	if !ok {
		return
	}
	delete(q.unschedulable, key)
	if len(qp.UnschedulablePlugins) == 0 {
		q.refusedBy[""]--
	}
	for p := range qp.UnschedulablePlugins {
		if q.refusedBy[p]--; q.refusedBy[p] == 0 {
			delete(q.refusedBy, p)
		}
	}
}

// interested reports whether any refusing plugin cares; a pod refused by
// no plugin in particular moves on any event.
func interested(refused, care map[string]bool) bool {
	if len(refused) == 0 {
		return true
	}
	for p := range refused {
		if care[p] {
			return true
		}
	}
	return false
}

// Flush moves pods whose back-off is over to the active queue, and pods
// unschedulable for longer than the timeout back too. Run calls it often;
// tests call it after moving a fake clock.
func (q *Queue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for q.backoff.Len() > 0 && !q.backoff.items[0].backoffUntil.After(now) {
		qp := heap.Pop(&q.backoff).(*QueuedPod)
		q.pushActive(qp)
	}
	for key, qp := range q.unschedulable {
		if now.Sub(qp.unschedulableAt) >= unschedulableTimeout {
			q.removeUnschedulable(key)
			q.requeue(qp)
		}
	}
}

// requeue puts a pod in back-off if its back-off has not run out, else
// in the active queue.
func (q *Queue) requeue(qp *QueuedPod) {
	if qp.backoffUntil.After(q.now()) {
		q.pushBackoff(qp)
	} else {
		q.pushActive(qp)
	}
}

func (q *Queue) pushActive(qp *QueuedPod) {
	qp.where = whereActive
	heap.Push(&q.active, qp)
	q.cond.Signal()
}

func (q *Queue) pushBackoff(qp *QueuedPod) {
	qp.where = whereBackoff
	heap.Push(&q.backoff, qp)
}

// Close wakes Pop for good.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// QueueLengths are the sizes of the sub-queues.
type QueueLengths struct {
	Active, Backoff, Unschedulable, InFlight int
}

// Lengths returns the sizes of the sub-queues.
func (q *Queue) Lengths() QueueLengths {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := QueueLengths{Active: q.active.Len(), Backoff: q.backoff.Len(), Unschedulable: len(q.unschedulable)}
	l.InFlight = len(q.pods) - l.Active - l.Backoff - l.Unschedulable
	return l
}

// podHeap is a heap of queued pods that keeps each one's index.
type podHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
}
func (h *podHeap) Pop() any {
	n := len(h.items) - 1
	qp := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	return qp
}
