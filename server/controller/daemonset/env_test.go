package daemonset

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/registry"
)

// env is a real store and registry in a temporary directory with the
// controller running on it. No scheduler or agent runs: a fakeNodes loop
// (startNodes) does their part.
type env struct {
	t     testing.TB
	ctx   context.Context
	reg   *registry.Registry
	c     *Controller
	dsets *client.Resource[*api.DaemonSet]
	pods  *client.Resource[*api.Pod]
	nodes *client.Resource[*api.Node]
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	reg, _, ctx := controllertest.Registry(t, 120*time.Second)
	cfg.Backend = reg
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, ctx, c.Run)
	return &env{t: t, ctx: ctx, reg: reg, c: c,
		dsets: client.For[*api.DaemonSet](reg, "default"),
		pods:  client.For[*api.Pod](reg, "default"),
		nodes: client.For[*api.Node](reg, "")}
}

func (e *env) addNode(name string, labels map[string]string, taints ...api.Taint) {
	e.t.Helper()
	if _, err := e.nodes.Create(e.ctx, controllertest.ReadyNode(name, labels, taints...)); err != nil {
		e.t.Fatal(err)
	}
}

// fakeNodes binds pods to the node their affinity names (the scheduler),
// marks them Running and Ready after readyAfter, and finishes their
// deletion (the agent).
type fakeNodes struct {
	e          *env
	readyAfter time.Duration
	mu         sync.Mutex
	bound      map[string]time.Time // pod uid → when bound
}

func (e *env) startNodes(readyAfter time.Duration) *fakeNodes {
	f := &fakeNodes{e: e, readyAfter: readyAfter, bound: map[string]time.Time{}}
	controllertest.Every(e.t, e.ctx, 5*time.Millisecond, f.step)
	return f
}

func (f *fakeNodes) step(ctx context.Context) {
	pods, _, _, err := f.e.pods.List(ctx, api.ListOptions{})
	if err != nil {
		return
	}
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil:
			controllertest.RemovePod(ctx, f.e.pods, p)
		case p.Spec.NodeName == "":
			node := targetNode(p)
			if _, err := f.e.nodes.Get(ctx, node); err != nil {
				continue
			}
			p.Spec.NodeName = node
			if _, err := f.e.pods.Update(ctx, p); err == nil {
				f.mu.Lock()
				f.bound[p.UID] = time.Now()
				f.mu.Unlock()
			}
		case p.Status.Phase != api.PodRunning:
			f.mu.Lock()
			at, ok := f.bound[p.UID]
			f.mu.Unlock()
			if ok && time.Since(at) < f.readyAfter {
				continue
			}
			controllertest.SetRunningReady(ctx, f.e.pods, p, time.Now())
		}
	}
}

// eventually polls cond every 10 ms until it holds or 30 s pass.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 30 * time.Second, Every: 10 * time.Millisecond}, what, cond)
}

// podNodes maps node → the pods there (by target node), not being deleted.
func (e *env) podNodes() map[string][]*api.Pod {
	e.t.Helper()
	pods, _, _, err := e.pods.List(e.ctx, api.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]*api.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			out[targetNode(p)] = append(out[targetNode(p)], p)
		}
	}
	return out
}

func newDS(name string) *api.DaemonSet {
	ds := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: name}}
	ds.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	ds.Spec.Template.Labels = map[string]string{"app": name}
	ds.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	return ds
}

func describe(m map[string][]*api.Pod) string {
	s := ""
	for n, ps := range m {
		s += fmt.Sprintf("%s:%d ", n, len(ps))
	}
	return s
}
