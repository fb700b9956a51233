package scheduler

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// The extensions change a clone's counts and leave the cycle's own
// state alone.
func TestPreFilterExtensionsOnClone(t *testing.T) {
	ctx := context.Background()
	sel := &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	incoming := pod("new", labels("app", "web"), affinity(requiredAnti(term(hostKey, "db"))), spread(api.TopologySpreadConstraint{
		MaxSkew: 1, TopologyKey: hostKey, WhenUnsatisfiable: api.DoNotSchedule, LabelSelector: sel}))
	web := pod("web-1", labels("app", "web"))
	db := pod("db-1", labels("app", "db"))
	n1 := infoOn(node("n1", "4", "8Gi"), web, db)
	n2 := infoOn(node("n2", "4", "8Gi"))
	snap := snapshotOf(n1, n2)
	f := testFramework(t)
	state := NewCycleState()
	state.Write(snapshotStateKey, snap)
	pi := NewPodInfo(incoming)
	for _, p := range f.preFilter {
		if st := p.PreFilter(ctx, state, pi, snap); !st.IsSuccess() && !st.IsSkip() {
			t.Fatalf("%s: %v", p.Name(), st)
		}
	}
	if st := f.RunFilters(ctx, state, pi, snap, n1); st.IsSuccess() {
		t.Fatal("n1 fits with web-1 and db-1 there")
	}
	what := state.Clone()
	copyN1 := n1.clone()
	for _, p := range append([]*PodInfo(nil), copyN1.Pods...) {
		copyN1.removePod(p.Key)
		if st := f.RemovePod(ctx, what, pi, p, copyN1); !st.IsSuccess() {
			t.Fatal(st)
		}
	}
	if st := f.RunFilters(ctx, what, pi, snap, copyN1); !st.IsSuccess() {
		t.Errorf("n1 without its pods: %v, want a fit", st)
	}
	if got := state.Read(spreadStateKey).(*spreadState).counts[0]["n1"]; got != 1 {
		t.Errorf("the cycle's own spread count on n1 is %d, want 1 (unchanged)", got)
	}
	if got := state.Read(interPodStateKey).(*interPodState).anti[topologyPair{hostKey, "n1"}]; got != 1 {
		t.Errorf("the cycle's own anti-affinity count on n1 is %d, want 1 (unchanged)", got)
	}
	// Putting db-1 back refuses again (anti-affinity); web-1 alone is fine.
	dbInfo := NewPodInfo(db)
	copyN1.addPod(dbInfo)
	f.AddPod(ctx, what, pi, dbInfo, copyN1)
	if st := f.RunFilters(ctx, what, pi, snap, copyN1); st.IsSuccess() || st.Plugin != "InterPodAffinity" {
		t.Errorf("with db-1 back: %v, want InterPodAffinity to refuse", st)
	}
}
