package daemonset

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
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
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Backend = reg
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		st.Close()
	})
	return &env{t: t, ctx: ctx, reg: reg, c: c,
		dsets: client.For[*api.DaemonSet](reg, "default"),
		pods:  client.For[*api.Pod](reg, "default"),
		nodes: client.For[*api.Node](reg, "")}
}

func (e *env) addNode(name string, labels map[string]string, taints ...api.Taint) {
	e.t.Helper()
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}}
	n.Spec.Taints = taints
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	if _, err := e.nodes.Create(e.ctx, n); err != nil {
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
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			f.step(ctx)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	e.t.Cleanup(func() { cancel(); <-done })
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
			zero := int64(0)
			uid := p.UID
			f.e.pods.Delete(ctx, p.Name, api.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &api.Preconditions{UID: &uid}})
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
			p.Status.Phase = api.PodRunning
			p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(time.Now())}}
			f.e.pods.UpdateStatus(ctx, p)
		}
	}
}

// eventually polls cond every 10 ms until it holds or 30 s pass.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s; last: %s", what, last)
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
