package daemonset

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

var t0 = controllertest.T0

func node(name string, labels map[string]string, taints ...api.Taint) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}}
	n.Spec.Taints = taints
	return n
}

func TestFit(t *testing.T) {
	ssd := map[string]string{"disk": "ssd"}
	tests := []struct {
		name string
		node *api.Node
		tmpl func(*api.PodSpec)
		want fit
	}{
		{"plain node", node("n", nil), nil, fit{true, true}},
		{"selector matches", node("n", ssd), func(s *api.PodSpec) { s.NodeSelector = ssd }, fit{true, true}},
		{"selector does not match", node("n", nil), func(s *api.PodSpec) { s.NodeSelector = ssd }, fit{false, false}},
		{"required affinity matches", node("n", ssd), func(s *api.PodSpec) {
			s.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
				NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: "disk", Operator: api.NodeSelectorOpIn, Values: []string{"ssd"}}}}}}}}
		}, fit{true, true}},
		{"required affinity does not match", node("n", nil), func(s *api.PodSpec) {
			s.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
				NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: "disk", Operator: api.NodeSelectorOpExists}}}}}}}
		}, fit{false, false}},
		{"untolerated NoSchedule: no new pod, the old may stay", node("n", nil, api.Taint{Key: "k", Value: "v", Effect: api.TaintEffectNoSchedule}), nil, fit{false, true}},
		{"untolerated NoExecute: none", node("n", nil, api.Taint{Key: "k", Effect: api.TaintEffectNoExecute}), nil, fit{false, false}},
		{"PreferNoSchedule is no bar", node("n", nil, api.Taint{Key: "k", Effect: api.TaintEffectPreferNoSchedule}), nil, fit{true, true}},
		{"tolerated NoSchedule", node("n", nil, api.Taint{Key: "k", Value: "v", Effect: api.TaintEffectNoSchedule}), func(s *api.PodSpec) {
			s.Tolerations = []api.Toleration{{Key: "k", Value: "v"}}
		}, fit{true, true}},
		{"unreachable tolerated by default", node("n", nil,
			api.Taint{Key: "node.kubernetes.io/unreachable", Effect: api.TaintEffectNoExecute},
			api.Taint{Key: "node.kubernetes.io/unreachable", Effect: api.TaintEffectNoSchedule}), nil, fit{false, true}},
		{"not-ready NoExecute tolerated by default", node("n", nil, api.Taint{Key: "node.kubernetes.io/not-ready", Effect: api.TaintEffectNoExecute}), nil, fit{true, true}},
		{"cordoned node tolerated by default", node("n", nil, api.Taint{Key: "node.kubernetes.io/unschedulable", Effect: api.TaintEffectNoSchedule}), nil, fit{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDS("d")
			if tt.tmpl != nil {
				tt.tmpl(&ds.Spec.Template.Spec)
			}
			if got := newFitter(ds).fit(tt.node); got != tt.want {
				t.Errorf("fit = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// dsPod is a pod of ds on node at revision hash, ready since readySince
// (zero: not ready).
func dsPod(name, node, hash string, readySince time.Time) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name,
		Labels: map[string]string{"app": "d", RevisionLabel: hash}, CreationTimestamp: api.NewTime(t0)}}
	p.Spec.NodeName = node
	if !readySince.IsZero() {
		p.Status.Phase = api.PodRunning
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(readySince)}}
	}
	return p
}

func names(ps []*api.Pod) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestPlanRollingUpdateBudget(t *testing.T) {
	nodes := []*api.Node{node("a", nil), node("b", nil), node("c", nil), node("d", nil)}
	allOld := func() []*api.Pod {
		return []*api.Pod{dsPod("pa", "a", "old", t0), dsPod("pb", "b", "old", t0), dsPod("pc", "c", "old", t0), dsPod("pd", "d", "old", t0)}
	}
	tests := []struct {
		name       string
		maxUnav    *api.IntOrString
		onDelete   bool
		pods       []*api.Pod
		wantDelete string
		wantCreate string
	}{
		{"default 1", nil, false, allOld(), "[pa]", "[]"},
		{"2", ptr(api.FromInt(2)), false, allOld(), "[pa pb]", "[]"},
		{"50% of 4", ptr(api.FromString("50%")), false, allOld(), "[pa pb]", "[]"},
		{"0 still moves", ptr(api.FromInt(0)), false, allOld(), "[pa]", "[]"},
		{"OnDelete replaces nothing", nil, true, allOld(), "[]", "[]"},
		{"a node being replaced uses the budget", ptr(api.FromInt(2)), false,
			[]*api.Pod{dsPod("pb", "b", "old", t0), dsPod("pc", "c", "old", t0), dsPod("pd", "d", "old", t0)}, "[pb]", "[a]"},
		{"a new pod not ready yet uses it all", nil, false,
			[]*api.Pod{dsPod("pa", "a", "new", time.Time{}), dsPod("pb", "b", "old", t0), dsPod("pc", "c", "old", t0), dsPod("pd", "d", "old", t0)}, "[]", "[]"},
		{"an old pod not ready goes for free", nil, false,
			[]*api.Pod{dsPod("pa", "a", "new", t0), dsPod("pb", "b", "old", time.Time{}), dsPod("pc", "c", "old", t0), dsPod("pd", "d", "old", t0)}, "[pb]", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDS("d")
			ds.Spec.UpdateStrategy.Type = api.RollingUpdateDaemonSetStrategyType
			ds.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxUnavailable: tt.maxUnav}
			if tt.onDelete {
				ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.OnDeleteDaemonSetStrategyType}
			}
			d := plan(ds, "new", nodes, tt.pods, t0.Add(time.Minute))
			if got := fmt.Sprint(names(d.delete)); got != tt.wantDelete {
				t.Errorf("delete = %s, want %s", got, tt.wantDelete)
			}
			if got := fmt.Sprint(d.create); got != tt.wantCreate {
				t.Errorf("create = %v, want %s", d.create, tt.wantCreate)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPlanPlacement(t *testing.T) {
	nodes := []*api.Node{node("a", nil), node("b", nil), node("tainted", nil, api.Taint{Key: "k", Effect: api.TaintEffectNoSchedule})}
	terminating := dsPod("pb-old", "b", "h", t0)
	terminating.DeletionTimestamp = ptr(api.NewTime(t0))
	dup := dsPod("pa2", "a", "h", t0)
	dup.CreationTimestamp = api.NewTime(t0.Add(time.Second))
	pods := []*api.Pod{
		dsPod("pa", "a", "h", t0), dup, // two on a: the newer goes
		terminating,                     // b: wait for it before creating
		dsPod("pt", "tainted", "h", t0), // may stay, counted misscheduled
		dsPod("pgone", "gone", "h", t0), // its node is gone: force delete
	}
	d := plan(newDS("d"), "h", nodes, pods, t0.Add(time.Minute))
	if got := fmt.Sprint(names(d.delete)); got != "[pa2]" {
		t.Errorf("delete = %s, want [pa2]", got)
	}
	if got := fmt.Sprint(names(d.forceDelete)); got != "[pgone]" {
		t.Errorf("force delete = %s, want [pgone]", got)
	}
	if len(d.create) != 0 {
		t.Errorf("create = %v, want none (b's old pod is still terminating)", d.create)
	}
	want := api.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 1, NumberMisscheduled: 1,
		NumberReady: 1, NumberAvailable: 1, UpdatedNumberScheduled: 1, NumberUnavailable: 1}
	if !reflect.DeepEqual(d.status, want) {
		t.Errorf("status = %+v\nwant %+v", d.status, want)
	}
	// Once b's old pod is gone, b gets one.
	d = plan(newDS("d"), "h", nodes, []*api.Pod{dsPod("pa", "a", "h", t0)}, t0)
	if fmt.Sprint(d.create) != "[b]" {
		t.Errorf("create = %v, want [b]", d.create)
	}
	// A finished pod is replaced.
	failed := dsPod("pa", "a", "h", time.Time{})
	failed.Status.Phase = api.PodFailed
	d = plan(newDS("d"), "h", nodes[:1], []*api.Pod{failed}, t0)
	if fmt.Sprint(names(d.delete)) != "[pa]" || len(d.create) != 0 {
		t.Errorf("failed pod: delete %v create %v, want delete [pa] and create after it is gone", names(d.delete), d.create)
	}
}

func TestPlanMinReadySeconds(t *testing.T) {
	clk := controllertest.NewClock()
	ds := newDS("d")
	ds.Spec.MinReadySeconds = 10
	nodes := []*api.Node{node("a", nil)}
	pods := []*api.Pod{dsPod("pa", "a", "h", t0)}
	d := plan(ds, "h", nodes, pods, clk.Now())
	if d.status.NumberReady != 1 || d.status.NumberAvailable != 0 || !d.notYetAvailable {
		t.Errorf("at once: status %+v notYetAvailable %v, want ready 1, available 0, a look again", d.status, d.notYetAvailable)
	}
	clk.Advance(10 * time.Second)
	d = plan(ds, "h", nodes, pods, clk.Now())
	if d.status.NumberAvailable != 1 || d.notYetAvailable {
		t.Errorf("after 10s: status %+v, want available 1", d.status)
	}
}

func TestNewPod(t *testing.T) {
	ds := newDS("d")
	ds.Generation = 3
	ds.Spec.Template.Spec.Tolerations = []api.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute, TolerationSeconds: ptr(int64(5))}}
	pref := []api.PreferredSchedulingTerm{{Weight: 1, Preference: api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{{Key: "x", Operator: api.NodeSelectorOpExists}}}}}
	ds.Spec.Template.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution:  &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: "y", Operator: api.NodeSelectorOpExists}}}}},
		PreferredDuringSchedulingIgnoredDuringExecution: pref,
	}}
	p := newPod(ds, "n1", "h")
	if targetNode(p) != "n1" || len(p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) != 1 {
		t.Errorf("affinity = %+v, want one term for n1", p.Spec.Affinity.NodeAffinity)
	}
	if len(p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Error("preferred affinity dropped")
	}
	if ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields != nil {
		t.Error("the template was changed")
	}
	if got, want := len(p.Spec.Tolerations), len(defaultTolerations); got != want {
		t.Errorf("%d tolerations, want %d (the user's unreachable one kept, not doubled)", got, want)
	}
	if *p.Spec.Tolerations[0].TolerationSeconds != 5 {
		t.Error("the user's toleration changed")
	}
	if p.Labels[RevisionLabel] != "h" || p.Labels[TemplateGenerationLabel] != "3" || p.GenerateName != "d-" {
		t.Errorf("labels %v generateName %q", p.Labels, p.GenerateName)
	}
}

func TestPlanSurge(t *testing.T) {
	nodes := []*api.Node{node("a", nil), node("b", nil), node("c", nil)}
	ds := newDS("d")
	ds.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxSurge: ptr(api.FromInt(1)), MaxUnavailable: ptr(api.FromInt(0))}
	old := func(n string) *api.Pod { return dsPod("old-"+n, n, "old", t0) }
	newReady := func(n string) *api.Pod { return dsPod("new-"+n, n, "new", t0) }
	newPending := func(n string) *api.Pod { return dsPod("new-"+n, n, "new", time.Time{}) }
	tests := []struct {
		name       string
		pods       []*api.Pod
		wantCreate string
		wantDelete string
		available  int32
	}{
		{"start one new beside the old", []*api.Pod{old("a"), old("b"), old("c")}, "[a]", "[]", 3},
		{"wait while it starts", []*api.Pod{old("a"), newPending("a"), old("b"), old("c")}, "[]", "[]", 3},
		{"new one up: old goes, next starts", []*api.Pod{old("a"), newReady("a"), old("b"), old("c")}, "[b]", "[old-a]", 3},
		{"an old pod that is down is replaced at once", []*api.Pod{old("a"), newPending("a"), dsPod("old-b", "b", "old", time.Time{}), old("c")}, "[b]", "[]", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := plan(ds, "new", nodes, tt.pods, t0.Add(time.Minute))
			if got := fmt.Sprint(d.create); got != tt.wantCreate {
				t.Errorf("create = %s, want %s", got, tt.wantCreate)
			}
			if got := fmt.Sprint(names(d.delete)); got != tt.wantDelete {
				t.Errorf("delete = %s, want %s", got, tt.wantDelete)
			}
			if d.status.NumberAvailable != tt.available {
				t.Errorf("available = %d, want %d", d.status.NumberAvailable, tt.available)
			}
		})
	}
}
