package scheduler

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// nopBinder binds nothing (framework tests do not write).
type nopBinder struct{}

func (nopBinder) Name() string { return "nopBinder" }
func (nopBinder) Bind(context.Context, *CycleState, *PodInfo, string) *Status {
	return nil
}

func testFramework(t *testing.T) *Framework {
	t.Helper()
	f, err := NewFramework(DefaultPipeline(nopBinder{}, &fakeEvictor{}, NewVolumeBinding(claimMap{}, nil)), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func schedule(t *testing.T, f *Framework, p *api.Pod, nodes ...*NodeInfo) (string, error) {
	t.Helper()
	snap := snapshotOf(nodes...)
	state := NewCycleState()
	state.Write(snapshotStateKey, snap)
	return f.Schedule(context.Background(), state, NewPodInfo(p), snap)
}

func TestUnschedulableMessage(t *testing.T) {
	var nodes []*NodeInfo
	for _, n := range []string{"a", "b", "c"} {
		nodes = append(nodes, NewNodeInfo(node(n, "4", "1Gi")))
	}
	for _, n := range []string{"d", "e"} {
		nodes = append(nodes, NewNodeInfo(node(n, "4", "8Gi", withTaint("key", "value", api.TaintEffectNoSchedule))))
	}
	_, err := schedule(t, testFramework(t), pod("p", requests("1", "2Gi")), nodes...)
	var fe *FitError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a FitError", err)
	}
	want := "0/5 nodes are available: 3 Insufficient memory, 2 node(s) had untolerated taint {key: value}."
	if got := fe.Error(); got != want {
		t.Errorf("message\n got %q\nwant %q", got, want)
	}
	if !fe.Diagnosis.Plugins["NodeResourcesFit"] || !fe.Diagnosis.Plugins["TaintToleration"] || len(fe.Diagnosis.Plugins) != 2 {
		t.Errorf("refusing plugins %v, want NodeResourcesFit and TaintToleration", fe.Diagnosis.Plugins)
	}
	if _, err := schedule(t, testFramework(t), pod("p")); err == nil || err.Error() != "0/0 nodes are available." {
		t.Errorf("no nodes: %v", err)
	}
}

func TestSchedulePicksBest(t *testing.T) {
	f := testFramework(t)
	busy := infoOn(node("busy", "4", "8Gi"), pod("a", requests("3", "6Gi")))
	idle := infoOn(node("idle", "4", "8Gi"))
	small := infoOn(node("small", "1", "1Gi"))
	got, err := schedule(t, f, pod("p", requests("1", "1Gi")), busy, idle, small)
	if err != nil || got != "idle" {
		t.Fatalf("got %q, %v; want idle (fits, most room)", got, err)
	}
	got, err = schedule(t, f, pod("p", nodeSelector("kubernetes.io/hostname", "busy")), busy, idle, small)
	if err != nil || got != "busy" {
		t.Fatalf("got %q, %v; want busy (the selector)", got, err)
	}
}

func TestNumFeasibleToFind(t *testing.T) {
	f := &Framework{}
	for _, c := range []struct{ nodes, want int }{{5, 5}, {99, 99}, {100, 100}, {200, 100}, {1000, 420}, {5000, 500}, {10000, 500}} {
		if got := f.numFeasibleToFind(c.nodes); got != c.want {
			t.Errorf("numFeasibleToFind(%d) = %d, want %d", c.nodes, got, c.want)
		}
	}
	f.percentage = 100
	if got := f.numFeasibleToFind(1000); got != 1000 {
		t.Errorf("at 100 %%: %d", got)
	}
}

func TestSearchRotates(t *testing.T) {
	f := testFramework(t)
	var nodes []*NodeInfo
	for i := range 300 {
		nodes = append(nodes, NewNodeInfo(node(string(rune('a'+i/26))+string(rune('a'+i%26)), "4", "8Gi")))
	}
	schedule(t, f, pod("p"), nodes...)
	// 300 nodes: 48 % of them, 144, are enough.
	if f.next != 144 {
		t.Fatalf("next search starts at %d, want 144 (after the nodes looked at)", f.next)
	}
	schedule(t, f, pod("p"), nodes...)
	if f.next != 288 {
		t.Fatalf("next search starts at %d, want 288", f.next)
	}
	schedule(t, f, pod("p"), nodes...)
	if f.next != (288+144)%300 {
		t.Fatalf("next search starts at %d, want %d (wrapped)", f.next, (288+144)%300)
	}
}

// recorder plugins check the order of extension points.
type orderPlugin struct {
	name string
	log  *[]string
	fail bool
}

func (p orderPlugin) Name() string { return p.name }
func (p orderPlugin) Reserve(_ context.Context, _ *CycleState, _ *PodInfo, _ string) *Status {
	*p.log = append(*p.log, "reserve "+p.name)
	if p.fail {
		return NewStatus(Error, "no")
	}
	return nil
}
func (p orderPlugin) Unreserve(_ context.Context, _ *CycleState, _ *PodInfo, _ string) {
	*p.log = append(*p.log, "unreserve "+p.name)
}

func (p orderPlugin) PreBind(_ context.Context, _ *CycleState, _ *PodInfo, _ string) *Status {
	*p.log = append(*p.log, "prebind "+p.name)
	if p.fail {
		return NewStatus(Error, "no")
	}
	return nil
}

// TestPreBindFailure: the first failing pre-bind ends the pre-binds and
// names itself; the scheduler then unreserves (TestPreBindFailureBacksOff).
func TestPreBindFailure(t *testing.T) {
	var log []string
	f, err := NewFramework([]Stage{
		{Plugin: orderPlugin{name: "a", log: &log}},
		{Plugin: orderPlugin{name: "b", log: &log, fail: true}},
		{Plugin: orderPlugin{name: "c", log: &log}},
		{Plugin: nopBinder{}},
	}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := f.PreBind(context.Background(), NewCycleState(), NewPodInfo(pod("p")), "n")
	if st.IsSuccess() || st.Plugin != "b" || st.Error() != "no" {
		t.Fatalf("status %+v, want b's failure", st)
	}
	if want := []string{"prebind a", "prebind b"}; !slices.Equal(log, want) {
		t.Fatalf("calls %v, want %v", log, want)
	}
	// Skip is no failure.
	f, err = NewFramework([]Stage{{Plugin: NewVolumeBinding(claimMap{}, nil)}, {Plugin: nopBinder{}}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := f.PreBind(context.Background(), NewCycleState(), NewPodInfo(pod("p")), "n"); !st.IsSuccess() {
		t.Errorf("a pod without claims: %v", st)
	}
}

func TestReserveUnwinds(t *testing.T) {
	var log []string
	f, err := NewFramework([]Stage{
		{Plugin: orderPlugin{name: "a", log: &log}},
		{Plugin: orderPlugin{name: "b", log: &log}},
		{Plugin: orderPlugin{name: "c", log: &log, fail: true}},
		{Plugin: nopBinder{}},
	}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := f.Reserve(context.Background(), NewCycleState(), NewPodInfo(pod("p")), "n")
	if st.IsSuccess() || st.Plugin != "c" {
		t.Fatalf("status %+v, want c's refusal", st)
	}
	want := []string{"reserve a", "reserve b", "reserve c", "unreserve b", "unreserve a"}
	if len(log) != len(want) {
		t.Fatalf("calls %v, want %v", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("calls %v, want %v", log, want)
		}
	}
}

func TestNewFrameworkErrors(t *testing.T) {
	if _, err := NewFramework([]Stage{{Plugin: NodeName{}}}, 0, nil); err == nil {
		t.Error("a pipeline without a binder was accepted")
	}
	if _, err := NewFramework([]Stage{{Plugin: NodeName{}}, {Plugin: NodeName{}}, {Plugin: nopBinder{}}}, 0, nil); err == nil {
		t.Error("a plugin listed twice was accepted")
	}
	if _, err := NewFramework([]Stage{{Plugin: LeastAllocated{}}, {Plugin: nopBinder{}}}, 0, nil); err == nil {
		t.Error("a scorer of weight 0 was accepted")
	}
}
