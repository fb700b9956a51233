package daemonset

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

// TestDaemonSetPlacement: on three nodes, one tainted and one not matching
// the nodeSelector, only the third gets a pod; a new node gets one; a
// removed node's pod goes; a node relabelled out of the selector loses
// its pod.
func TestDaemonSetPlacement(t *testing.T) {
	e := newEnv(t, Config{})
	e.startNodes(0)
	e.addNode("good", map[string]string{"disk": "ssd"})
	e.addNode("tainted", map[string]string{"disk": "ssd"}, api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintEffectNoSchedule})
	e.addNode("hdd", map[string]string{"disk": "hdd"})
	ds := newDS("agent")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	if _, err := e.dsets.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	want := func(what string, nodes ...string) {
		t.Helper()
		e.eventually(what, func() (bool, string) {
			got := e.podNodes()
			if len(got) != len(nodes) {
				return false, describe(got)
			}
			for _, n := range nodes {
				if len(got[n]) != 1 {
					return false, describe(got)
				}
			}
			ds, err := e.dsets.Get(e.ctx, "agent")
			if err != nil {
				return false, err.Error()
			}
			s := ds.Status
			return s.DesiredNumberScheduled == int32(len(nodes)) && s.NumberReady == int32(len(nodes)) && s.ObservedGeneration == ds.Generation,
				fmt.Sprintf("%s status %+v", describe(got), s)
		})
	}
	want("a pod on good only", "good")
	got := e.podNodes()["good"][0]
	if got.Labels[RevisionLabel] == "" {
		t.Errorf("pod has no %s label", RevisionLabel)
	}
	if targetNode(got) != "good" || got.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values[0] != "good" {
		t.Errorf("pod affinity = %+v, want matchFields metadata.name in [good]", got.Spec.Affinity)
	}

	// Nothing changes: a resync writes nothing.
	before, _ := e.dsets.Get(e.ctx, "agent")
	err := client.RetryOnConflict(e.ctx, func() error {
		n, err := e.nodes.Get(e.ctx, "hdd")
		if err != nil {
			return err
		}
		n.Labels["touched"] = "yes"
		_, err = e.nodes.Update(e.ctx, n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if after, _ := e.dsets.Get(e.ctx, "agent"); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("daemon set rewritten with nothing changed: %+v → %+v", before.Status, after.Status)
	}

	e.addNode("new", map[string]string{"disk": "ssd"})
	want("a pod on the new node too", "good", "new")

	if _, err := e.nodes.Delete(e.ctx, "new", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want("the removed node's pod gone", "good")

	// Tolerating the taint (a template change) places a pod there too.
	err = client.RetryOnConflict(e.ctx, func() error {
		ds, err := e.dsets.Get(e.ctx, "agent")
		if err != nil {
			return err
		}
		ds.Spec.Template.Spec.Tolerations = []api.Toleration{{Key: "dedicated", Operator: api.TolerationOpExists}}
		_, err = e.dsets.Update(e.ctx, ds)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want("a pod on the tainted node once tolerated", "good", "tainted")

	// Relabel good out of the selector: its pod goes.
	err = client.RetryOnConflict(e.ctx, func() error {
		n, err := e.nodes.Get(e.ctx, "good")
		if err != nil {
			return err
		}
		n.Labels["disk"] = "hdd"
		_, err = e.nodes.Update(e.ctx, n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want("no pod on a node that stopped matching", "tainted")
	e.eventually("events", func() (bool, string) {
		evs, _, _, err := client.For[*api.Event](e.reg, "default").List(e.ctx, api.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		reasons := map[string]int{}
		for _, ev := range evs {
			if ev.InvolvedObject.Kind == "DaemonSet" && ev.InvolvedObject.Name == "agent" {
				reasons[ev.Reason]++
			}
		}
		return reasons["SuccessfulCreate"] >= 3 && reasons["SuccessfulDelete"] >= 2, fmt.Sprint(reasons)
	})
}

// TestDaemonSetRollingUpdate: a template change replaces the pods one
// node at a time (maxUnavailable 1): never two nodes without a ready pod.
func TestDaemonSetRollingUpdate(t *testing.T) {
	testRollingUpdate(t, nil, 2)
}

// TestDaemonSetRollingUpdateSurge: with maxSurge 1 and maxUnavailable 0
// every node keeps a ready pod throughout.
func TestDaemonSetRollingUpdateSurge(t *testing.T) {
	one, zero := api.FromInt(1), api.FromInt(0)
	testRollingUpdate(t, &api.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}, 3)
}

func testRollingUpdate(t *testing.T, ru *api.RollingUpdateDaemonSet, wantMinReady int) {
	e := newEnv(t, Config{})
	e.startNodes(100 * time.Millisecond)
	for _, n := range []string{"n1", "n2", "n3"} {
		e.addNode(n, nil)
	}
	ds := newDS("agent")
	ds.Spec.UpdateStrategy.RollingUpdate = ru
	if _, err := e.dsets.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	ready := func() (int, int, map[string]bool) {
		pods, _, _, _ := e.pods.List(e.ctx, api.ListOptions{})
		nodes := map[string]bool{}
		revs := map[string]bool{}
		for _, p := range pods {
			if p.DeletionTimestamp == nil && podstate.Ready(p) {
				nodes[p.Spec.NodeName] = true
				revs[p.Labels[RevisionLabel]] = true
			}
		}
		return len(nodes), len(pods), revs
	}
	e.eventually("3 ready pods", func() (bool, string) {
		n, all, _ := ready()
		return n == 3 && all == 3, fmt.Sprintf("%d ready nodes, %d pods", n, all)
	})
	ds, _ = e.dsets.Get(e.ctx, "agent")
	oldHash := templateHash(ds)

	stop := make(chan struct{})
	minReady := make(chan int, 1)
	go func() {
		low := 3
		for {
			select {
			case <-stop:
				minReady <- low
				return
			default:
			}
			n, _, _ := ready()
			low = min(low, n)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	err := client.RetryOnConflict(e.ctx, func() error {
		ds, err := e.dsets.Get(e.ctx, "agent")
		if err != nil {
			return err
		}
		ds.Spec.Template.Spec.Containers[0].Image = "busybox:2"
		_, err = e.dsets.Update(e.ctx, ds)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("all pods updated and ready", func() (bool, string) {
		ds, err := e.dsets.Get(e.ctx, "agent")
		if err != nil {
			return false, err.Error()
		}
		n, all, revs := ready()
		s := ds.Status
		return s.UpdatedNumberScheduled == 3 && s.NumberAvailable == 3 && n == 3 && all == 3 && !revs[oldHash] && s.ObservedGeneration == ds.Generation,
			fmt.Sprintf("status %+v, %d ready nodes, %d pods", s, n, all)
	})
	close(stop)
	if low := <-minReady; low < wantMinReady {
		t.Errorf("during the update only %d nodes had a ready pod; want at least %d", low, wantMinReady)
	}
}

// TestDaemonSetOnDelete: a template change replaces nothing until a pod
// is deleted; then that node's pod comes back new.
func TestDaemonSetOnDelete(t *testing.T) {
	e := newEnv(t, Config{})
	e.startNodes(0)
	e.addNode("n1", nil)
	e.addNode("n2", nil)
	ds := newDS("agent")
	ds.Spec.UpdateStrategy.Type = api.OnDeleteDaemonSetStrategyType
	if _, err := e.dsets.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	e.eventually("2 pods", func() (bool, string) {
		got := e.podNodes()
		return len(got["n1"]) == 1 && len(got["n2"]) == 1, describe(got)
	})
	err := client.RetryOnConflict(e.ctx, func() error {
		ds, err := e.dsets.Get(e.ctx, "agent")
		if err != nil {
			return err
		}
		ds.Spec.Template.Spec.Containers[0].Image = "busybox:2"
		_, err = e.dsets.Update(e.ctx, ds)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var newHash string
	e.eventually("status observed", func() (bool, string) {
		ds, _ := e.dsets.Get(e.ctx, "agent")
		newHash = templateHash(ds)
		return ds.Status.ObservedGeneration == ds.Generation && ds.Status.UpdatedNumberScheduled == 0, fmt.Sprintf("%+v", ds.Status)
	})
	time.Sleep(200 * time.Millisecond)
	for n, ps := range e.podNodes() {
		if ps[0].Labels[RevisionLabel] == newHash {
			t.Fatalf("OnDelete replaced the pod on %s by itself", n)
		}
	}
	victim := e.podNodes()["n1"][0]
	if _, err := e.pods.Delete(e.ctx, victim.Name, api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("n1's pod back with the new template", func() (bool, string) {
		got := e.podNodes()
		if len(got["n1"]) != 1 || len(got["n2"]) != 1 {
			return false, describe(got)
		}
		return got["n1"][0].Labels[RevisionLabel] == newHash && got["n2"][0].Labels[RevisionLabel] != newHash, describe(got)
	})
}

// TestDaemonSetAdoptsOrphans: a daemon pod left without a controller (its
// daemon set deleted with orphan propagation) is adopted, not doubled.
func TestDaemonSetAdoptsOrphans(t *testing.T) {
	e := newEnv(t, Config{})
	e.startNodes(0)
	e.addNode("n1", nil)
	e.addNode("n2", nil)
	orphan := newPod(newDS("agent"), "n1", "somehash")
	orphan.OwnerReferences = nil
	if _, err := e.pods.Create(e.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dsets.Create(e.ctx, newDS("agent")); err != nil {
		t.Fatal(err)
	}
	e.eventually("one pod per node, the orphan adopted", func() (bool, string) {
		got := e.podNodes()
		if len(got["n1"]) != 1 || len(got["n2"]) != 1 {
			return false, describe(got)
		}
		p := got["n1"][0]
		ref := api.ControllerOf(&p.ObjectMeta)
		return ref != nil && ref.Kind == "DaemonSet", fmt.Sprintf("n1's pod %s refs %v", p.Name, p.OwnerReferences)
	})
	time.Sleep(100 * time.Millisecond)
	if got := e.podNodes(); len(got["n1"]) != 1 {
		t.Errorf("n1 has %d pods after adoption, want 1 (the old one, replaced by the rolling update at most)", len(got["n1"]))
	}
}
