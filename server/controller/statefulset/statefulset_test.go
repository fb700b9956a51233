package statefulset

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestOrderedReady: web-1 only after web-0 is Ready, web-2 only after
// web-1; scaling down removes web-2 first, and web-1 only once web-2 is
// gone.
func TestOrderedReady(t *testing.T) {
	e := newEnv(t, "n1")
	f := e.startNodes(false, "n1")
	if _, err := e.sets.Create(e.ctx, newSet("web", 3)); err != nil {
		t.Fatal(err)
	}
	e.wantPods("web-0")
	e.never("web-1 created before web-0 is ready", 200*time.Millisecond, func() (bool, string) {
		s := e.podSet()
		return s != "web-0", s
	})
	e.ready("web-0")
	e.wantPods("web-0 web-1")
	e.never("web-2 created before web-1 is ready", 200*time.Millisecond, func() (bool, string) {
		s := e.podSet()
		return s != "web-0 web-1", s
	})
	e.ready("web-1")
	e.wantPods("web-0 web-1 web-2")
	e.ready("web-2")
	e.eventually("status 3 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		st := s.Status
		return st.Replicas == 3 && st.ReadyReplicas == 3 && st.CurrentReplicas == 3 && st.UpdatedReplicas == 3 &&
			st.CurrentRevision != "" && st.CurrentRevision == st.UpdateRevision && st.ObservedGeneration == s.Generation, fmt.Sprintf("%+v", st)
	})

	// Nothing changes: a resync (a pod's annotation) writes nothing.
	before, _ := e.sets.Get(e.ctx, "web")
	err := client.RetryOnConflict(e.ctx, func() error {
		p, err := e.pods.Get(e.ctx, "web-0")
		if err != nil {
			return err
		}
		p.Annotations = map[string]string{"touched": "yes"}
		_, err = e.pods.Update(e.ctx, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if after, _ := e.sets.Get(e.ctx, "web"); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("set rewritten with nothing changed: %+v → %+v", before.Status, after.Status)
	}

	f.hold("web-2", true)
	e.updateSet("web", func(s *api.StatefulSet) { one := int32(1); s.Spec.Replicas = &one })
	e.wantPods("web-0 web-1 web-2(T)")
	e.never("web-1 deleted while web-2 is terminating", 200*time.Millisecond, func() (bool, string) {
		s := e.podSet()
		return s != "web-0 web-1 web-2(T)", s
	})
	f.hold("web-2", false)
	e.wantPods("web-0")
	e.eventually("events", func() (bool, string) {
		got := e.events()
		return strings.Contains(got, "SuccessfulCreate: create Pod web-2 in StatefulSet web successful") &&
			strings.Contains(got, "SuccessfulDelete: delete Pod web-1 in StatefulSet web successful"), got
	})
}

// TestParallel creates every replica at once, ready or not.
func TestParallel(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(false, "n1")
	s := newSet("web", 3)
	s.Spec.PodManagementPolicy = api.ParallelPodManagement
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	e.wantPods("web-0 web-1 web-2")
	e.updateSet("web", func(s *api.StatefulSet) { zero := int32(0); s.Spec.Replicas = &zero })
	e.wantPods("")
}

// TestReplicaKeepsItsClaimAndNode: each replica gets its claim, made
// before the pod; a deleted replica comes back under its name, with the
// same claim, on the node that holds the claim's volume — and not
// before the old pod is gone. A restarted controller (no memory) reuses
// the claim too.
func TestReplicaKeepsItsClaimAndNode(t *testing.T) {
	e := newEnv(t, "n1", "n2", "n3")
	f := e.startNodes(true, "n1", "n2", "n3")
	s := claimSet(t, "web", 3)
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	e.eventually("3 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		return s.Status.ReadyReplicas == 3, fmt.Sprintf("%+v", s.Status)
	})
	set, err := e.sets.Get(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.checkClaim(set, fmt.Sprintf("data-web-%d", i))
	}
	old, err := e.pods.Get(e.ctx, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := podClaims(old); fmt.Sprint(got) != "[data-web-1]" {
		t.Fatalf("web-1's claims = %v, want [data-web-1]", got)
	}
	claim, err := e.claims.Get(e.ctx, "data-web-1")
	if err != nil {
		t.Fatal(err)
	}
	node := old.Spec.NodeName
	if got := claim.Annotations[api.AnnotationSelectedNode]; got != node {
		t.Fatalf("claim data-web-1 on node %q, web-1 on %q", got, node)
	}

	f.hold("web-1", true)
	if _, err := e.pods.Delete(e.ctx, "web-1", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.never("a second web-1 while the old one terminates", 300*time.Millisecond, func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "web-1")
		if err != nil {
			return true, err.Error()
		}
		return p.UID != old.UID, "new uid " + p.UID
	})
	e.stop()
	e.startController()
	f.hold("web-1", false)
	e.eventually("web-1 back on "+node, func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "web-1")
		if err != nil {
			return false, err.Error()
		}
		return p.UID != old.UID && p.Spec.NodeName == node && runningAndReady(p) && fmt.Sprint(podClaims(p)) == "[data-web-1]",
			fmt.Sprintf("uid %s node %q claims %v", p.UID, p.Spec.NodeName, podClaims(p))
	})
	again, err := e.claims.Get(e.ctx, "data-web-1")
	if err != nil {
		t.Fatal(err)
	}
	if again.UID != claim.UID {
		t.Errorf("claim data-web-1 made again (uid %s, was %s); want it reused", again.UID, claim.UID)
	}
	if got := e.claimNames(); got != "data-web-0 data-web-1 data-web-2" {
		t.Errorf("claims %s, want one per replica", got)
	}
	e.eventually("events", func() (bool, string) {
		got := e.events()
		return strings.Contains(got, "SuccessfulCreate: create Claim data-web-1 Pod web-1 in StatefulSet web success"), got
	})
}

// TestRollingUpdate replaces web-2, then web-1, and keeps web-0 (below
// the partition) until the partition drops to 0.
func TestRollingUpdate(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	if _, err := e.sets.Create(e.ctx, newSet("web", 3)); err != nil {
		t.Fatal(err)
	}
	e.eventually("3 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		return s.Status.ReadyReplicas == 3 && s.Status.CurrentReplicas == 3, fmt.Sprintf("%+v", s.Status)
	})
	s, _ := e.sets.Get(e.ctx, "web")
	oldRev := s.Status.CurrentRevision
	pods, _, _, err := e.pods.List(e.ctx, api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.pods.Watch(e.ctx, api.ListOptions{ResourceVersion: maxRV(pods)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var order []string
	seen := map[string]bool{}
	deletions := func(n int) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for len(order) < n {
			select {
			case ev := <-w.ResultChan():
				p, ok := ev.Object.(*api.Pod)
				if ok && p.DeletionTimestamp != nil && !seen[p.UID] {
					seen[p.UID] = true
					order = append(order, p.Name)
				}
			case <-timeout:
				t.Fatalf("deletions so far %v, want %d", order, n)
			}
		}
	}
	e.updateSet("web", func(s *api.StatefulSet) {
		one := int32(1)
		s.Spec.UpdateStrategy.RollingUpdate.Partition = &one
		s.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	})
	deletions(2)
	if got := strings.Join(order, ","); got != "web-2,web-1" {
		t.Errorf("replaced %s, want web-2,web-1", got)
	}
	var newRev string
	e.eventually("2 updated, web-0 old", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		st := s.Status
		newRev = st.UpdateRevision
		return st.UpdatedReplicas == 2 && st.CurrentReplicas == 1 && st.ReadyReplicas == 3 && st.CurrentRevision == oldRev && newRev != oldRev, fmt.Sprintf("%+v", st)
	})
	e.never("web-0 replaced below the partition", 200*time.Millisecond, func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "web-0")
		return err != nil || p.Labels[RevisionLabel] != oldRev, fmt.Sprint(err)
	})
	e.updateSet("web", func(s *api.StatefulSet) { zero := int32(0); s.Spec.UpdateStrategy.RollingUpdate.Partition = &zero })
	deletions(3)
	if got := strings.Join(order, ","); got != "web-2,web-1,web-0" {
		t.Errorf("replaced %s, want web-2,web-1,web-0", got)
	}
	e.eventually("rollout complete", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		st := s.Status
		return st.UpdatedReplicas == 3 && st.CurrentReplicas == 3 && st.ReadyReplicas == 3 && st.CurrentRevision == newRev, fmt.Sprintf("%+v", st)
	})
}

// TestOnDelete replaces a pod only when it is deleted.
func TestOnDelete(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	s := newSet("web", 2)
	s.Spec.UpdateStrategy.Type = api.OnDeleteStatefulSetStrategyType
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	e.eventually("2 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		return s.Status.ReadyReplicas == 2, fmt.Sprintf("%+v", s.Status)
	})
	e.updateSet("web", func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	var newRev string
	e.eventually("update revision", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		newRev = s.Status.UpdateRevision
		return s.Status.ObservedGeneration == s.Generation && s.Status.UpdatedReplicas == 0, fmt.Sprintf("%+v", s.Status)
	})
	e.never("a pod replaced by itself", 200*time.Millisecond, func() (bool, string) {
		s := e.podSet()
		return s != "web-0 web-1", s
	})
	if _, err := e.pods.Delete(e.ctx, "web-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("web-0 new", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "web-0")
		if err != nil {
			return false, err.Error()
		}
		return p.Labels[RevisionLabel] == newRev && p.DeletionTimestamp == nil, p.Labels[RevisionLabel]
	})
}

func maxRV(pods []*api.Pod) string {
	best := ""
	for _, p := range pods {
		if len(p.ResourceVersion) > len(best) || (len(p.ResourceVersion) == len(best) && p.ResourceVersion > best) {
			best = p.ResourceVersion
		}
	}
	return best
}

// TestAdoptsOrphans: web-0 left without a controller is adopted, and the
// set goes on to web-1 instead of waiting for a name no one frees.
func TestAdoptsOrphans(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	s := newSet("web", 2)
	orphan := newPod(s, 0, "web-x")
	orphan.OwnerReferences = nil
	if _, err := e.pods.Create(e.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	e.eventually("web-0 adopted and web-1 created", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "web-0")
		if err != nil {
			return false, err.Error()
		}
		ref := api.ControllerOf(&p.ObjectMeta)
		if ref == nil || ref.Name != "web" {
			return false, "web-0 not adopted"
		}
		_, err = e.pods.Get(e.ctx, "web-1")
		return err == nil, fmt.Sprint(err)
	})
}

// TestPartitionKeepsOldRevision: with partition 2 only web-2 runs the new
// template; a deleted web-0 comes back at the current (old) revision.
func TestPartitionKeepsOldRevision(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	if _, err := e.sets.Create(e.ctx, newSet("web", 3)); err != nil {
		t.Fatal(err)
	}
	var oldRev string
	e.eventually("3 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		oldRev = s.Status.CurrentRevision
		return s.Status.ReadyReplicas == 3 && s.Status.CurrentReplicas == 3, fmt.Sprintf("%+v", s.Status)
	})
	e.updateSet("web", func(s *api.StatefulSet) {
		two := int32(2)
		s.Spec.UpdateStrategy.RollingUpdate.Partition = &two
		s.Spec.Template.Spec.Containers[0].Image = "busybox:canary"
	})
	e.eventually("web-2 updated", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		return s.Status.UpdatedReplicas == 1 && s.Status.ReadyReplicas == 3 && s.Status.CurrentReplicas == 2, fmt.Sprintf("%+v", s.Status)
	})
	old, _ := e.pods.Get(e.ctx, "web-0")
	if _, err := e.pods.Delete(e.ctx, "web-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("web-0 back at the old revision", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "web-0")
		if err != nil {
			return false, err.Error()
		}
		return p.UID != old.UID && p.Labels[RevisionLabel] == oldRev && p.Spec.Containers[0].Image == "busybox",
			fmt.Sprintf("rev %s image %s", p.Labels[RevisionLabel], p.Spec.Containers[0].Image)
	})
}
