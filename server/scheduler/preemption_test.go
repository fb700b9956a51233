package scheduler

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// fakeEvictor records evictions instead of deleting.
type fakeEvictor struct {
	calls []eviction
}

type eviction struct {
	preemptor, node string
	victims         []string // names, sorted
}

func (e *fakeEvictor) Evict(_ context.Context, preemptor *api.Pod, node string, victims []*api.Pod) error {
	ev := eviction{preemptor: preemptor.Name, node: node}
	for _, v := range victims {
		ev.victims = append(ev.victims, v.Name)
	}
	slices.Sort(ev.victims)
	e.calls = append(e.calls, ev)
	return nil
}

func deleting(p *api.Pod) {
	ts := api.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p.DeletionTimestamp = &ts
}

func startedAt(hour int) podOpt {
	return func(p *api.Pod) {
		ts := api.NewTime(time.Date(2026, 1, 1, hour, 0, 0, 0, time.UTC))
		p.Status.StartTime = &ts
	}
}

func neverPreempt(p *api.Pod) {
	never := api.PreemptNever
	p.Spec.PreemptionPolicy = &never
}

// low returns a pod of priority prio asking for cpu.
func low(name string, prio int32, cpu string, opts ...podOpt) *api.Pod {
	return pod(name, append([]podOpt{withPriority(prio), requests(cpu, "")}, opts...)...)
}

// preempt schedules p on snap (it must not fit) and runs the post-filter.
func preempt(t *testing.T, ev Evictor, p *api.Pod, snap *Snapshot) (string, *Status) {
	t.Helper()
	f, err := NewFramework(DefaultPipeline(nopBinder{}, ev, NewVolumeBinding(claimMap{}, nil)), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	state := NewCycleState()
	state.Write(snapshotStateKey, snap)
	pi := NewPodInfo(p)
	node, err := f.Schedule(ctx, state, pi, snap)
	var fe *FitError
	if !errors.As(err, &fe) {
		t.Fatalf("scheduled to %q (%v), want no fit", node, err)
	}
	return f.PostFilter(ctx, state, pi, snap, fe.Diagnosis.Nodes)
}

func TestPreemption(t *testing.T) {
	n := func(name string, opts ...nodeOpt) *api.Node { return node(name, "4", "8Gi", opts...) }
	tainted := withTaint("dedicated", "db", api.TaintEffectNoSchedule)
	cases := []struct {
		name    string
		pod     *api.Pod
		nodes   []*NodeInfo
		want    string // the node; "" for none
		victims []string
		reason  string // when want is ""
	}{
		{
			name:  "the lower-priority pod goes, the higher one is reprieved",
			pod:   low("p", 10, "2"),
			nodes: []*NodeInfo{infoOn(n("n1"), low("a", 1, "2"), low("b", 5, "2"))},
			want:  "n1", victims: []string{"a"},
		},
		{
			name: "reprieve the most important first: one 2-cpu pod stays, two small ones go",
			pod:  low("p", 100, "2"),
			nodes: []*NodeInfo{infoOn(n("n1"),
				low("a", 1, "1"), low("b", 1, "1"), low("c", 2, "2"))},
			want: "n1", victims: []string{"a", "b"},
		},
		{
			name:  "only as many victims as needed",
			pod:   low("p", 100, "1"),
			nodes: []*NodeInfo{infoOn(n("n1"), low("a", 1, "1", startedAt(9)), low("b", 1, "1", startedAt(8)), low("c", 1, "1", startedAt(7)), low("d", 1, "1", startedAt(6)))},
			// All equal but the start: the longest-running are reprieved first.
			want: "n1", victims: []string{"a"},
		},
		{
			name:   "equal priority is never a victim",
			pod:    low("p", 10, "2"),
			nodes:  []*NodeInfo{infoOn(n("n1"), low("a", 10, "4"))},
			reason: reasonNoVictims,
		},
		{
			name:   "removing every lower pod is not enough",
			pod:    low("p", 10, "3"),
			nodes:  []*NodeInfo{infoOn(n("n1"), low("a", 1, "2"), low("b", 20, "2"))},
			reason: reasonNoVictims,
		},
		{
			name:   "preemptionPolicy Never",
			pod:    low("p", 1000, "2", neverPreempt),
			nodes:  []*NodeInfo{infoOn(n("n1"), low("a", 1, "4"))},
			reason: reasonPreemptNever,
		},
		{
			name:  "terminating pods are not victims",
			pod:   low("p", 10, "2"),
			nodes: []*NodeInfo{infoOn(n("n1"), low("a", 1, "2", deleting), low("b", 1, "2"))},
			want:  "n1", victims: []string{"b"},
		},
		{
			name:   "only terminating pods: wait for them",
			pod:    low("p", 10, "2"),
			nodes:  []*NodeInfo{infoOn(n("n1"), low("a", 1, "4", deleting))},
			reason: reasonNoVictims,
		},
		{
			name: "unresolvable nodes are skipped: taint, selector, cordon",
			pod:  low("p", 10, "2", nodeSelector("disk", "ssd")),
			nodes: []*NodeInfo{
				infoOn(n("tainted", tainted, withLabels("disk", "ssd")), low("a", 1, "4")),
				infoOn(n("hdd"), low("b", 1, "4")),
				infoOn(n("cordoned", cordoned, withLabels("disk", "ssd")), low("c", 1, "4")),
				infoOn(n("ok", withLabels("disk", "ssd")), low("d", 5, "4")),
			},
			want: "ok", victims: []string{"d"},
		},
		{
			name:   "no resolvable node at all",
			pod:    low("p", 10, "2"),
			nodes:  []*NodeInfo{infoOn(n("tainted", tainted), low("a", 1, "4"))},
			reason: reasonNotResolvable,
		},
		{
			name: "node choice: lowest highest-victim priority",
			pod:  low("p", 100, "2"),
			nodes: []*NodeInfo{
				infoOn(n("n1"), low("a", 5, "4")),
				infoOn(n("n2"), low("b", 3, "4")),
				infoOn(n("n3"), low("c", 4, "4")),
			},
			want: "n2", victims: []string{"b"},
		},
		{
			name: "node choice: smallest sum of victim priorities",
			pod:  low("p", 100, "2"),
			nodes: []*NodeInfo{
				infoOn(n("n1"), low("a1", 3, "1"), low("a2", 3, "1"), low("a3", 10, "2")),
				infoOn(n("n2"), low("b1", 3, "1"), low("b2", 1, "1"), low("b3", 10, "2")),
			},
			want: "n2", victims: []string{"b1", "b2"},
		},
		{
			name: "node choice: fewest victims (the sum counts each victim)",
			pod:  low("p", 100, "2"),
			nodes: []*NodeInfo{
				infoOn(n("n1"), low("a1", 0, "1"), low("a2", 0, "1"), low("a3", 10, "2")),
				infoOn(n("n2"), low("b1", 0, "2"), low("b2", 10, "2")),
			},
			want: "n2", victims: []string{"b1"},
		},
		{
			name: "node choice: the latest-started highest victims",
			pod:  low("p", 100, "2"),
			nodes: []*NodeInfo{
				infoOn(n("n1"), low("a", 3, "4", startedAt(10))),
				infoOn(n("n2"), low("b", 3, "4", startedAt(11))),
				infoOn(n("n3"), low("c", 3, "4", startedAt(9))),
			},
			want: "n2", victims: []string{"b"},
		},
		{
			name: "anti-affinity: the pod it refuses to share a host with goes",
			pod:  low("p", 100, "1", affinity(requiredAnti(term(hostKey, "db")))),
			nodes: []*NodeInfo{
				infoOn(n("n1"), low("db", 1, "1", labels("app", "db")), low("web", 1, "1", labels("app", "web"))),
			},
			want: "n1", victims: []string{"db"},
		},
		{
			name: "existing pod's anti-affinity: that pod goes",
			pod:  low("p", 100, "1", labels("app", "web")),
			nodes: []*NodeInfo{
				infoOn(n("n1"), low("guard", 1, "1", affinity(requiredAnti(term(hostKey, "web")))), low("other", 1, "1")),
			},
			want: "n1", victims: []string{"guard"},
		},
		{
			name: "spread: a pod of the skewed domain goes",
			pod: low("p", 100, "1", labels("app", "web"), spread(api.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: hostKey,
				WhenUnsatisfiable: api.DoNotSchedule, LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}})),
			nodes: []*NodeInfo{
				infoOn(n("n1"), low("w1", 1, "1", labels("app", "web"), startedAt(9)), low("w2", 1, "1", labels("app", "web"), startedAt(8))),
				infoOn(n("n2"), low("w3", 200, "4", labels("app", "web"))),
			},
			want: "n1", victims: []string{"w1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := &fakeEvictor{}
			got, st := preempt(t, ev, c.pod, snapshotOf(c.nodes...))
			if got != c.want {
				t.Fatalf("node %q (%v), want %q", got, st, c.want)
			}
			if c.want == "" {
				if st == nil || !slices.Contains(st.Reasons, c.reason) {
					t.Errorf("status %v, want reason %q", st, c.reason)
				}
				if len(ev.calls) != 0 {
					t.Errorf("evicted %v, want nothing", ev.calls)
				}
				return
			}
			want := []eviction{{preemptor: c.pod.Name, node: c.want, victims: c.victims}}
			if !reflect.DeepEqual(ev.calls, want) {
				t.Errorf("evictions %+v, want %+v", ev.calls, want)
			}
		})
	}
}

// A pod nominated to a node whose lower-priority pods are still
// terminating keeps its nomination and evicts nothing more.
func TestPreemptionWaitsForVictims(t *testing.T) {
	p := low("p", 100, "2")
	n1 := infoOn(node("n1", "4", "8Gi"), low("a", 1, "2", deleting), low("b", 1, "2"))
	n2 := infoOn(node("n2", "4", "8Gi"), low("c", 1, "4"))
	snap := snapshotOf(n1, n2)
	snap.nominate(NewPodInfo(p), "n1")
	ev := &fakeEvictor{}
	if got, st := preempt(t, ev, p, snap); got != "n1" || !st.IsSuccess() || len(ev.calls) != 0 {
		t.Errorf("got %q %v, evictions %v; want n1 kept, nothing evicted", got, st, ev.calls)
	}
	// From its status alone (a restarted scheduler) too.
	p.Status.NominatedNodeName = "n1"
	if got, _ := preempt(t, ev, p, snapshotOf(n1, n2)); got != "n1" || len(ev.calls) != 0 {
		t.Errorf("from status: got %q, evictions %v", got, ev.calls)
	}
	// Once they are gone it may preempt again (here b, on n1).
	n1 = infoOn(node("n1", "4", "8Gi"), low("x", 50, "2"), low("b", 1, "2"))
	if got, _ := preempt(t, ev, p, snapshotOf(n1, n2)); got != "n1" || len(ev.calls) != 1 || ev.calls[0].victims[0] != "b" {
		t.Errorf("after the victims went: got %q, evictions %v", got, ev.calls)
	}
}

// Pods nominated to a node count there for pods of lower or equal
// priority, in scheduling and in preemption, but not for higher ones nor
// for the nominated pod itself.
func TestNominatedPodsRespected(t *testing.T) {
	nominee := low("nominee", 100, "2")
	n1 := infoOn(node("n1", "4", "8Gi"), low("x", 0, "2"))
	snapFor := func() *Snapshot {
		s := snapshotOf(n1)
		s.nominate(NewPodInfo(nominee), "n1")
		return s
	}
	f := testFramework(t)
	for _, c := range []struct {
		name string
		pod  *api.Pod
		fits bool
	}{
		{"lower priority: the room is taken", low("q", 50, "2"), false},
		{"equal priority: the room is taken", low("q", 100, "2"), false},
		{"higher priority: the nominee does not count", low("q", 200, "2"), true},
		{"the nominee itself fits its node", nominee, true},
		{"what is left beside the nominee is free", low("q", 50, "0"), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			snap := snapFor()
			state := NewCycleState()
			state.Write(snapshotStateKey, snap)
			got, err := f.Schedule(context.Background(), state, NewPodInfo(c.pod), snap)
			if fits := err == nil && got == "n1"; fits != c.fits {
				t.Errorf("got %q, %v; want fits %v", got, err, c.fits)
			}
		})
	}
	// A lower pod cannot preempt its way past the nominee: removing x
	// still leaves too little room beside it.
	ev := &fakeEvictor{}
	if got, st := preempt(t, ev, low("q", 50, "3"), snapFor()); got != "" || len(ev.calls) != 0 {
		t.Errorf("preempting past a nominee: %q %v %v", got, st, ev.calls)
	}
	// A higher one can: it evicts x (the nominee is not on the node).
	ev = &fakeEvictor{}
	if got, _ := preempt(t, ev, low("q", 200, "4"), snapFor()); got != "n1" || len(ev.calls) != 1 || !reflect.DeepEqual(ev.calls[0].victims, []string{"x"}) {
		t.Errorf("higher preemptor: %q %v", got, ev.calls)
	}
}

// Nominated pods with a spread constraint count in the domain counts
// (PreFilterExtensions), not only in the node's resources.
func TestNominatedPodsInSpread(t *testing.T) {
	sel := &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	c := api.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: hostKey, WhenUnsatisfiable: api.DoNotSchedule, LabelSelector: sel}
	n1 := infoOn(node("n1", "4", "8Gi"))
	n2 := infoOn(node("n2", "4", "8Gi"))
	snap := snapshotOf(n1, n2)
	snap.nominate(NewPodInfo(low("w1", 100, "100m", labels("app", "web"), spread(c))), "n1")
	snap.nominate(NewPodInfo(low("w2", 100, "100m", labels("app", "web"), spread(c))), "n1")
	state := NewCycleState()
	state.Write(snapshotStateKey, snap)
	got, err := testFramework(t).Schedule(context.Background(), state, NewPodInfo(low("w3", 100, "100m", labels("app", "web"), spread(c))), snap)
	if err != nil || got != "n2" {
		t.Errorf("got %q, %v; want n2 (two web pods are nominated to n1)", got, err)
	}
}

func TestNumCandidates(t *testing.T) {
	for _, c := range []struct{ nodes, want int }{{5, 5}, {100, 100}, {500, 100}, {1000, 100}, {5000, 500}} {
		if got := numCandidates(c.nodes); got != c.want {
			t.Errorf("numCandidates(%d) = %d, want %d", c.nodes, got, c.want)
		}
	}
}

// TestPreemptionOnRegistry runs the scheduler on the real registry and
// store: a full node, a high-priority pod arrives; the lowest-priority pod
// is deleted gracefully, the preemptor is nominated, a lower pod created
// meanwhile does not take the room, and the preemptor binds once the
// victim is gone.
func TestPreemptionOnRegistry(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	if err := reg.EnsurePriorityClasses(ctx); err != nil {
		t.Fatal(err)
	}
	classes := client.For[*api.PriorityClass](reg, "")
	for name, v := range map[string]int32{"lowest": 1, "low": 10, "high": 1000} {
		if _, err := classes.Create(ctx, &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: name}, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.For[*api.Node](reg, "").Create(ctx, node("n1", "2", "4Gi")); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*api.Pod](reg, "default")
	classed := func(name, class string) *api.Pod {
		p := pod(name, requests("1", "100Mi"))
		p.UID = ""
		p.Spec.PriorityClassName = class
		return p
	}
	startScheduler(t, reg)
	for _, p := range []*api.Pod{classed("low", "low"), classed("lowest", "lowest")} {
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		boundNode(t, pods, p.Name)
	}
	if _, err := pods.Create(ctx, classed("urgent", "high")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lowest-priority pod to be terminating and urgent nominated", func() (bool, string) {
		v, err := pods.Get(ctx, "lowest")
		if err != nil {
			return false, err.Error()
		}
		u, _ := pods.Get(ctx, "urgent")
		return v.DeletionTimestamp != nil && u.Status.NominatedNodeName == "n1",
			fmt.Sprintf("victim deletion %v, urgent nominated %q", v.DeletionTimestamp, u.Status.NominatedNodeName)
	})
	v, _ := pods.Get(ctx, "lowest")
	if g := v.DeletionGracePeriodSeconds; g == nil || *g != 30 {
		t.Errorf("victim's grace period %v, want its terminationGracePeriodSeconds (30)", g)
	}
	if p, _ := pods.Get(ctx, "low"); p.DeletionTimestamp != nil {
		t.Error("the higher of the two low pods was deleted too")
	}
	if u, _ := pods.Get(ctx, "urgent"); u.Spec.NodeName != "" || *u.Spec.Priority != 1000 {
		t.Errorf("urgent bound to %q (priority %d) while its victim terminates", u.Spec.NodeName, *u.Spec.Priority)
	}
	// A pod of low priority arriving now must not take the room being
	// made, nor preempt (nothing below it but the terminating victim).
	if _, err := pods.Create(ctx, classed("later", "low")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "later to be refused", func() (bool, string) {
		p, _ := pods.Get(ctx, "later")
		c := findCondition(p.Status.Conditions, api.PodScheduled)
		return c != nil && c.Reason == ReasonUnschedulable, fmt.Sprintf("%+v", p.Status)
	})
	// The agent finishes the victim's deletion.
	if _, err := pods.Delete(ctx, "lowest", api.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if got := boundNode(t, pods, "urgent"); got != "n1" {
		t.Errorf("urgent bound to %s, want n1", got)
	}
	time.Sleep(200 * time.Millisecond) // let a wrong bind of "later" show
	if p, _ := pods.Get(ctx, "later"); p.Spec.NodeName != "" {
		t.Errorf("later bound to %s: it took the preemptor's room", p.Spec.NodeName)
	}
	evs, _, _, err := client.For[*api.Event](reg, "default").List(ctx, api.ListOptions{FieldSelector: "reason=" + ReasonPreempted})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].InvolvedObject.Name != "lowest" || evs[0].Message != "Preempted by default/urgent on node n1" || evs[0].Type != api.EventTypeNormal {
		t.Errorf("Preempted events %+v, want one on lowest", evs)
	}
}

// The scheduler's side of nominations: a nomination is written to the
// pod's status, taken from lower nominees on the same node, and cleared
// when no room can be made any more.
func TestNominationWrites(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	classes := client.For[*api.PriorityClass](reg, "")
	for name, v := range map[string]int32{"low": 10, "high": 1000} {
		if _, err := classes.Create(ctx, &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: name}, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	pods := client.For[*api.Pod](reg, "default")
	create := func(name, class string) *PodInfo {
		p := pod(name)
		p.UID = ""
		p.Spec.PriorityClassName = class
		got, err := pods.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return NewPodInfo(got)
	}
	nominatedInStatus := func(name string) string {
		p, err := pods.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return p.Status.NominatedNodeName
	}
	s, err := New(Config{Backend: reg})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.reporter.run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// expect waits for the cache and the written status to show node.
	expect := func(what string, pi *PodInfo, node string) {
		t.Helper()
		if got := s.cache.NominatedNode(pi.Key); got != node {
			t.Errorf("%s: cache says %q, want %q", what, got, node)
		}
		waitFor(t, what, func() (bool, string) {
			got := nominatedInStatus(pi.Pod.Name)
			return got == node, fmt.Sprintf("status %q, want %q", got, node)
		})
	}
	lowPod, highPod := create("lower", "low"), create("higher", "high")

	s.afterPostFilter(lowPod, "n1", nil)
	expect("nominated after preemption", lowPod, "n1")
	s.cache.UpdateSnapshot(s.snap)
	s.afterPostFilter(highPod, "n1", nil)
	expect("a higher nominee on the same node", highPod, "n1")
	expect("the lower nominee loses the node", lowPod, "")
	s.afterPostFilter(highPod, "", NewStatus(Unschedulable, reasonNoVictims))
	expect("no room can be made any more", highPod, "")
	if !s.nominationToClear(&PodInfo{Key: "default/x", Pod: pod("x", func(p *api.Pod) { p.Status.NominatedNodeName = "n1" })}, "n2") ||
		s.nominationToClear(&PodInfo{Key: "default/x", Pod: pod("x", func(p *api.Pod) { p.Status.NominatedNodeName = "n1" })}, "n1") {
		t.Error("nominationToClear: bound elsewhere clears, bound on the nominated node keeps")
	}
}

// A nominated pod that fits elsewhere first binds there, and its
// nomination is cleared.
func TestNominationClearedWhenBoundElsewhere(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	classes := client.For[*api.PriorityClass](reg, "")
	for name, v := range map[string]int32{"low": 10, "high": 1000} {
		if _, err := classes.Create(ctx, &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: name}, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	nodes := client.For[*api.Node](reg, "")
	if _, err := nodes.Create(ctx, node("n1", "2", "4Gi")); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*api.Pod](reg, "default")
	classed := func(name, class string) *api.Pod {
		p := pod(name, requests("2", "100Mi"))
		p.UID = ""
		p.Spec.PriorityClassName = class
		return p
	}
	s := startScheduler(t, reg)
	if _, err := pods.Create(ctx, classed("victim", "low")); err != nil {
		t.Fatal(err)
	}
	boundNode(t, pods, "victim")
	if _, err := pods.Create(ctx, classed("urgent", "high")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "urgent nominated to n1", func() (bool, string) {
		u, _ := pods.Get(ctx, "urgent")
		return u.Status.NominatedNodeName == "n1", fmt.Sprintf("%+v", u.Status)
	})
	// The victim takes its grace period; meanwhile a node with room comes.
	if _, err := nodes.Create(ctx, node("n2", "2", "4Gi")); err != nil {
		t.Fatal(err)
	}
	if got := boundNode(t, pods, "urgent"); got != "n2" {
		t.Fatalf("urgent bound to %s, want n2", got)
	}
	waitFor(t, "the nomination cleared", func() (bool, string) {
		u, _ := pods.Get(ctx, "urgent")
		return u.Status.NominatedNodeName == "" && s.cache.NominatedNode("default/urgent") == "",
			fmt.Sprintf("status %q, cache %q", u.Status.NominatedNodeName, s.cache.NominatedNode("default/urgent"))
	})
}
