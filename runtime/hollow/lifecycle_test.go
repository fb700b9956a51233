package hollow_test

import (
	"context"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/hollow"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/nodelifecycle"
)

// A stopped hollow agent stops renewing its lease like a killed one: the
// node lifecycle controller taints it and evicts its pod, which stays
// Terminating while its container may still run; the agent, started
// again, stops the container and the pod goes.
func TestStoppedNodeIsEvictedAndComesBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := newTestServer(t, ctx)
	nl, err := nodelifecycle.New(nodelifecycle.Config{Backend: srv.reg, Leases: srv.leases,
		NotReadyAfter: 1500 * time.Millisecond, EvictAfter: time.Second, Period: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lctx, stopNL := context.WithCancel(ctx)
	nlDone := make(chan struct{})
	go func() { nl.Run(lctx); close(nlDone) }()
	t.Cleanup(func() { stopNL(); <-nlDone })

	c := startCluster(t, ctx, srv, hollow.Config{Count: 3, LeaseDuration: time.Second})
	node := c.Nodes[1]
	pods := client.For[*api.Pod](srv.reg, "default")
	if _, err := pods.Create(ctx, &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "victim", Namespace: "default"},
		Spec:       api.PodSpec{NodeName: node.Name, Containers: []api.Container{{Name: "app", Image: "skiff.test/app:v1"}}},
	}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, ctx, srv.reg, "victim", "Ready", podReady)

	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	waitPod(t, ctx, srv.reg, "victim", "evicted", func(p *api.Pod) bool { return p.DeletionTimestamp != nil })
	nodes := client.For[*api.Node](srv.reg, "")
	n, err := nodes.Get(ctx, node.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !hasTaint(n, nodelifecycle.TaintUnreachable) || nodeReady(n) {
		t.Errorf("stopped node: taints %+v, conditions %+v; want unreachable and not Ready", n.Spec.Taints, n.Status.Conditions)
	}
	if node.Runtime.Running() != 1 {
		t.Errorf("the stopped node runs %d containers, want its 1 still running", node.Runtime.Running())
	}
	for _, other := range []*hollow.Node{c.Nodes[0], c.Nodes[2]} {
		if n, err := nodes.Get(ctx, other.Name); err != nil || hasTaint(n, nodelifecycle.TaintUnreachable) {
			t.Errorf("live node %s tainted unreachable (%v)", other.Name, err)
		}
	}

	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	if err := node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := pods.Get(ctx, "victim")
		if errdefs.IsNotFound(err) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the evicted pod is still there after its node came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if node.Runtime.Running() != 0 {
		t.Errorf("the returned node still runs %d containers", node.Runtime.Running())
	}
	for {
		n, err := nodes.Get(ctx, node.Name)
		if err == nil && !hasTaint(n, nodelifecycle.TaintUnreachable) && nodeReady(n) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the returned node stays unreachable or not Ready: %+v %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasTaint(n *api.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
