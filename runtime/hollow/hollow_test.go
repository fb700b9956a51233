package hollow_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/hollow"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// startCluster starts n hollow nodes on srv and waits for them.
func startCluster(tb testing.TB, ctx context.Context, srv *testServer, cfg hollow.Config) *hollow.Cluster {
	tb.Helper()
	cfg.Backend = srv.calls
	cfg.Dir = tb.TempDir()
	cfg.Lease = leaseRenewer{srv.leases}
	c, err := hollow.Start(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("stop hollow nodes: %v", err)
		}
	})
	if _, err := c.WaitReady(ctx); err != nil {
		tb.Fatal(err)
	}
	return c
}

func zone(i int) map[string]string {
	return map[string]string{"topology.kubernetes.io/zone": fmt.Sprintf("zone-%c", 'a'+i%3)}
}

// waitPod polls the pod until ok says it is as wanted.
func waitPod(t *testing.T, ctx context.Context, b client.Backend, name string, what string, ok func(*api.Pod) bool) *api.Pod {
	t.Helper()
	pods := client.For[*api.Pod](b, "default")
	var last *api.Pod
	for {
		p, err := pods.Get(ctx, name)
		if err == nil {
			last = p
			if ok(p) {
				return p
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s: never %s; last seen: phase %s, status %+v (err %v)", name, what, phaseOf(last), statusOf(last), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func phaseOf(p *api.Pod) api.PodPhase {
	if p == nil {
		return ""
	}
	return p.Status.Phase
}

func statusOf(p *api.Pod) any {
	if p == nil {
		return nil
	}
	return p.Status.ContainerStatuses
}

func podReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func nodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func TestHollowNodesOnRealRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := newTestServer(t, ctx)
	const count = 20
	capacity := func(i int) api.ResourceList {
		if i%2 == 0 {
			return hollow.Resources(2000, 8<<30, 30)
		}
		return hollow.Resources(500, 1<<30, 10)
	}
	c := startCluster(t, ctx, srv, hollow.Config{Count: count, Labels: zone, Capacity: capacity,
		Taints: func(i int) []api.Taint {
			if i == count-1 {
				return []api.Taint{{Key: "dedicated", Value: "gpu", Effect: api.TaintEffectNoSchedule}}
			}
			return nil
		}})

	t.Run("nodes register ready with capacity and labels", func(t *testing.T) {
		nodes, _, _, err := client.For[*api.Node](srv.reg, "").List(ctx, api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != count {
			t.Fatalf("%d nodes registered, want %d", len(nodes), count)
		}
		for _, n := range nodes {
			h := c.Node(n.Name)
			if h == nil {
				t.Fatalf("node %s is not a hollow node", n.Name)
			}
			want := capacity(h.Index)
			for _, res := range []string{api.ResourceCPU, api.ResourceMemory, api.ResourcePods} {
				if got := n.Status.Capacity[res]; got.String() != want[res].String() {
					t.Errorf("node %s: capacity %s = %s, want %s", n.Name, res, got.String(), want[res].String())
				}
				if got := n.Status.Allocatable[res]; got.String() != want[res].String() {
					t.Errorf("node %s: allocatable %s = %s, want %s", n.Name, res, got.String(), want[res].String())
				}
			}
			if !nodeReady(n) {
				t.Errorf("node %s: not Ready: %+v", n.Name, n.Status.Conditions)
			}
			if got, want := n.Labels["topology.kubernetes.io/zone"], zone(h.Index)["topology.kubernetes.io/zone"]; got != want {
				t.Errorf("node %s: zone %q, want %q", n.Name, got, want)
			}
			if n.Labels["kubernetes.io/hostname"] != n.Name {
				t.Errorf("node %s: hostname label %q", n.Name, n.Labels["kubernetes.io/hostname"])
			}
			if n.Spec.PodCIDR == "" || n.Spec.PodCIDR != h.Network.PodCIDR() {
				t.Errorf("node %s: podCIDR %q, network has %q", n.Name, n.Spec.PodCIDR, h.Network.PodCIDR())
			}
			if len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Address != h.IP || n.Status.NodeInfo.ContainerRuntimeVersion != "hollow" {
				t.Errorf("node %s: addresses %+v, runtime %q; want InternalIP %s, hollow", n.Name, n.Status.Addresses, n.Status.NodeInfo.ContainerRuntimeVersion, h.IP)
			}
			if h.Index == count-1 && (len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "dedicated") {
				t.Errorf("node %s: taints %+v, want dedicated=gpu", n.Name, n.Spec.Taints)
			}
			if l, ok := srv.leases.Get(n.Name); !ok || l.Expired(time.Now()) {
				t.Errorf("node %s: no live lease (%+v, %v)", n.Name, l, ok)
			}
		}
	})

	t.Run("idle nodes write nothing", func(t *testing.T) {
		time.Sleep(time.Second) // the last registrations' Events and statuses
		before := srv.store.Stats()
		srv.calls.take()
		time.Sleep(11 * time.Second) // past a node-status period (10 s) and a relist
		after := srv.store.Stats()
		calls, _ := srv.calls.take()
		t.Logf("idle for 11 s, the nodes called: %s", calls)
		for _, w := range []string{"create", "update", "patch", "delete"} {
			if strings.Contains(calls, w) {
				t.Errorf("idle nodes sent writes (%s), even if the store dropped them as unchanged", calls)
				break
			}
		}
		if n := after.Changes - before.Changes; n != 0 {
			t.Errorf("%d nodes idle for 11 s: %d changes written (revision %d → %d), want none", count, n, before.Revision, after.Revision)
		}
	})

	pods := client.For[*api.Pod](srv.reg, "default")
	t.Run("a bound pod runs, is ready, has an address of its node, and goes when deleted", func(t *testing.T) {
		node := c.Nodes[3]
		_, err := pods.Create(ctx, &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: api.PodSpec{NodeName: node.Name, Containers: []api.Container{{
				Name: "web", Image: "skiff.test/web:v1",
				Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &api.Probe{
					ProbeHandler:  api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/healthz", Port: api.FromString("http")}},
					PeriodSeconds: 1,
				},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, ctx, srv.reg, "web", "Running and Ready", func(p *api.Pod) bool {
			return p.Status.Phase == api.PodRunning && podReady(p)
		})
		subnet := netip.MustParsePrefix(node.Network.PodCIDR())
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !subnet.Contains(ip) {
			t.Errorf("pod IP %q is not in node %s's subnet %s", p.Status.PodIP, node.Name, subnet)
		}
		if p.Status.HostIP != node.IP {
			t.Errorf("hostIP %q, want %s", p.Status.HostIP, node.IP)
		}
		if node.Runtime.Running() != 1 {
			t.Errorf("node runs %d containers, want 1", node.Runtime.Running())
		}

		if _, err := pods.Delete(ctx, "web", api.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := pods.Get(ctx, "web")
			if errdefs.IsNotFound(err) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("deleted pod still there: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if all, _ := node.Runtime.List(ctx); len(all) != 0 || len(node.Network.List()) != 0 {
			t.Errorf("after the delete the node holds %d containers and sandboxes %v", len(all), node.Network.List())
		}
	})

	t.Run("a crashing container backs off", func(t *testing.T) {
		node := c.Nodes[5]
		_, err := pods.Create(ctx, &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: "crash", Namespace: "default"},
			Spec: api.PodSpec{NodeName: node.Name, Containers: []api.Container{{
				Name: "app", Image: "skiff.test/app:v1",
				Env: []api.EnvVar{{Name: hollow.EnvExitCode, Value: "1"}},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, ctx, srv.reg, "crash", "in CrashLoopBackOff", func(p *api.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff" && cs[0].RestartCount >= 1
		})
		cs := p.Status.ContainerStatuses[0]
		if term := cs.LastTerminationState.Terminated; term == nil || term.ExitCode != 1 || term.Reason != "Error" {
			t.Errorf("last termination %+v, want exit 1, Error", term)
		}
		if podReady(p) {
			t.Error("a crash-looping pod is Ready")
		}
	})

	t.Run("probes follow the container's variables", func(t *testing.T) {
		node := c.Nodes[6]
		tcp := api.ProbeHandler{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(80)}}
		_, err := pods.Create(ctx, &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: "probed", Namespace: "default"},
			Spec: api.PodSpec{NodeName: node.Name, Containers: []api.Container{
				{
					Name: "dies", Image: "skiff.test/app:v1",
					Env:           []api.EnvVar{{Name: hollow.EnvLivenessFailAfter, Value: "1s"}},
					LivenessProbe: &api.Probe{ProbeHandler: tcp, PeriodSeconds: 1, FailureThreshold: 1},
				},
				{
					Name: "unready", Image: "skiff.test/app:v1",
					Env:            []api.EnvVar{{Name: hollow.EnvReadyAfter, Value: "never"}},
					ReadinessProbe: &api.Probe{ProbeHandler: tcp, PeriodSeconds: 1},
				},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		p := waitPod(t, ctx, srv.reg, "probed", "restarted by its liveness probe", func(p *api.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 2 && cs[0].RestartCount >= 1 && cs[1].State.Running != nil
		})
		if podReady(p) || p.Status.ContainerStatuses[1].Ready {
			t.Errorf("a pod with a never-ready container is Ready: %+v", p.Status.ContainerStatuses[1])
		}
		if p.Status.ContainerStatuses[1].RestartCount != 0 {
			t.Errorf("the unready container restarted %d times", p.Status.ContainerStatuses[1].RestartCount)
		}
	})

	t.Run("a job's container completes", func(t *testing.T) {
		node := c.Nodes[7]
		_, err := pods.Create(ctx, &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: "once", Namespace: "default"},
			Spec: api.PodSpec{NodeName: node.Name, RestartPolicy: api.RestartPolicyNever, Containers: []api.Container{{
				Name: "task", Image: "skiff.test/task:v1",
				Env: []api.EnvVar{{Name: hollow.EnvExitAfter, Value: "300ms"}},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		waitPod(t, ctx, srv.reg, "once", "Succeeded", func(p *api.Pod) bool { return p.Status.Phase == api.PodSucceeded })
	})

	t.Run("an image that cannot be pulled", func(t *testing.T) {
		node := c.Nodes[8]
		_, err := pods.Create(ctx, &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: "nopull", Namespace: "default"},
			Spec:       api.PodSpec{NodeName: node.Name, Containers: []api.Container{{Name: "app", Image: "skiff.test/missing:v1"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		waitPod(t, ctx, srv.reg, "nopull", "in ErrImagePull", func(p *api.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && (cs[0].State.Waiting.Reason == "ErrImagePull" || cs[0].State.Waiting.Reason == "ImagePullBackOff")
		})
	})

	t.Run("an agent restart re-adopts its containers", func(t *testing.T) {
		node := c.Nodes[9]
		_, err := pods.Create(ctx, &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: "steady", Namespace: "default"},
			Spec:       api.PodSpec{NodeName: node.Name, Containers: []api.Container{{Name: "app", Image: "skiff.test/app:v1"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		before := waitPod(t, ctx, srv.reg, "steady", "Ready", podReady)
		if err := node.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := node.Start(); err != nil {
			t.Fatal(err)
		}
		if err := node.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		after := waitPod(t, ctx, srv.reg, "steady", "Ready", podReady)
		if a, b := after.Status.ContainerStatuses[0], before.Status.ContainerStatuses[0]; a.ContainerID != b.ContainerID || a.RestartCount != 0 {
			t.Errorf("after an agent restart the container is %s (restarts %d), want %s unrestarted", a.ContainerID, a.RestartCount, b.ContainerID)
		}
	})
}
