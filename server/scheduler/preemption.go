package scheduler

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// DefaultPreemption makes room for a pod no node fits by evicting pods of
// lower priority, as Kubernetes' DefaultPreemption does:
//
//  1. Only a pod whose preemptionPolicy is not Never preempts, and not
//     while pods of lower priority on its nominated node are still
//     terminating (it made room there already; it waits for it).
//  2. Candidate nodes are those whose refusal removing pods can undo:
//     not UnschedulableAndUnresolvable (node name, affinity, taints,
//     cordon).
//  3. On a copy of each, every pod of lower priority that is not already
//     terminating is removed; if the pod still does not fit, the node is
//     no candidate. Then the removed pods are put back one by one, the
//     most important (highest priority, then longest running) first,
//     and each that leaves the pod fitting stays (is reprieved): the
//     rest are the node's victims, a minimal set.
//  4. The node chosen has, in order: the lowest highest-victim priority,
//     the smallest sum of victim priorities, the fewest victims, the
//     latest start among its highest-priority victims.
//  5. Its victims are deleted gracefully (their terminationGracePeriod
//     holds) with a Preempted Event each, and the node is returned: the
//     scheduler nominates the pod there (status.nominatedNodeName) and
//     counts it there for pods of lower or equal priority until the
//     victims are gone and it binds.
//
// PodDisruptionBudgets are not considered: skiff has none.
type DefaultPreemption struct {
	ev Evictor
	// next is where the next search for candidates starts, so that
	// successive preemptions look at different nodes first.
	next int
}

var _ PostFilterPlugin = (*DefaultPreemption)(nil)

// NewDefaultPreemption returns the plugin; ev carries out the evictions.
func NewDefaultPreemption(ev Evictor) *DefaultPreemption { return &DefaultPreemption{ev: ev} }

// Name of the plugin.
func (*DefaultPreemption) Name() string { return "DefaultPreemption" }

// Evictor deletes the victims of a preemption and records why.
type Evictor interface {
	Evict(ctx context.Context, preemptor *api.Pod, node string, victims []*api.Pod) error
}

// EventRecorder creates Events; the scheduler's reporter queues them and
// writes them from its own goroutine.
type EventRecorder interface {
	Record(ev *api.Event)
}

// The reasons preemption gives.
const (
	reasonPreemptNever  = "not eligible due to preemptionPolicy=Never"
	reasonNoVictims     = "No preemption victims found for incoming pod"
	reasonNotResolvable = "Preemption is not helpful for scheduling"
)

// The bounds of the candidate search, Kubernetes' defaults: at least 10 %
// of the nodes, and at least 100, are evaluated before choosing.
const (
	minCandidateNodesPercentage = 10
	minCandidateNodesAbsolute   = 100
)

// candidate is a node preemption could make room on, and its victims.
type candidate struct {
	node    string
	victims []*PodInfo
}

// PostFilter finds the node and victims, evicts them and returns the node.
// For a pod waiting on its nominated node it returns that node (the
// nomination stands); "" and a status when no room can be made.
func (p *DefaultPreemption) PostFilter(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot, failed map[string]*Status, h FilterHandle) (string, *Status) {
	if api.PreemptionPolicyOf(&pod.Pod.Spec) == api.PreemptNever {
		return "", NewStatus(Unschedulable, reasonPreemptNever)
	}
	// A pod whose victims are still going waits for its nominated node —
	// unless that node now refuses it for good (cordoned, tainted
	// unreachable, gone), when it may preempt elsewhere, as in
	// Kubernetes' PodEligibleToPreemptOthers.
	if nn := nominatedNodeOf(pod, snap); nn != "" && !unresolvable(failed[nn]) && victimsTerminating(pod, snap, nn) {
		return nn, nil
	}
	cands, resolvable := p.findCandidates(ctx, state, pod, snap, failed, h)
	switch {
	case !resolvable:
		return "", NewStatus(Unschedulable, reasonNotResolvable)
	case len(cands) == 0:
		return "", NewStatus(Unschedulable, reasonNoVictims)
	}
	best := pickCandidate(cands)
	victims := make([]*api.Pod, len(best.victims))
	for i, v := range best.victims {
		victims[i] = v.Pod
	}
	if err := p.ev.Evict(ctx, pod.Pod, best.node, victims); err != nil {
		return "", AsStatus(fmt.Errorf("preempt on node %s: %w", best.node, err))
	}
	return best.node, nil
}

// nominatedNodeOf is the node the pod is nominated to: the scheduler's
// record, else the pod's status (as written before a restart).
func nominatedNodeOf(pod *PodInfo, snap *Snapshot) string {
	if nn := snap.nominatedNode[pod.Key]; nn != "" {
		return nn
	}
	return pod.Pod.Status.NominatedNodeName
}

func unresolvable(st *Status) bool { return st != nil && st.Code == UnschedulableAndUnresolvable }

// victimsTerminating reports whether pods of lower priority than pod are
// being deleted on node: the room preemption made is still coming.
func victimsTerminating(pod *PodInfo, snap *Snapshot, node string) bool {
	ni, ok := snap.Get(node)
	if !ok {
		return false
	}
	prio := priority(pod.Pod)
	for _, p := range ni.Pods {
		if p.Pod.DeletionTimestamp != nil && priority(p.Pod) < prio {
			return true
		}
	}
	return false
}

// numCandidates is how many candidates are enough to choose from.
func numCandidates(nodes int) int {
	return min(nodes, max(minCandidateNodesAbsolute, nodes*minCandidateNodesPercentage/100))
}

// findCandidates evaluates the nodes whose refusal preemption may undo,
// starting where the last search stopped, until enough have victims;
// resolvable is false when there was no such node.
func (p *DefaultPreemption) findCandidates(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot, failed map[string]*Status, h FilterHandle) (_ []candidate, resolvable bool) {
	nodes := snap.Nodes()
	if len(nodes) == 0 || len(failed) == 0 {
		return nil, false
	}
	want := numCandidates(len(nodes))
	var out []candidate
	start := p.next % len(nodes)
	checked := 0
	for ; checked < len(nodes) && len(out) < want; checked++ {
		ni := nodes[(start+checked)%len(nodes)]
		st, ok := failed[ni.Name()]
		if !ok || st.Code != Unschedulable {
			continue // fits already (not here), or preemption cannot help
		}
		resolvable = true
		if victims, ok := selectVictims(ctx, state, pod, snap, ni, h); ok {
			out = append(out, candidate{node: ni.Name(), victims: victims})
		}
	}
	p.next = (start + checked) % len(nodes)
	return out, resolvable
}

// selectVictims returns the fewest pods of lower priority whose removal
// from ni makes the pod fit, or false if removing them all does not.
// Pods already terminating are never victims (they are going anyway).
func selectVictims(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot, ni *NodeInfo, h FilterHandle) ([]*PodInfo, bool) {
	prio := priority(pod.Pod)
	var potential []*PodInfo
	for _, p := range ni.Pods {
		if priority(p.Pod) < prio && p.Pod.DeletionTimestamp == nil {
			potential = append(potential, p)
		}
	}
	if len(potential) == 0 {
		return nil, false
	}
	node, st := ni.clone(), state.Clone()
	for _, v := range potential {
		node.removePod(v.Key)
		if s := h.RemovePod(ctx, st, pod, v, node); !s.IsSuccess() {
			return nil, false
		}
	}
	if !h.RunFilters(ctx, st, pod, snap, node).IsSuccess() {
		return nil, false
	}
	sort.Slice(potential, func(i, j int) bool { return moreImportant(potential[i], potential[j]) })
	var victims []*PodInfo
	for _, v := range potential {
		node.addPod(v)
		if s := h.AddPod(ctx, st, pod, v, node); !s.IsSuccess() {
			return nil, false
		}
		if h.RunFilters(ctx, st, pod, snap, node).IsSuccess() {
			continue // reprieved
		}
		node.removePod(v.Key)
		if s := h.RemovePod(ctx, st, pod, v, node); !s.IsSuccess() {
			return nil, false
		}
		victims = append(victims, v)
	}
	return victims, true
}

// moreImportant orders pods for reprieve: higher priority first, then the
// one that started first (it has run longest; evicting it loses most).
func moreImportant(a, b *PodInfo) bool {
	if pa, pb := priority(a.Pod), priority(b.Pod); pa != pb {
		return pa > pb
	}
	return startTime(a.Pod).Before(startTime(b.Pod))
}

// notStarted stands for the start time of a pod that has not started: it
// counts as the newest.
var notStarted = time.Unix(math.MaxInt32, 0)

// startTime is when the pod started on its node.
func startTime(p *api.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return notStarted
}

// pickCandidate chooses among the candidates: lowest highest-victim
// priority, then smallest sum of victim priorities, then fewest victims,
// then the latest start among the highest-priority victims; then the
// first.
func pickCandidate(cands []candidate) candidate {
	type score struct {
		highest int32
		sum     int64
		n       int
		start   time.Time
	}
	scores := make([]score, len(cands))
	for i, c := range cands {
		s := score{highest: math.MinInt32, n: len(c.victims)}
		for _, v := range c.victims {
			prio := priority(v.Pod)
			s.highest = max(s.highest, prio)
			// Shifted so that every victim adds: more victims, more sum,
			// negative priorities too (as Kubernetes does).
			s.sum += int64(prio) + math.MaxInt32 + 1
		}
		s.start = notStarted
		for _, v := range c.victims {
			if priority(v.Pod) == s.highest {
				if t := startTime(v.Pod); t.Before(s.start) {
					s.start = t
				}
			}
		}
		scores[i] = s
	}
	best := 0
	for i := 1; i < len(cands); i++ {
		a, b := scores[i], scores[best]
		switch {
		case a.highest != b.highest:
			if a.highest < b.highest {
				best = i
			}
		case a.sum != b.sum:
			if a.sum < b.sum {
				best = i
			}
		case a.n != b.n:
			if a.n < b.n {
				best = i
			}
		case a.start.After(b.start):
			best = i
		}
	}
	return cands[best]
}

// ReasonPreempted is the reason of the Event on each victim.
const ReasonPreempted = "Preempted"

// APIEvictor deletes victims through the API: a normal delete, so each
// gets its terminationGracePeriodSeconds, pinned to its uid so that a
// replacement of the same name is left alone; and it records a Preempted
// Event on each.
type APIEvictor struct {
	b      client.Backend
	events EventRecorder
	now    func() time.Time
}

var _ Evictor = (*APIEvictor)(nil)

// NewAPIEvictor returns an evictor deleting through b and recording
// Events with events.
func NewAPIEvictor(b client.Backend, events EventRecorder, now func() time.Time) *APIEvictor {
	if now == nil {
		now = time.Now
	}
	return &APIEvictor{b: b, events: events, now: now}
}

// maxParallelEvictions bounds the deletes in flight for one preemption.
const maxParallelEvictions = 16

// Evict deletes the victims, in parallel, and returns the first error. A
// victim already gone (or replaced) is no error.
func (e *APIEvictor) Evict(ctx context.Context, preemptor *api.Pod, node string, victims []*api.Pod) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		slots = make(chan struct{}, maxParallelEvictions)
	)
	for _, v := range victims {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := e.evict(ctx, preemptor, node, v); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func (e *APIEvictor) evict(ctx context.Context, preemptor *api.Pod, node string, v *api.Pod) error {
	uid := v.UID
	_, err := e.b.Delete(ctx, "pods", v.Namespace, v.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
	switch {
	case errdefs.IsNotFound(err), errdefs.IsConflict(err):
		return nil // gone, or a new pod of the same name
	case err != nil:
		return fmt.Errorf("delete victim %s/%s: %w", v.Namespace, v.Name, err)
	}
	now := api.NewTime(e.now())
	e.events.Record(&api.Event{
		ObjectMeta:          api.ObjectMeta{Name: eventName(v.Name), Namespace: v.Namespace},
		InvolvedObject:      api.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: v.Namespace, Name: v.Name, UID: v.UID},
		Reason:              ReasonPreempted,
		Message:             fmt.Sprintf("Preempted by %s/%s on node %s", preemptor.Namespace, preemptor.Name, node),
		Source:              api.EventSource{Component: componentName},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		Type:                api.EventTypeNormal,
		ReportingController: componentName,
	})
	return nil
}
