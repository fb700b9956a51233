package scheduler

import (
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

const (
	zoneKey = "topology.kubernetes.io/zone"
	hostKey = "kubernetes.io/hostname"
)

func term(key, app string) api.PodAffinityTerm {
	return api.PodAffinityTerm{LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": app}}, TopologyKey: key}
}

func requiredAnti(ts ...api.PodAffinityTerm) *api.Affinity {
	return &api.Affinity{PodAntiAffinity: &api.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ts}}
}

func requiredAffinity(ts ...api.PodAffinityTerm) *api.Affinity {
	return &api.Affinity{PodAffinity: &api.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ts}}
}

func TestInterPodAffinityFilter(t *testing.T) {
	zoned := func(name, zone string, pods ...*api.Pod) *NodeInfo {
		return infoOn(node(name, "4", "8Gi", withLabels(zoneKey, zone)), pods...)
	}
	n1 := zoned("n1", "a", pod("web-1", labels("app", "web")))
	n2 := zoned("n2", "a")
	n3 := zoned("n3", "b", pod("db-1", labels("app", "db")))
	bare := infoOn(node("bare", "4", "8Gi"))
	// web-guard refuses to share a host with any web pod.
	guard := pod("guard", labels("app", "guard"), affinity(requiredAnti(term(hostKey, "web"))))
	n4 := zoned("n4", "b", guard)
	cluster := []*NodeInfo{n1, n2, n3, n4, bare}
	others := func(self *NodeInfo) []*NodeInfo {
		var out []*NodeInfo
		for _, ni := range cluster {
			if ni != self {
				out = append(out, ni)
			}
		}
		return out
	}
	web := func(a *api.Affinity) *api.Pod { return pod("new", labels("app", "web"), affinity(a)) }
	runFilterCases(t, InterPodAffinity{}, []filterCase{
		{name: "anti host: same host", pod: web(requiredAnti(term(hostKey, "web"))), node: n1, others: others(n1), want: []string{reasonAntiAffinity}, code: Unschedulable},
		{name: "anti host: other host", pod: web(requiredAnti(term(hostKey, "web"))), node: n2, others: others(n2)},
		{name: "anti zone: same zone", pod: web(requiredAnti(term(zoneKey, "web"))), node: n2, others: others(n2), want: []string{reasonAntiAffinity}},
		{name: "anti zone: other zone", pod: web(requiredAnti(term(zoneKey, "web"))), node: n3, others: others(n3)},
		{name: "affinity zone: with db", pod: web(requiredAffinity(term(zoneKey, "db"))), node: n3, others: others(n3)},
		{name: "affinity zone: same zone as db", pod: pod("new", labels("app", "api"), affinity(requiredAffinity(term(zoneKey, "db")))), node: n4, others: others(n4)},
		{name: "affinity zone: away from db", pod: web(requiredAffinity(term(zoneKey, "db"))), node: n1, others: others(n1), want: []string{reasonAffinity}, code: UnschedulableAndUnresolvable},
		{name: "affinity: node without the key", pod: web(requiredAffinity(term(zoneKey, "db"))), node: bare, others: others(bare), want: []string{reasonAffinity}},
		{name: "affinity: first of its group matches itself", pod: pod("cache-1", labels("app", "cache"), affinity(requiredAffinity(term(zoneKey, "cache")))), node: n2, others: others(n2)},
		{name: "affinity: no match anywhere, not self", pod: web(requiredAffinity(term(zoneKey, "cache"))), node: n2, others: others(n2), want: []string{reasonAffinity}},
		{name: "existing pod's anti-affinity", pod: pod("new", labels("app", "web")), node: n4, others: others(n4), want: []string{reasonExistingAntiAffi}},
		{name: "existing pod's anti-affinity, other host", pod: pod("new", labels("app", "web")), node: n3, others: others(n3)},
		{name: "existing pod's anti-affinity, not selected", pod: pod("new", labels("app", "api")), node: n4, others: others(n4)},
		{name: "anti in another namespace only", pod: web(requiredAnti(api.PodAffinityTerm{
			LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: hostKey, Namespaces: []string{"other"}})), node: n1, others: others(n1)},
		{name: "anti across all namespaces (empty namespaceSelector)", pod: pod("new", func(p *api.Pod) { p.Namespace = "other" }, labels("app", "web"),
			affinity(requiredAnti(api.PodAffinityTerm{LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				TopologyKey: hostKey, NamespaceSelector: &api.LabelSelector{}}))), node: n1, others: others(n1), want: []string{reasonAntiAffinity}},
		{name: "anti in its own namespace only", pod: pod("new", func(p *api.Pod) { p.Namespace = "other" }, labels("app", "web"),
			affinity(requiredAnti(term(hostKey, "web")))), node: n1, others: others(n1)},
		{name: "anti with a match expression", pod: web(requiredAnti(api.PodAffinityTerm{
			LabelSelector: &api.LabelSelector{MatchExpressions: []api.LabelSelectorRequirement{{Key: "app", Operator: "In", Values: []string{"web", "api"}}}}, TopologyKey: hostKey})),
			node: n1, others: others(n1), want: []string{reasonAntiAffinity}},
	})
}

func TestInterPodAffinityScore(t *testing.T) {
	n1 := infoOn(node("n1", "4", "8Gi", withLabels(zoneKey, "a")), pod("web-1", labels("app", "web")))
	n2 := infoOn(node("n2", "4", "8Gi", withLabels(zoneKey, "a")))
	n3 := infoOn(node("n3", "4", "8Gi", withLabels(zoneKey, "b")), pod("db-1", labels("app", "db")))
	nodes := []*NodeInfo{n1, n2, n3}
	snap := snapshotOf(nodes...)
	p := pod("new", labels("app", "web"), affinity(&api.Affinity{
		PodAntiAffinity: &api.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: 50, PodAffinityTerm: term(hostKey, "web")}}},
		PodAffinity:     &api.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: term(zoneKey, "db")}}},
	}))
	got := runScore(t, InterPodAffinity{}, p, snap, nodes)
	// n1: -50 (web on the host); n2: 0; n3: +10 (db in the zone).
	if !(got[0] == 0 && got[2] == 100 && got[1] > got[0] && got[1] < got[2]) {
		t.Errorf("scores %v, want n1 lowest (0), n3 highest (100), n2 between", got)
	}
	// The other way round: an existing pod prefers to be away from web.
	shy := pod("shy", labels("app", "shy"), affinity(&api.Affinity{PodAntiAffinity: &api.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: 30, PodAffinityTerm: term(hostKey, "web")}}}}))
	m1 := infoOn(node("m1", "4", "8Gi"), shy)
	m2 := infoOn(node("m2", "4", "8Gi"))
	got = runScore(t, InterPodAffinity{}, pod("new", labels("app", "web")), snapshotOf(m1, m2), []*NodeInfo{m1, m2})
	if got[0] != 0 || got[1] != 100 {
		t.Errorf("scores %v, want [0 100]: the existing pod's preference keeps web off m1", got)
	}
}

func TestNodeInfoIndexes(t *testing.T) {
	ni := infoOn(node("n", "4", "8Gi"), pod("a", labels("app", "web")), pod("b", labels("app", "web")))
	c := ni.clone()
	c.removePod("default/a")
	if got := ni.labelCounts[labelKey("default", "app=web")]; got != 2 {
		t.Errorf("the original's count changed to %d, want 2 (copy on write)", got)
	}
	if got := c.labelCounts[labelKey("default", "app=web")]; got != 1 {
		t.Errorf("the copy's count is %d, want 1", got)
	}
	sel, _ := api.LabelSelectorAsSelector(&api.LabelSelector{MatchLabels: map[string]string{"app": "web"}})
	if kv, ok := exactLabel(sel); !ok || kv != "app=web" {
		t.Errorf("exactLabel = %q, %v", kv, ok)
	}
	multi, _ := api.LabelSelectorAsSelector(&api.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}})
	if _, ok := exactLabel(multi); ok {
		t.Error("a two-label selector counted as exact")
	}
	if _, ok := exactLabel(api.Nothing()); ok {
		t.Error("the nothing selector counted as exact")
	}
}
