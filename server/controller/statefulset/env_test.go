package statefulset

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/registry"
)

// env is a real store and registry in a temporary directory with the
// controller running on it. No scheduler or agent runs: fakeNodes does
// their part.
type env struct {
	t     testing.TB
	ctx   context.Context
	reg   *registry.Registry
	sets  *client.Resource[*api.StatefulSet]
	pods  *client.Resource[*api.Pod]
	nodes *client.Resource[*api.Node]
	stop  func() // stops the controller
}

func newEnv(t testing.TB, nodes ...string) *env {
	t.Helper()
	reg, _, ctx := controllertest.Registry(t, 120*time.Second)
	e := &env{t: t, ctx: ctx, reg: reg,
		sets:  client.For[*api.StatefulSet](reg, "default"),
		pods:  client.For[*api.Pod](reg, "default"),
		nodes: client.For[*api.Node](reg, "")}
	for _, n := range nodes {
		if _, err := e.nodes.Create(ctx, controllertest.ReadyNode(n, nil)); err != nil {
			t.Fatal(err)
		}
	}
	e.startController()
	return e
}

// startController runs a controller (a new one, with an empty memory).
func (e *env) startController() {
	c, err := New(Config{Backend: e.reg})
	if err != nil {
		e.t.Fatal(err)
	}
	e.stop = controllertest.Start(e.t, e.ctx, c.Run)
}

// fakeNodes plays scheduler and agent: it binds a pod to the node its
// affinity names, or else to the next node in turn; marks it Running and
// Ready (if autoReady); and finishes a deletion unless the pod is held.
type fakeNodes struct {
	e         *env
	nodes     []string
	mu        sync.Mutex
	autoReady bool
	noBind    bool            // leave binding to a real scheduler
	held      map[string]bool // pod names whose deletion waits
	next      int
}

func (e *env) startNodes(autoReady bool, nodes ...string) *fakeNodes {
	return e.startFakeNodes(&fakeNodes{e: e, nodes: nodes, autoReady: autoReady, held: map[string]bool{}})
}

func (e *env) startFakeNodes(f *fakeNodes) *fakeNodes {
	controllertest.Every(e.t, e.ctx, 5*time.Millisecond, f.step)
	return f
}

func (f *fakeNodes) hold(name string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held[name] = on
}

func (f *fakeNodes) step(ctx context.Context) {
	pods, _, _, err := f.e.pods.List(ctx, api.ListOptions{})
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range pods {
		switch {
		case p.DeletionTimestamp != nil:
			if f.held[p.Name] {
				continue
			}
			controllertest.RemovePod(ctx, f.e.pods, p)
		case p.Spec.NodeName == "" && f.noBind:
		case p.Spec.NodeName == "":
			node := pinnedNode(p)
			if node == "" {
				node = f.nodes[f.next%len(f.nodes)]
				f.next++
			}
			p.Spec.NodeName = node
			f.e.pods.Update(ctx, p)
		case p.Status.Phase != api.PodRunning && f.autoReady:
			f.setReady(ctx, p)
		}
	}
}

func (f *fakeNodes) setReady(ctx context.Context, p *api.Pod) {
	controllertest.SetRunningReady(ctx, f.e.pods, p, time.Now())
}

// ready marks the bound pod name Running and Ready.
func (e *env) ready(name string) {
	e.t.Helper()
	e.eventually(name+" bound", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, name)
		if err != nil {
			return false, err.Error()
		}
		if p.Spec.NodeName == "" {
			return false, "unbound"
		}
		_, err = controllertest.SetRunningReady(e.ctx, e.pods, p, time.Now())
		return err == nil, fmt.Sprint(err)
	})
}

// pinnedNode is the node a pod's required affinity names by
// metadata.name, if any.
func pinnedNode(p *api.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// eventually polls cond every 10 ms until it holds or 30 s pass.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 30 * time.Second, Every: 10 * time.Millisecond}, what, cond)
}

// never checks that cond stays false for d.
func (e *env) never(what string, d time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if ok, state := cond(); ok {
			e.t.Fatalf("%s: %s", what, state)
		}
	}
}

// podSet describes the pods: "web-0 web-1(T)" (T: terminating).
func (e *env) podSet() string {
	pods, _, _, err := e.pods.List(e.ctx, api.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range pods {
		s := p.Name
		if p.DeletionTimestamp != nil {
			s += "(T)"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func (e *env) wantPods(want string) {
	e.t.Helper()
	e.eventually("pods "+want, func() (bool, string) {
		got := e.podSet()
		return got == want, got
	})
}

func newSet(name string, n int32) *api.StatefulSet {
	s := &api.StatefulSet{ObjectMeta: api.ObjectMeta{Name: name}}
	s.Spec.Replicas = &n
	s.Spec.ServiceName = name
	s.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	s.Spec.Template.Labels = map[string]string{"app": name}
	s.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	return s
}

func (e *env) updateSet(name string, fn func(*api.StatefulSet)) {
	e.t.Helper()
	err := client.RetryOnConflict(e.ctx, func() error {
		s, err := e.sets.Get(e.ctx, name)
		if err != nil {
			return err
		}
		fn(s)
		_, err = e.sets.Update(e.ctx, s)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}
