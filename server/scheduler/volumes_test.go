package scheduler

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// claimMap is a ClaimLister over a map by namespace/name.
type claimMap map[string]*api.PersistentVolumeClaim

func (m claimMap) Get(ns, name string) (*api.PersistentVolumeClaim, bool) {
	c, ok := m[ns+"/"+name]
	return c, ok
}

func claimsOf(cs ...*api.PersistentVolumeClaim) claimMap {
	m := claimMap{}
	for _, c := range cs {
		m[claimKey(c)] = c
	}
	return m
}

type claimOpt func(*api.PersistentVolumeClaim)

// pvc is a ReadWriteOnce claim of 1Gi in "default".
func pvc(name string, opts ...claimOpt) *api.PersistentVolumeClaim {
	c := &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name}}
	c.Spec.AccessModes = []api.PersistentVolumeAccessMode{api.ReadWriteOnce}
	c.Spec.Resources.Requests = api.ResourceList{api.ResourceStorage: q("1Gi")}
	for _, o := range opts {
		o(c)
	}
	return c
}

func selectedNode(n string) claimOpt {
	return func(c *api.PersistentVolumeClaim) {
		c.Annotations = map[string]string{api.AnnotationSelectedNode: n}
		c.Status.Phase = api.ClaimBound
	}
}

func rwop(c *api.PersistentVolumeClaim) {
	c.Spec.AccessModes = []api.PersistentVolumeAccessMode{api.ReadWriteOncePod}
}

func claimDeleting(c *api.PersistentVolumeClaim) {
	t := api.NewTime(time.Now())
	c.DeletionTimestamp = &t
}

// usesClaim adds a volume backed by the claim.
func usesClaim(name string) podOpt {
	return func(p *api.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, api.Volume{Name: "v-" + name,
			VolumeSource: api.VolumeSource{PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: name}}})
	}
}

// volumeOutcome runs VolumeBinding's PreFilter and Filter over the
// nodes: "skip", the pre-filter's refusal, or each refused node's
// reason (nodes that fit are left out).
type volumeOutcome struct {
	preFilter string
	code      Code
	refused   map[string]string
}

func runVolumeBinding(t *testing.T, v *VolumeBinding, p *api.Pod, nodes ...*NodeInfo) volumeOutcome {
	t.Helper()
	ctx := context.Background()
	snap := snapshotOf(nodes...)
	state := NewCycleState()
	pi := NewPodInfo(p)
	st := v.PreFilter(ctx, state, pi, snap)
	switch {
	case st.IsSkip():
		return volumeOutcome{preFilter: "skip"}
	case !st.IsSuccess():
		return volumeOutcome{preFilter: st.Error(), code: st.Code}
	}
	out := volumeOutcome{refused: map[string]string{}}
	for _, ni := range nodes {
		if st := v.Filter(ctx, state, pi, ni); !st.IsSuccess() {
			if st.Code != UnschedulableAndUnresolvable {
				t.Errorf("node %s: code %d, want UnschedulableAndUnresolvable", ni.Name(), st.Code)
			}
			out.refused[ni.Name()] = st.Error()
		}
	}
	return out
}

func TestVolumeBindingFilter(t *testing.T) {
	nodes := func(pods ...*api.Pod) []*NodeInfo {
		// pods go to node "a".
		return []*NodeInfo{infoOn(node("a", "4", "8Gi"), pods...), infoOn(node("b", "4", "8Gi")), infoOn(node("c", "4", "8Gi"))}
	}
	conflictExcept := func(fits string) map[string]string {
		m := map[string]string{}
		for _, n := range []string{"a", "b", "c"} {
			if n != fits {
				m[n] = reasonVolumeNodeConflict
			}
		}
		return m
	}
	all := func(reason string) map[string]string {
		return map[string]string{"a": reason, "b": reason, "c": reason}
	}
	cases := []struct {
		name    string
		claims  claimMap
		assumed map[string]string // claim key → node, assumed by an earlier pod
		pod     *api.Pod
		on      []*api.Pod // pods on node a
		want    volumeOutcome
	}{
		{name: "no claims: skip", pod: pod("p"), want: volumeOutcome{preFilter: "skip"}},
		{name: "other volumes only: skip", pod: pod("p", func(p *api.Pod) {
			p.Spec.Volumes = []api.Volume{{Name: "tmp", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}}
		}), want: volumeOutcome{preFilter: "skip"}},
		{name: "missing claim", claims: claimsOf(pvc("other")), pod: pod("db-0", usesClaim("data-db-0")),
			want: volumeOutcome{preFilter: `persistentvolumeclaim "data-db-0" not found`, code: UnschedulableAndUnresolvable}},
		{name: "claim in another namespace", claims: claimsOf(func() *api.PersistentVolumeClaim {
			c := pvc("x")
			c.Namespace = "other"
			return c
		}()), pod: pod("p", usesClaim("x")),
			want: volumeOutcome{preFilter: `persistentvolumeclaim "x" not found`, code: UnschedulableAndUnresolvable}},
		{name: "deleting claim", claims: claimsOf(pvc("x", claimDeleting)), pod: pod("p", usesClaim("x")),
			want: volumeOutcome{preFilter: `persistentvolumeclaim "x" is being deleted`, code: UnschedulableAndUnresolvable}},
		{name: "unbound claim: every node", claims: claimsOf(pvc("x")), pod: pod("p", usesClaim("x")),
			want: volumeOutcome{refused: map[string]string{}}},
		{name: "claim bound to b", claims: claimsOf(pvc("x", selectedNode("b"))), pod: pod("p", usesClaim("x")),
			want: volumeOutcome{refused: conflictExcept("b")}},
		{name: "claim bound to a node that is gone", claims: claimsOf(pvc("x", selectedNode("z"))), pod: pod("p", usesClaim("x")),
			want: volumeOutcome{refused: all(reasonVolumeNodeConflict)}},
		{name: "assumed on c", claims: claimsOf(pvc("x")), assumed: map[string]string{"default/x": "c"}, pod: pod("p", usesClaim("x")),
			want: volumeOutcome{refused: conflictExcept("c")}},
		{name: "annotation wins over an assumption", claims: claimsOf(pvc("x", selectedNode("b"))), assumed: map[string]string{"default/x": "c"},
			pod: pod("p", usesClaim("x")), want: volumeOutcome{refused: conflictExcept("b")}},
		{name: "two claims on one node", claims: claimsOf(pvc("x", selectedNode("b")), pvc("y")), assumed: map[string]string{"default/y": "b"},
			pod: pod("p", usesClaim("x"), usesClaim("y")), want: volumeOutcome{refused: conflictExcept("b")}},
		{name: "two claims on two nodes", claims: claimsOf(pvc("x", selectedNode("a")), pvc("y", selectedNode("b"))),
			pod: pod("p", usesClaim("x"), usesClaim("y")), want: volumeOutcome{refused: all(reasonVolumeNodeConflict)}},
		{name: "ReadWriteOnce shared", claims: claimsOf(pvc("x", selectedNode("a"))), on: []*api.Pod{pod("other", usesClaim("x"))},
			pod: pod("p", usesClaim("x")), want: volumeOutcome{refused: conflictExcept("a")}},
		{name: "ReadWriteOncePod in use", claims: claimsOf(pvc("x", rwop, selectedNode("a"))), on: []*api.Pod{pod("other", usesClaim("x"))},
			pod: pod("p", usesClaim("x")), want: volumeOutcome{refused: all(reasonRWOPConflict)}},
		{name: "ReadWriteOncePod, another claim in use", claims: claimsOf(pvc("x", rwop, selectedNode("a"))), on: []*api.Pod{pod("other", usesClaim("y"))},
			pod: pod("p", usesClaim("x")), want: volumeOutcome{refused: conflictExcept("a")}},
		{name: "ReadWriteOncePod, the pod itself counted", claims: claimsOf(pvc("x", rwop, selectedNode("a"))), on: []*api.Pod{pod("p", usesClaim("x"))},
			pod: pod("p", usesClaim("x")), want: volumeOutcome{refused: conflictExcept("a")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := NewVolumeBinding(c.claims, nil)
			for key, n := range c.assumed {
				v.assumed[key] = &assumedClaim{uid: c.claims[key].UID, node: n, pods: map[string]bool{"default/earlier": true}}
			}
			got := runVolumeBinding(t, v, c.pod, nodes(c.on...)...)
			if got.preFilter != c.want.preFilter || got.code != c.want.code {
				t.Fatalf("pre-filter %q (code %d), want %q (code %d)", got.preFilter, got.code, c.want.preFilter, c.want.code)
			}
			if fmt.Sprint(got.refused) != fmt.Sprint(c.want.refused) {
				t.Errorf("refused\n got %v\nwant %v", got.refused, c.want.refused)
			}
		})
	}
}

// TestVolumeBindingMessage checks the per-class summary a pod gets.
func TestVolumeBindingMessage(t *testing.T) {
	v := NewVolumeBinding(claimsOf(pvc("x", selectedNode("c"))), nil)
	f, err := NewFramework(DefaultPipeline(nopBinder{}, &fakeEvictor{}, v), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*NodeInfo{infoOn(node("a", "4", "8Gi")), infoOn(node("b", "4", "8Gi")), infoOn(node("c", "1", "1Gi"))}
	_, err = schedule(t, f, pod("p", usesClaim("x"), requests("2", "1Gi")), nodes...)
	want := "0/3 nodes are available: 2 node(s) had volume node affinity conflict, 1 Insufficient cpu."
	if err == nil || err.Error() != want {
		t.Errorf("message\n got %v\nwant %s", err, want)
	}
	_, err = schedule(t, f, pod("p", usesClaim("nope")), nodes...)
	want = `0/3 nodes are available: persistentvolumeclaim "nope" not found.`
	if err == nil || err.Error() != want {
		t.Errorf("message\n got %v\nwant %s", err, want)
	}
}

// TestVolumeBindingReserve follows an unbound claim through Reserve,
// a second pod, Unreserve and the informer's update.
func TestVolumeBindingReserve(t *testing.T) {
	ctx := context.Background()
	x := pvc("x")
	v := NewVolumeBinding(claimsOf(x, pvc("y", selectedNode("a"))), nil)
	nodes := []*NodeInfo{infoOn(node("a", "4", "8Gi")), infoOn(node("b", "4", "8Gi"))}
	snap := snapshotOf(nodes...)
	cycle := func(p *api.Pod) (*CycleState, *PodInfo) {
		t.Helper()
		state, pi := NewCycleState(), NewPodInfo(p)
		if st := v.PreFilter(ctx, state, pi, snap); !st.IsSuccess() {
			t.Fatalf("pre-filter %s: %v", p.Name, st.Error())
		}
		return state, pi
	}
	fits := func(state *CycleState, pi *PodInfo) []string {
		var out []string
		for _, ni := range nodes {
			if v.Filter(ctx, state, pi, ni).IsSuccess() {
				out = append(out, ni.Name())
			}
		}
		return out
	}

	s1, p1 := cycle(pod("p1", usesClaim("x"), usesClaim("y")))
	if st := v.Reserve(ctx, s1, p1, "a"); !st.IsSuccess() {
		t.Fatal(st.Error())
	}
	if got := v.assumedNodeOf("default/x", x.UID); got != "a" {
		t.Fatalf("x assumed on %q, want a", got)
	}
	if _, ok := v.assumed["default/y"]; ok {
		t.Error("y, which names its node, was assumed too")
	}
	s2, p2 := cycle(pod("p2", usesClaim("x")))
	if got := fits(s2, p2); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("p2 fits %v, want [a] (x assumed there)", got)
	}
	v.Reserve(ctx, s2, p2, "a")
	v.Unreserve(ctx, s1, p1, "a")
	if got := v.assumedNodeOf("default/x", x.UID); got != "a" {
		t.Fatalf("after p1's unreserve x is assumed on %q, want a (p2 still holds it)", got)
	}
	v.Unreserve(ctx, s2, p2, "a")
	if len(v.assumed) != 0 {
		t.Fatalf("after both unreserved: %v, want nothing assumed", v.assumed)
	}
	s3, p3 := cycle(pod("p3", usesClaim("x")))
	if got := fits(s3, p3); len(got) != 2 {
		t.Fatalf("p3 fits %v, want every node", got)
	}

	// The informer shows the annotation: the assumption goes.
	v.Reserve(ctx, s3, p3, "b")
	bound := api.Clone(x)
	bound.Annotations = map[string]string{api.AnnotationSelectedNode: "b"}
	v.ClaimObserved("default/x", x) // still no annotation: kept
	if v.assumedNodeOf("default/x", x.UID) != "b" {
		t.Fatal("an update without the annotation dropped the assumption")
	}
	v.ClaimObserved("default/x", bound)
	if len(v.assumed) != 0 {
		t.Fatalf("after the annotation showed: %v, want nothing assumed", v.assumed)
	}

	// A claim of the same name made anew does not inherit an assumption.
	v.Reserve(ctx, s3, p3, "b")
	fresh := pvc("x")
	fresh.UID = "uid-x-2"
	v.claims = claimsOf(fresh)
	s4, p4 := cycle(pod("p4", usesClaim("x")))
	if got := fits(s4, p4); len(got) != 2 {
		t.Fatalf("p4 on a new claim x fits %v, want every node", got)
	}
	v.ClaimObserved("default/x", nil)
	if len(v.assumed) != 0 {
		t.Fatalf("after the delete: %v, want nothing assumed", v.assumed)
	}
}

// failingPreBind fails every pre-bind and records the calls of the
// scheduler's plugins.
type failingPreBind struct {
	calls chan string
}

func (failingPreBind) Name() string { return "failingPreBind" }
func (p failingPreBind) Reserve(context.Context, *CycleState, *PodInfo, string) *Status {
	p.calls <- "reserve"
	return nil
}
func (p failingPreBind) Unreserve(context.Context, *CycleState, *PodInfo, string) {
	p.calls <- "unreserve"
}
func (p failingPreBind) PreBind(context.Context, *CycleState, *PodInfo, string) *Status {
	p.calls <- "prebind"
	// "Not found" from a pre-bind is not about the pod: it must not be
	// dropped as gone.
	return AsStatus(fmt.Errorf("no volume: %w", errdefs.ErrNotFound))
}

// TestPreBindFailureBacksOff runs the scheduler with a pre-bind that
// fails: the binder is not called, the pod is unreserved, forgotten
// and backs off, and is tried again.
func TestPreBindFailureBacksOff(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	if _, err := client.For[*api.Node](reg, "").Create(ctx, node("n1", "1", "1Gi")); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*api.Pod](reg, "default")
	if _, err := pods.Create(ctx, pod("p")); err != nil {
		t.Fatal(err)
	}
	pb := failingPreBind{calls: make(chan string, 100)}
	s, err := New(Config{Backend: reg, Pipeline: []Stage{{Plugin: NodeName{}}, {Plugin: pb}, {Plugin: NewDefaultBinder(reg)}}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 4 { // two attempts: the second after the back-off (1 s)
		select {
		case c := <-pb.calls:
			got = append(got, c)
		case <-timeout:
			t.Fatalf("calls %v, want two attempts", got)
		}
	}
	if want := []string{"reserve", "prebind", "unreserve", "reserve"}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if p, _ := pods.Get(ctx, "p"); p.Spec.NodeName != "" {
		t.Errorf("bound to %s after a failed pre-bind", p.Spec.NodeName)
	}
	if st := s.Stats(); st.Failed == 0 || st.Bound != 0 {
		t.Errorf("stats %+v: want failures and no binding", st)
	}
}

// TestVolumeBindingOnRegistry runs the scheduler on the real registry
// and store with two nodes and claims.
func TestVolumeBindingOnRegistry(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	nodes := client.For[*api.Node](reg, "")
	pods := client.For[*api.Pod](reg, "default")
	claims := client.For[*api.PersistentVolumeClaim](reg, "default")
	for _, n := range []*api.Node{node("n1", "4", "8Gi"), node("n2", "4", "8Gi")} {
		if _, err := nodes.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	newClaim := func(name string) *api.PersistentVolumeClaim {
		c := pvc(name)
		c.UID = ""
		return c
	}
	if _, err := claims.Create(ctx, newClaim("data")); err != nil {
		t.Fatal(err)
	}
	s := startScheduler(t, reg)

	if _, err := pods.Create(ctx, pod("db-0", usesClaim("data"), requests("1", "1Gi"))); err != nil {
		t.Fatal(err)
	}
	first := boundNode(t, pods, "db-0")
	c, err := claims.Get(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Annotations[api.AnnotationSelectedNode]; got != first {
		t.Errorf("claim's selected node %q, want %q (the pod's)", got, first)
	}
	if c.Status.Phase != api.ClaimBound || !slices.Equal(c.Status.AccessModes, c.Spec.AccessModes) || c.Status.Capacity[api.ResourceStorage].String() != "1Gi" {
		t.Errorf("claim status %+v, want Bound, ReadWriteOnce, 1Gi", c.Status)
	}
	rv := c.ResourceVersion

	// The node with the claim is fuller; the second user goes there all
	// the same, and the claim is not written again.
	if _, err := pods.Create(ctx, pod("reader", usesClaim("data"), requests("1", "1Gi"))); err != nil {
		t.Fatal(err)
	}
	if got := boundNode(t, pods, "reader"); got != first {
		t.Errorf("second user bound to %s, want %s (the claim's node)", got, first)
	}
	if c, _ := claims.Get(ctx, "data"); c.ResourceVersion != rv {
		t.Errorf("claim written again: resourceVersion %s → %s", rv, c.ResourceVersion)
	}

	// Two pods created together on a new claim: the second is usually
	// scheduled before the first's annotation is seen (Reserve's memory)
	// and goes to the first's node, though pair-a (3 cpu, only the other
	// node has room) leaves that node the fuller.
	if _, err := claims.Create(ctx, newClaim("shared")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the informer to show claim shared", func() (bool, string) {
		_, ok := s.claims.Get("default", "shared")
		return ok, ""
	})
	for _, p := range []*api.Pod{pod("pair-a", usesClaim("shared"), requests("3", "1Gi")), pod("pair-b", usesClaim("shared"), requests("100m", "100Mi"))} {
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	a, b := boundNode(t, pods, "pair-a"), boundNode(t, pods, "pair-b")
	if c, _ := claims.Get(ctx, "shared"); a != b || c.Annotations[api.AnnotationSelectedNode] != a {
		t.Errorf("pair-a on %s, pair-b on %s, claim on %q: want one node", a, b, c.Annotations[api.AnnotationSelectedNode])
	}

	// A pod whose claim is missing waits, saying why, until it appears.
	if _, err := pods.Create(ctx, pod("web-0", usesClaim("www"))); err != nil {
		t.Fatal(err)
	}
	want := `0/2 nodes are available: persistentvolumeclaim "www" not found.`
	waitFor(t, "the PodScheduled condition", func() (bool, string) {
		p, err := pods.Get(ctx, "web-0")
		if err != nil {
			return false, err.Error()
		}
		c := findCondition(p.Status.Conditions, api.PodScheduled)
		if c == nil {
			return false, "no condition"
		}
		return p.Spec.NodeName == "" && c.Status == api.ConditionFalse && c.Reason == ReasonUnschedulable && c.Message == want, fmt.Sprintf("%+v", *c)
	})
	waitFor(t, "web-0 in the unschedulable queue", func() (bool, string) {
		st := s.Stats()
		return st.Queue.Unschedulable == 1, fmt.Sprintf("%+v", st.Queue)
	})
	if _, err := claims.Create(ctx, newClaim("www")); err != nil {
		t.Fatal(err)
	}
	node := boundNode(t, pods, "web-0")
	waitFor(t, "claim www bound", func() (bool, string) {
		c, err := claims.Get(ctx, "www")
		if err != nil {
			return false, err.Error()
		}
		return c.Annotations[api.AnnotationSelectedNode] == node && c.Status.Phase == api.ClaimBound, fmt.Sprintf("%+v %+v", c.Annotations, c.Status)
	})
	if st := s.Stats(); st.Failed != 0 {
		t.Errorf("stats %+v: no attempt should fail", st)
	}
}
