package scheduler

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// Regressions found in review; each failed before its fix.

// Two pods share unbound claim x. p2's cycle runs between p1's Reserve
// and the informer showing p1's PreBind annotation, so p2 follows the
// assumption; the informer event then drops it, and p2's Reserve makes
// it again. p2 binds (no Unreserve) and its PreBind writes nothing (the
// claim already names a), so no later event removes the assumption. It
// must not outlive its purpose: when someone removes the annotation (the
// documented way to let the claim start afresh), no stale assumption may
// pin every pod of x to a.
func TestAssumptionDoesNotOutliveTheAnnotation(t *testing.T) {
	ctx := context.Background()
	x := pvc("x")
	cache := claimsOf(x)
	v := NewVolumeBinding(cache, nil)
	nodes := []*NodeInfo{infoOn(node("a", "4", "8Gi")), infoOn(node("b", "4", "8Gi"))}
	snap := snapshotOf(nodes...)
	cycle := func(p *api.Pod) (*CycleState, *PodInfo) {
		state, pi := NewCycleState(), NewPodInfo(p)
		if st := v.PreFilter(ctx, state, pi, snap); !st.IsSuccess() {
			t.Fatalf("pre-filter %s: %v", p.Name, st.Error())
		}
		return state, pi
	}
	s1, p1 := cycle(pod("p1", usesClaim("x")))
	v.Reserve(ctx, s1, p1, "a")
	s2, p2 := cycle(pod("p2", usesClaim("x"))) // follows the assumption
	bound := api.Clone(x)
	bound.Annotations = map[string]string{api.AnnotationSelectedNode: "a"}
	v.ClaimObserved("default/x", bound) // p1's PreBind seen
	cache["default/x"] = bound
	v.Reserve(ctx, s2, p2, "a") // p2 reserved; both bind fine, no Unreserve

	// Later the annotation is removed (node a died).
	freed := api.Clone(x)
	v.ClaimObserved("default/x", freed)
	cache["default/x"] = freed
	s3, p3 := cycle(pod("p3", usesClaim("x")))
	var fits []string
	for _, ni := range nodes {
		if v.Filter(ctx, s3, p3, ni).IsSuccess() {
			fits = append(fits, ni.Name())
		}
	}
	if len(fits) != 2 {
		t.Fatalf("after the annotation was removed p3 fits %v, want every node; stale assumptions %+v", fits, v.assumed["default/x"])
	}
}

// A pod already runs on node a with claim x, but x names no node (its
// annotation was removed, or the pod named its node itself and a's agent
// has not taken the claim yet). A second pod of the ReadWriteOnce claim
// must go to a too, not to b: two nodes would keep two diverging copies.
func TestClaimInUseWithoutAnnotationStaysOnItsNode(t *testing.T) {
	v := NewVolumeBinding(claimsOf(pvc("x")), nil)
	got := runVolumeBinding(t, v, pod("p2", usesClaim("x")),
		infoOn(node("a", "4", "8Gi"), pod("p1", usesClaim("x"))), infoOn(node("b", "4", "8Gi")))
	if _, ok := got.refused["b"]; !ok {
		t.Fatalf("p2 may go to b while p1 uses claim x on a: %+v", got)
	}
}
