package scheduler

import (
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// The nominated node went down (not-ready taint / cordon) while its victim
// is still terminating (its agent is gone, so it may never finish).
// Another node has an evictable pod: the pod preempts there instead of
// waiting for ever, as Kubernetes does when the nominated node is
// UnschedulableAndUnresolvable. (Found in review; it waited before.)
func TestPreemptAgainWhenNominatedNodeRefuses(t *testing.T) {
	p := low("p", 100, "2")
	for _, c := range []struct {
		name string
		opt  nodeOpt
	}{
		{"cordoned", cordoned},
		{"not-ready taint", withTaint("node.kubernetes.io/not-ready", "", api.TaintEffectNoSchedule)},
	} {
		t.Run(c.name, func(t *testing.T) {
			n1 := infoOn(node("n1", "4", "8Gi", c.opt), low("a", 1, "4", deleting))
			n2 := infoOn(node("n2", "4", "8Gi"), low("b", 1, "4"))
			snap := snapshotOf(n1, n2)
			snap.nominate(NewPodInfo(p), "n1")
			ev := &fakeEvictor{}
			got, _ := preempt(t, ev, p, snap)
			if got == "n1" && len(ev.calls) == 0 {
				t.Errorf("pod stays nominated to %s (unresolvable, victim never finishing); b on n2 is never preempted", got)
			}
		})
	}
}
