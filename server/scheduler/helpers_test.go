package scheduler

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func q(s string) api.Quantity {
	v, err := api.ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return v
}

// nodeOpt and podOpt shape test objects.
type nodeOpt func(*api.Node)

func node(name, cpu, mem string, opts ...nodeOpt) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	n.Status.Allocatable = api.ResourceList{api.ResourceCPU: q(cpu), api.ResourceMemory: q(mem), api.ResourcePods: q("110")}
	n.Status.Capacity = n.Status.Allocatable
	for _, o := range opts {
		o(n)
	}
	return n
}

func withLabels(kv ...string) nodeOpt {
	return func(n *api.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value string, effect api.TaintEffect) nodeOpt {
	return func(n *api.Node) {
		n.Spec.Taints = append(n.Spec.Taints, api.Taint{Key: key, Value: value, Effect: effect})
	}
}

func withMaxPods(v string) nodeOpt {
	return func(n *api.Node) { n.Status.Allocatable[api.ResourcePods] = q(v) }
}

func cordoned(n *api.Node) { n.Spec.Unschedulable = true }

func withImages(imgs ...api.ContainerImage) nodeOpt {
	return func(n *api.Node) { n.Status.Images = imgs }
}

type podOpt func(*api.Pod)

func pod(name string, opts ...podOpt) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, Labels: map[string]string{}}}
	p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox:1.36"}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func requests(cpu, mem string) podOpt {
	return func(p *api.Pod) {
		l := api.ResourceList{}
		if cpu != "" {
			l[api.ResourceCPU] = q(cpu)
		}
		if mem != "" {
			l[api.ResourceMemory] = q(mem)
		}
		p.Spec.Containers[0].Resources.Requests = l
	}
}

func initRequests(cpu, mem string) podOpt {
	return func(p *api.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, api.Container{Name: "init", Image: "busybox:1.36",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: q(cpu), api.ResourceMemory: q(mem)}}})
	}
}

func labels(kv ...string) podOpt {
	return func(p *api.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func onNode(n string) podOpt { return func(p *api.Pod) { p.Spec.NodeName = n } }

func nodeSelector(kv ...string) podOpt {
	return func(p *api.Pod) {
		p.Spec.NodeSelector = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func tolerate(t api.Toleration) podOpt {
	return func(p *api.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t) }
}

func hostPortOpt(port int32, proto api.Protocol, ip string) podOpt {
	return func(p *api.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, api.ContainerPort{ContainerPort: 80, HostPort: port, Protocol: proto, HostIP: ip})
	}
}

func withPriority(v int32) podOpt { return func(p *api.Pod) { p.Spec.Priority = &v } }

func affinity(a *api.Affinity) podOpt { return func(p *api.Pod) { p.Spec.Affinity = a } }

func spread(c ...api.TopologySpreadConstraint) podOpt {
	return func(p *api.Pod) { p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, c...) }
}

func image(img string) podOpt { return func(p *api.Pod) { p.Spec.Containers[0].Image = img } }

// infoOn builds the NodeInfo of n with pods bound to it.
func infoOn(n *api.Node, pods ...*api.Pod) *NodeInfo {
	ni := NewNodeInfo(n)
	for _, p := range pods {
		p.Spec.NodeName = n.Name
		ni.addPod(NewPodInfo(p))
	}
	return ni
}

// runFilter runs one plugin's PreFilter (if any) and Filter on a node.
func runFilter(t *testing.T, p Plugin, pod *api.Pod, snap *Snapshot, ni *NodeInfo) *Status {
	t.Helper()
	ctx := context.Background()
	state := NewCycleState()
	state.Write(snapshotStateKey, snap)
	pi := NewPodInfo(pod)
	if pf, ok := p.(PreFilterPlugin); ok {
		st := pf.PreFilter(ctx, state, pi, snap)
		if st.IsSkip() {
			return nil
		}
		if !st.IsSuccess() {
			return st
		}
	}
	return p.(FilterPlugin).Filter(ctx, state, pi, ni)
}

// runScore runs one plugin's PreScore (if any), Score over nodes and
// NormalizeScore (if any).
func runScore(t *testing.T, p Plugin, pod *api.Pod, snap *Snapshot, nodes []*NodeInfo) []int64 {
	t.Helper()
	ctx := context.Background()
	state := NewCycleState()
	state.Write(snapshotStateKey, snap)
	pi := NewPodInfo(pod)
	scores := make([]int64, len(nodes))
	if ps, ok := p.(PreScorePlugin); ok {
		st := ps.PreScore(ctx, state, pi, nodes)
		if st.IsSkip() {
			return scores
		}
		if !st.IsSuccess() {
			t.Fatalf("PreScore: %v", st.Error())
		}
	}
	for i, ni := range nodes {
		v, st := p.(ScorePlugin).Score(ctx, state, pi, ni)
		if !st.IsSuccess() {
			t.Fatalf("Score: %v", st.Error())
		}
		scores[i] = v
	}
	if n, ok := p.(ScoreNormalizer); ok {
		n.NormalizeScore(ctx, state, pi, scores)
	}
	return scores
}

func reasonsOf(st *Status) []string {
	if st.IsSuccess() {
		return nil
	}
	return st.Reasons
}

// testRegistry opens a real store and registry in a temporary directory.
func testRegistry(tb testing.TB) *registry.Registry {
	tb.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(tb.TempDir(), "state.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	if err := reg.EnsureNamespaces(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return reg
}

var taintAll = api.Toleration{Operator: api.TolerationOpExists}
