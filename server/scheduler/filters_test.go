package scheduler

import (
	"reflect"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// filterCase is one pod against one node, through one filter plugin.
type filterCase struct {
	name string
	pod  *api.Pod
	node *NodeInfo
	// others are more nodes in the snapshot (for plugins that look at
	// the whole cluster).
	others []*NodeInfo
	want   []string // reasons; nil means it fits
	code   Code
}

func runFilterCases(t *testing.T, p Plugin, cases []filterCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := snapshotOf(append([]*NodeInfo{c.node}, c.others...)...)
			st := runFilter(t, p, c.pod, snap, c.node)
			if got := reasonsOf(st); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("%s: got reasons %q (%v), want %q", p.Name(), got, st, c.want)
			}
			if c.want != nil && c.code != 0 && st.Code != c.code {
				t.Errorf("%s: got code %d, want %d", p.Name(), st.Code, c.code)
			}
		})
	}
}

func TestNodeName(t *testing.T) {
	n := NewNodeInfo(node("n1", "1", "1Gi"))
	runFilterCases(t, NodeName{}, []filterCase{
		{name: "unset", pod: pod("p"), node: n},
		{name: "this node", pod: pod("p", onNode("n1")), node: n},
		{name: "another node", pod: pod("p", onNode("n2")), node: n, want: []string{reasonNodeName}, code: UnschedulableAndUnresolvable},
	})
}

func TestNodeUnschedulable(t *testing.T) {
	runFilterCases(t, NodeUnschedulable{}, []filterCase{
		{name: "schedulable", pod: pod("p"), node: NewNodeInfo(node("n", "1", "1Gi"))},
		{name: "cordoned", pod: pod("p"), node: NewNodeInfo(node("n", "1", "1Gi", cordoned)), want: []string{reasonUnschedulable}, code: UnschedulableAndUnresolvable},
		{name: "cordoned, tolerated", pod: pod("p", tolerate(api.Toleration{Key: TaintNodeUnschedulable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule})),
			node: NewNodeInfo(node("n", "1", "1Gi", cordoned))},
	})
}

func TestTaintTolerationFilter(t *testing.T) {
	gpu := NewNodeInfo(node("n", "1", "1Gi", withTaint("dedicated", "gpu", api.TaintEffectNoSchedule)))
	runFilterCases(t, TaintToleration{}, []filterCase{
		{name: "no taints", pod: pod("p"), node: NewNodeInfo(node("n", "1", "1Gi"))},
		{name: "untolerated NoSchedule", pod: pod("p"), node: gpu, want: []string{"node(s) had untolerated taint {dedicated: gpu}"}, code: UnschedulableAndUnresolvable},
		{name: "untolerated NoExecute", pod: pod("p"), node: NewNodeInfo(node("n", "1", "1Gi", withTaint("node.kubernetes.io/not-ready", "", api.TaintEffectNoExecute))),
			want: []string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{name: "PreferNoSchedule does not filter", pod: pod("p"), node: NewNodeInfo(node("n", "1", "1Gi", withTaint("k", "v", api.TaintEffectPreferNoSchedule)))},
		{name: "Equal", pod: pod("p", tolerate(api.Toleration{Key: "dedicated", Value: "gpu", Effect: api.TaintEffectNoSchedule})), node: gpu},
		{name: "Equal, other value", pod: pod("p", tolerate(api.Toleration{Key: "dedicated", Value: "cpu"})), node: gpu, want: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "Exists, any effect", pod: pod("p", tolerate(api.Toleration{Key: "dedicated", Operator: api.TolerationOpExists})), node: gpu},
		{name: "Exists, other effect", pod: pod("p", tolerate(api.Toleration{Key: "dedicated", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute})), node: gpu,
			want: []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{name: "empty key Exists tolerates all", pod: pod("p", tolerate(api.Toleration{Operator: api.TolerationOpExists})), node: gpu},
	})
}

func TestTaintTolerationScore(t *testing.T) {
	p := pod("p", tolerate(api.Toleration{Key: "a", Operator: api.TolerationOpExists, Effect: api.TaintEffectPreferNoSchedule}))
	nodes := []*NodeInfo{
		NewNodeInfo(node("none", "1", "1Gi")),
		NewNodeInfo(node("tolerated", "1", "1Gi", withTaint("a", "", api.TaintEffectPreferNoSchedule))),
		NewNodeInfo(node("one", "1", "1Gi", withTaint("b", "", api.TaintEffectPreferNoSchedule))),
		NewNodeInfo(node("two", "1", "1Gi", withTaint("b", "", api.TaintEffectPreferNoSchedule), withTaint("c", "", api.TaintEffectPreferNoSchedule))),
	}
	got := runScore(t, TaintToleration{}, p, snapshotOf(nodes...), nodes)
	if want := []int64{100, 100, 50, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("scores %v, want %v", got, want)
	}
}

func TestNodeAffinityFilter(t *testing.T) {
	n := NewNodeInfo(node("n1", "1", "1Gi", withLabels("zone", "a", "disk", "ssd", "gen", "5")))
	req := func(terms ...api.NodeSelectorTerm) podOpt {
		return affinity(&api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{NodeSelectorTerms: terms}}})
	}
	expr := func(key string, op api.NodeSelectorOperator, vals ...string) api.NodeSelectorTerm {
		return api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{{Key: key, Operator: op, Values: vals}}}
	}
	no := []string{reasonNodeAffinity}
	runFilterCases(t, NodeAffinity{}, []filterCase{
		{name: "nothing asked", pod: pod("p"), node: n},
		{name: "nodeSelector match", pod: pod("p", nodeSelector("zone", "a")), node: n},
		{name: "nodeSelector mismatch", pod: pod("p", nodeSelector("zone", "b")), node: n, want: no, code: UnschedulableAndUnresolvable},
		{name: "nodeSelector missing label", pod: pod("p", nodeSelector("gpu", "yes")), node: n, want: no},
		{name: "In", pod: pod("p", req(expr("zone", api.NodeSelectorOpIn, "a", "b"))), node: n},
		{name: "In mismatch", pod: pod("p", req(expr("zone", api.NodeSelectorOpIn, "b"))), node: n, want: no},
		{name: "NotIn", pod: pod("p", req(expr("zone", api.NodeSelectorOpNotIn, "b"))), node: n},
		{name: "NotIn, missing label", pod: pod("p", req(expr("gpu", api.NodeSelectorOpNotIn, "x"))), node: n},
		{name: "NotIn mismatch", pod: pod("p", req(expr("zone", api.NodeSelectorOpNotIn, "a"))), node: n, want: no},
		{name: "Exists", pod: pod("p", req(expr("disk", api.NodeSelectorOpExists))), node: n},
		{name: "DoesNotExist", pod: pod("p", req(expr("disk", api.NodeSelectorOpDoesNotExist))), node: n, want: no},
		{name: "Gt", pod: pod("p", req(expr("gen", api.NodeSelectorOpGt, "4"))), node: n},
		{name: "Gt equal", pod: pod("p", req(expr("gen", api.NodeSelectorOpGt, "5"))), node: n, want: no},
		{name: "Lt", pod: pod("p", req(expr("gen", api.NodeSelectorOpLt, "6"))), node: n},
		{name: "Lt non-integer label", pod: pod("p", req(expr("zone", api.NodeSelectorOpLt, "6"))), node: n, want: no},
		{name: "terms are ORed", pod: pod("p", req(expr("zone", api.NodeSelectorOpIn, "b"), expr("disk", api.NodeSelectorOpIn, "ssd"))), node: n},
		{name: "expressions are ANDed", pod: pod("p", req(api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{
			{Key: "zone", Operator: api.NodeSelectorOpIn, Values: []string{"a"}}, {Key: "disk", Operator: api.NodeSelectorOpIn, Values: []string{"hdd"}}}})), node: n, want: no},
		{name: "empty term matches nothing", pod: pod("p", req(api.NodeSelectorTerm{})), node: n, want: no},
		{name: "matchFields name", pod: pod("p", req(api.NodeSelectorTerm{MatchFields: []api.NodeSelectorRequirement{{Key: "metadata.name", Operator: api.NodeSelectorOpIn, Values: []string{"n1"}}}})), node: n},
		{name: "matchFields NotIn name", pod: pod("p", req(api.NodeSelectorTerm{MatchFields: []api.NodeSelectorRequirement{{Key: "metadata.name", Operator: api.NodeSelectorOpNotIn, Values: []string{"n1"}}}})), node: n, want: no},
		{name: "selector and affinity both", pod: pod("p", nodeSelector("zone", "b"), req(expr("disk", api.NodeSelectorOpExists))), node: n, want: no},
	})
}

func TestNodeAffinityScore(t *testing.T) {
	pref := affinity(&api.Affinity{NodeAffinity: &api.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.PreferredSchedulingTerm{
		{Weight: 80, Preference: api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{{Key: "disk", Operator: api.NodeSelectorOpIn, Values: []string{"ssd"}}}}},
		{Weight: 20, Preference: api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: api.NodeSelectorOpIn, Values: []string{"a"}}}}},
	}}})
	nodes := []*NodeInfo{
		NewNodeInfo(node("both", "1", "1Gi", withLabels("disk", "ssd", "zone", "a"))),
		NewNodeInfo(node("ssd", "1", "1Gi", withLabels("disk", "ssd"))),
		NewNodeInfo(node("zone", "1", "1Gi", withLabels("zone", "a"))),
		NewNodeInfo(node("none", "1", "1Gi")),
	}
	got := runScore(t, NodeAffinity{}, pod("p", pref), snapshotOf(nodes...), nodes)
	if want := []int64{100, 80, 20, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("scores %v, want %v", got, want)
	}
}

func TestNodePorts(t *testing.T) {
	used := infoOn(node("n", "1", "1Gi"), pod("web", hostPortOpt(8080, api.ProtocolTCP, "")), pod("dns", hostPortOpt(53, api.ProtocolUDP, "10.0.0.1")))
	no := []string{reasonNodePorts}
	runFilterCases(t, NodePorts{}, []filterCase{
		{name: "no host port", pod: pod("p"), node: used},
		{name: "free port", pod: pod("p", hostPortOpt(9090, api.ProtocolTCP, "")), node: used},
		{name: "same port and protocol", pod: pod("p", hostPortOpt(8080, api.ProtocolTCP, "")), node: used, want: no, code: Unschedulable},
		{name: "same port, specific ip vs all", pod: pod("p", hostPortOpt(8080, api.ProtocolTCP, "10.0.0.2")), node: used, want: no},
		{name: "same port, other protocol", pod: pod("p", hostPortOpt(8080, api.ProtocolUDP, "")), node: used},
		{name: "same port, other ip", pod: pod("p", hostPortOpt(53, api.ProtocolUDP, "10.0.0.2")), node: used},
		{name: "same port, same ip", pod: pod("p", hostPortOpt(53, api.ProtocolUDP, "10.0.0.1")), node: used, want: no},
		{name: "all ips vs specific", pod: pod("p", hostPortOpt(53, api.ProtocolUDP, "")), node: used, want: no},
		{name: "host network takes its container ports", pod: pod("p", func(p *api.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []api.ContainerPort{{ContainerPort: 8080, Protocol: api.ProtocolTCP}}
		}), node: used, want: no},
	})
}

func TestNodeResourcesFit(t *testing.T) {
	n := infoOn(node("n", "2", "4Gi", withMaxPods("3")), pod("a", requests("1", "1Gi")), pod("b", requests("500m", "1Gi")))
	full := infoOn(node("n", "2", "4Gi", withMaxPods("2")), pod("a", requests("1", "1Gi")), pod("b", requests("500m", "1Gi")))
	runFilterCases(t, NodeResourcesFit{}, []filterCase{
		{name: "fits", pod: pod("p", requests("500m", "2Gi")), node: n},
		{name: "best effort fits", pod: pod("p"), node: n},
		{name: "cpu", pod: pod("p", requests("600m", "1Gi")), node: n, want: []string{"Insufficient cpu"}, code: Unschedulable},
		{name: "memory", pod: pod("p", requests("100m", "3Gi")), node: n, want: []string{"Insufficient memory"}},
		{name: "both", pod: pod("p", requests("1", "3Gi")), node: n, want: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "pods", pod: pod("p"), node: full, want: []string{reasonTooManyPods}},
		{name: "init container larger", pod: pod("p", requests("100m", "100Mi"), initRequests("1", "100Mi")), node: n, want: []string{"Insufficient cpu"}},
		{name: "init container smaller", pod: pod("p", requests("500m", "100Mi"), initRequests("100m", "100Mi")), node: n},
		{name: "extended resource absent", pod: pod("p", func(p *api.Pod) {
			p.Spec.Containers[0].Resources.Requests = api.ResourceList{"example.com/gpu": q("1")}
		}), node: n, want: []string{"Insufficient example.com/gpu"}},
		{name: "no allocatable pods", pod: pod("p"), node: NewNodeInfo(&api.Node{ObjectMeta: api.ObjectMeta{Name: "bare"}}), want: []string{reasonTooManyPods}},
	})
}

func TestPodRequests(t *testing.T) {
	p := pod("p", requests("250m", "100Mi"), initRequests("1", "50Mi"))
	p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "side", Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceMemory: q("100Mi")}}})
	req, nonZero := podRequests(&p.Spec)
	if req.MilliCPU != 1000 || req.Memory != 200<<20 {
		t.Errorf("requests = %d m, %d bytes; want 1000 m (the init container), 200Mi (the sum)", req.MilliCPU, req.Memory)
	}
	// The sidecar sets no CPU: it counts 100m for scoring.
	if nonZero.MilliCPU != 1000 || nonZero.Memory != 200<<20 {
		t.Errorf("non-zero = %d m, %d bytes; want 1000 m, 200Mi", nonZero.MilliCPU, nonZero.Memory)
	}
}
