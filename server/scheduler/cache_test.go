package scheduler

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

func TestCacheAssume(t *testing.T) {
	c := newFakeClock()
	cache := NewCache(c.Now, 30*time.Second)
	cache.AddNode(node("n1", "2", "4Gi"))
	snap := NewSnapshot()
	cache.UpdateSnapshot(snap)
	before, _ := snap.Get("n1")

	p := pod("p", requests("1", "1Gi"))
	cache.AssumePod(NewPodInfo(p), "n1")
	cache.UpdateSnapshot(snap)
	ni, _ := snap.Get("n1")
	if ni.Requested.MilliCPU != 1000 || len(ni.Pods) != 1 {
		t.Fatalf("assumed pod not counted: %+v", ni.Requested)
	}
	if len(before.Pods) != 0 {
		t.Fatal("the published NodeInfo was changed in place")
	}
	// Bind failed: forgotten.
	cache.ForgetPod("default/p")
	cache.UpdateSnapshot(snap)
	if ni, _ := snap.Get("n1"); len(ni.Pods) != 0 || ni.Requested.MilliCPU != 0 {
		t.Fatalf("forgotten pod still counted: %+v", ni.Requested)
	}

	// Bound, confirmed by the informer: kept past the TTL.
	cache.AssumePod(NewPodInfo(p), "n1")
	cache.FinishBinding("default/p")
	bound := pod("p", requests("1", "1Gi"), onNode("n1"))
	cache.AddPod(bound)
	if cache.IsAssumed("default/p") {
		t.Error("a confirmed pod is still assumed")
	}
	c.Advance(time.Minute)
	if got := cache.Expire(); len(got) != 0 {
		t.Errorf("expired a confirmed pod: %v", got)
	}
	cache.ForgetPod("default/p") // a late bind failure must not drop it
	if cache.PodCount() != 1 {
		t.Fatal("a confirmed pod was forgotten")
	}

	// Bound but never confirmed: expires after the TTL, not before.
	q2 := pod("q", requests("500m", "1Gi"))
	cache.AssumePod(NewPodInfo(q2), "n1")
	c.Advance(time.Hour) // the bind is still running: no expiry yet
	if got := cache.Expire(); len(got) != 0 {
		t.Fatalf("expired while binding: %v", got)
	}
	cache.FinishBinding("default/q")
	c.Advance(29 * time.Second)
	if got := cache.Expire(); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	c.Advance(2 * time.Second)
	if got := cache.Expire(); len(got) != 1 || got[0] != "default/q" {
		t.Fatalf("expired %v, want default/q", got)
	}
	cache.UpdateSnapshot(snap)
	if ni, _ := snap.Get("n1"); ni.Requested.MilliCPU != 1000 {
		t.Errorf("requested %d m after expiry, want 1000", ni.Requested.MilliCPU)
	}
}

func TestCacheNodesAndPlaceholders(t *testing.T) {
	cache := NewCache(newFakeClock().Now, time.Second)
	// A bound pod seen before its node.
	cache.AddPod(pod("p", requests("1", "1Gi"), onNode("late")))
	snap := NewSnapshot()
	cache.UpdateSnapshot(snap)
	if len(snap.Nodes()) != 0 {
		t.Fatal("a placeholder is listed as a node")
	}
	cache.AddNode(node("late", "4", "8Gi"))
	cache.AddNode(node("a", "4", "8Gi"))
	cache.UpdateSnapshot(snap)
	if n := snap.Nodes(); len(n) != 2 || n[0].Name() != "a" || n[1].Name() != "late" {
		t.Fatalf("nodes %v, want [a late]", names(n))
	}
	if ni, _ := snap.Get("late"); ni.Requested.MilliCPU != 1000 {
		t.Errorf("the early pod is not counted on its node")
	}
	cache.RemoveNode("a")
	cache.RemovePod("default/p")
	cache.RemoveNode("late")
	cache.UpdateSnapshot(snap)
	if len(snap.Nodes()) != 0 || len(cache.nodes) != 0 {
		t.Fatalf("nodes left: %v (cache %d)", names(snap.Nodes()), len(cache.nodes))
	}
}

func TestSnapshotImageCounts(t *testing.T) {
	cache := NewCache(newFakeClock().Now, time.Second)
	img := func(name string) nodeOpt {
		return withImages(api.ContainerImage{Names: []string{name}, SizeBytes: 100 << 20})
	}
	cache.AddNode(node("a", "1", "1Gi", img("redis:7")))
	cache.AddNode(node("b", "1", "1Gi", img("redis:7")))
	snap := NewSnapshot()
	cache.UpdateSnapshot(snap)
	if got := snap.imageNodes["docker.io/library/redis:7"]; got != 2 {
		t.Fatalf("redis on %d nodes, want 2", got)
	}
	cache.AddNode(node("b", "1", "1Gi", img("nginx:1")))
	cache.AddPod(pod("p", onNode("a"))) // a pod change leaves the counts
	cache.UpdateSnapshot(snap)
	if got, ng := snap.imageNodes["docker.io/library/redis:7"], snap.imageNodes["docker.io/library/nginx:1"]; got != 1 || ng != 1 {
		t.Fatalf("redis on %d, nginx on %d; want 1 and 1", got, ng)
	}
	cache.RemoveNode("b")
	cache.UpdateSnapshot(snap)
	if _, ok := snap.imageNodes["docker.io/library/nginx:1"]; ok {
		t.Error("a removed node's image is still counted")
	}
}

func names(nis []*NodeInfo) []string {
	var out []string
	for _, ni := range nis {
		out = append(out, ni.Name())
	}
	return out
}

// TestSnapshotLabelIndex checks the snapshot's label indexes against a
// recount after every change of a random sequence.
func TestSnapshotLabelIndex(t *testing.T) {
	cache := NewCache(newFakeClock().Now, time.Second)
	snap := NewSnapshot()
	rng := rand.New(rand.NewPCG(1, 2))
	pref := affinity(&api.Affinity{PodAntiAffinity: &api.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{
		{Weight: 5, PodAffinityTerm: term(hostKey, "a1")}}}})
	for i := range 2000 {
		n := fmt.Sprintf("n%d", rng.IntN(5))
		switch op := rng.IntN(10); {
		case op == 0:
			cache.AddNode(node(n, "4", "8Gi"))
		case op == 1:
			cache.RemoveNode(n)
		case op < 6:
			opts := []podOpt{labels("app", fmt.Sprintf("a%d", rng.IntN(3))), onNode(n)}
			if rng.IntN(2) == 0 {
				opts = append(opts, pref)
			}
			cache.AddPod(pod(fmt.Sprintf("p%d", rng.IntN(30)), opts...))
		default:
			cache.RemovePod(fmt.Sprintf("default/p%d", rng.IntN(30)))
		}
		cache.UpdateSnapshot(snap)
		want := map[string]map[string]int32{}
		wantPref := map[string]map[string]bool{}
		for _, ni := range snap.Nodes() {
			for _, p := range ni.Pods {
				for k, v := range p.Pod.Labels {
					key := labelKey(p.Pod.Namespace, k+"="+v)
					if want[key] == nil {
						want[key] = map[string]int32{}
					}
					want[key][ni.Name()]++
				}
				for _, tm := range p.PreferredAntiAffinity {
					if wantPref[tm.exact] == nil {
						wantPref[tm.exact] = map[string]bool{}
					}
					wantPref[tm.exact][ni.Name()] = true
				}
			}
		}
		if !reflect.DeepEqual(snap.labelNodes, want) {
			t.Fatalf("step %d: labelNodes %v, want %v", i, snap.labelNodes, want)
		}
		if !reflect.DeepEqual(snap.prefNodes, wantPref) {
			t.Fatalf("step %d: prefNodes %v, want %v", i, snap.prefNodes, wantPref)
		}
	}
}
