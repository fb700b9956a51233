package nodelifecycle

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/nodelease"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(d time.Duration, base time.Time) {
	c.mu.Lock()
	c.t = base.Add(d)
	c.mu.Unlock()
}

func readyPod(name, node string, tol ...api.Toleration) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{NodeName: node, Tolerations: tol,
			Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	}
}

func TestUnreachableNodeIsTaintedAndItsPodsEvicted(t *testing.T) {
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := time.Now()
	clk := &clock{t: base}
	leases := nodelease.New(clk.now)
	nodes := client.For[*api.Node](reg, "")
	pods := client.For[*api.Pod](reg, "default")
	for _, n := range []string{"a", "b"} {
		if _, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: n}, Status: api.NodeStatus{
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}}}); err != nil {
			t.Fatal(err)
		}
	}
	five := int64(300)
	for _, p := range []*api.Pod{
		readyPod("plain", "a"),
		readyPod("patient", "a", api.Toleration{Key: TaintUnreachable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute, TolerationSeconds: &five}),
		readyPod("stubborn", "a", api.Toleration{Operator: api.TolerationOpExists}),
		readyPod("elsewhere", "b"),
		readyPod("orphan", "gone"),
	} {
		created, err := pods.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
		if _, err := pods.UpdateStatus(ctx, created); err != nil {
			t.Fatal(err)
		}
	}
	c, err := New(Config{Backend: reg, Leases: leases, Now: clk.now, Period: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx) // the first Check runs at once; the rest are called here
	waitFor(t, ctx, "the orphan deleted at once", func() bool {
		_, err := pods.Get(ctx, "orphan")
		return errdefs.IsNotFound(err)
	})

	// 25 s later: b renewed at 20 s, a never did.
	clk.set(20*time.Second, base)
	leases.Renew("b", "system:node:b", 20*time.Second)
	clk.set(25*time.Second, base)
	c.Check(ctx)
	a := waitNode(t, ctx, c, "a", func(n *api.Node) bool {
		return findTaint(n.Spec.Taints, TaintUnreachable, api.TaintEffectNoExecute) != nil && n.Status.Conditions[0].Status == api.ConditionUnknown
	})
	if findTaint(a.Spec.Taints, TaintUnreachable, api.TaintEffectNoSchedule) == nil {
		t.Errorf("a has no NoSchedule taint: %+v", a.Spec.Taints)
	}
	for _, cd := range a.Status.Conditions {
		if cd.Type == api.NodeReady && cd.Status != api.ConditionUnknown {
			t.Errorf("a's Ready is %s, want Unknown", cd.Status)
		}
	}
	if b, _ := nodes.Get(ctx, "b"); len(b.Spec.Taints) != 0 {
		t.Errorf("b, which renews, was tainted: %+v", b.Spec.Taints)
	}

	// 30 s: a's pods are not Ready any more, none is evicted yet.
	clk.set(30*time.Second, base)
	c.Check(ctx)
	for _, name := range []string{"plain", "patient", "stubborn"} {
		p, err := pods.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if p.DeletionTimestamp != nil {
			t.Errorf("%s evicted after 5 s", name)
		}
		for _, cd := range p.Status.Conditions {
			if cd.Type == api.PodReady && cd.Status != api.ConditionFalse {
				t.Errorf("%s still Ready on an unreachable node", name)
			}
		}
	}

	// 90 s: 65 s after the taint, the plain pod goes; the tolerant stay.
	clk.set(90*time.Second, base)
	c.Check(ctx)
	if p, err := pods.Get(ctx, "plain"); err == nil && p.DeletionTimestamp == nil {
		t.Error("plain not evicted 65 s after its node became unreachable")
	}
	for _, name := range []string{"patient", "stubborn", "elsewhere"} {
		if p, err := pods.Get(ctx, name); err != nil || p.DeletionTimestamp != nil {
			t.Errorf("%s evicted: %v", name, err)
		}
	}

	// a comes back: its taints go.
	clk.set(95*time.Second, base)
	leases.Renew("a", "system:node:a", 20*time.Second)
	c.Check(ctx)
	waitNode(t, ctx, c, "a", func(n *api.Node) bool { return len(n.Spec.Taints) == 0 })

	// b renews but says it is not Ready: no new pods go there (NoSchedule
	// only: its agent still looks after its pods); Ready again, the
	// taint goes.
	setReady := func(status api.ConditionStatus) {
		t.Helper()
		err := client.RetryOnConflict(ctx, func() error {
			b, err := nodes.Get(ctx, "b")
			if err != nil {
				return err
			}
			b.Status.Conditions[0].Status = status
			_, err = nodes.UpdateStatus(ctx, b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		waitNode(t, ctx, c, "b", func(n *api.Node) bool { return n.Status.Conditions[0].Status == status })
	}
	leases.Renew("b", "system:node:b", 20*time.Second) // silent since 20 s, it was tainted unreachable at 95 s
	c.Check(ctx)
	waitNode(t, ctx, c, "b", func(n *api.Node) bool { return len(n.Spec.Taints) == 0 })
	setReady(api.ConditionFalse)
	c.Check(ctx)
	b := waitNode(t, ctx, c, "b", func(n *api.Node) bool { return len(n.Spec.Taints) > 0 })
	if len(b.Spec.Taints) != 1 || findTaint(b.Spec.Taints, TaintNotReady, api.TaintEffectNoSchedule) == nil {
		t.Errorf("b not Ready has taints %+v, want only %s:NoSchedule", b.Spec.Taints, TaintNotReady)
	}
	if p, err := pods.Get(ctx, "elsewhere"); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("a pod of a live node that is not Ready was evicted: %v", err)
	}
	setReady(api.ConditionTrue)
	c.Check(ctx)
	waitNode(t, ctx, c, "b", func(n *api.Node) bool { return len(n.Spec.Taints) == 0 })

	// A deleted node's lease goes too.
	if _, err := reg.Delete(ctx, "nodes", "", "b", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "b's lease forgotten", func() bool { _, ok := leases.Get("b"); return !ok })
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("%s: not in time", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNode waits until the controller's informer shows the node so.
func waitNode(t *testing.T, ctx context.Context, c *Controller, name string, cond func(*api.Node) bool) *api.Node {
	t.Helper()
	var got *api.Node
	waitFor(t, ctx, "node "+name, func() bool {
		n, ok := c.nodes.Get("", name)
		got = n
		return ok && cond(n)
	})
	return got
}
