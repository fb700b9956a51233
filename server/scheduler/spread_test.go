package scheduler

import (
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

func zoneSpread(skew int32, when api.UnsatisfiableConstraintAction) podOpt {
	return spread(api.TopologySpreadConstraint{MaxSkew: skew, TopologyKey: zoneKey, WhenUnsatisfiable: when,
		LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}})
}

func TestPodTopologySpreadFilter(t *testing.T) {
	web := func(n string) *api.Pod { return pod(n, labels("app", "web")) }
	n1 := infoOn(node("n1", "4", "8Gi", withLabels(zoneKey, "a")), web("w1"), web("w2"))
	n2 := infoOn(node("n2", "4", "8Gi", withLabels(zoneKey, "a")))
	n3 := infoOn(node("n3", "4", "8Gi", withLabels(zoneKey, "b")), pod("other", labels("app", "db")))
	bare := infoOn(node("bare", "4", "8Gi"))
	all := []*NodeInfo{n1, n2, n3, bare}
	rest := func(self *NodeInfo) []*NodeInfo {
		var out []*NodeInfo
		for _, ni := range all {
			if ni != self {
				out = append(out, ni)
			}
		}
		return out
	}
	no := []string{reasonSpread}
	runFilterCases(t, PodTopologySpread{}, []filterCase{
		{name: "no constraints", pod: web("new"), node: n1, others: rest(n1)},
		{name: "crowded zone", pod: pod("new", labels("app", "web"), zoneSpread(1, api.DoNotSchedule)), node: n2, others: rest(n2), want: no, code: Unschedulable},
		{name: "empty zone", pod: pod("new", labels("app", "web"), zoneSpread(1, api.DoNotSchedule)), node: n3, others: rest(n3)},
		{name: "missing key", pod: pod("new", labels("app", "web"), zoneSpread(1, api.DoNotSchedule)), node: bare, others: rest(bare),
			want: []string{reasonSpreadMissingLabel}, code: UnschedulableAndUnresolvable},
		{name: "skew allowed", pod: pod("new", labels("app", "web"), zoneSpread(3, api.DoNotSchedule)), node: n2, others: rest(n2)},
		{name: "pod outside its own selector", pod: pod("new", labels("app", "api"), zoneSpread(2, api.DoNotSchedule)), node: n1, others: rest(n1)},
		{name: "only the zones the node selector allows", pod: pod("new", labels("app", "web"), nodeSelector(zoneKey, "a"), zoneSpread(1, api.DoNotSchedule)), node: n2, others: rest(n2)},
		{name: "ScheduleAnyway does not filter", pod: pod("new", labels("app", "web"), zoneSpread(1, api.ScheduleAnyway)), node: n1, others: rest(n1)},
		{name: "minDomains above the domains makes the minimum 0", pod: pod("new", labels("app", "web"), spread(api.TopologySpreadConstraint{MaxSkew: 2, TopologyKey: zoneKey,
			WhenUnsatisfiable: api.DoNotSchedule, MinDomains: ptr(int32(3)), LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}})),
			node: n1, others: rest(n1), want: no},
	})
}

func ptr[T any](v T) *T { return &v }

func TestPodTopologySpreadScore(t *testing.T) {
	web := func(n string) *api.Pod { return pod(n, labels("app", "web")) }
	n1 := infoOn(node("n1", "4", "8Gi", withLabels(zoneKey, "a")), web("w1"), web("w2"))
	n2 := infoOn(node("n2", "4", "8Gi", withLabels(zoneKey, "b")), web("w3"))
	n3 := infoOn(node("n3", "4", "8Gi", withLabels(zoneKey, "c")))
	bare := infoOn(node("bare", "4", "8Gi"))
	nodes := []*NodeInfo{n1, n2, n3, bare}
	got := runScore(t, PodTopologySpread{}, pod("new", labels("app", "web"), zoneSpread(1, api.ScheduleAnyway)), snapshotOf(nodes...), nodes)
	if !(got[2] == 100 && got[1] < got[2] && got[0] < got[1] && got[3] == 0) {
		t.Errorf("scores %v, want the empty zone best, then the one with 1, then 2, and 0 without the key", got)
	}
}
