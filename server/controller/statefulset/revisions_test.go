package statefulset

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// revisionList describes the set's revisions, oldest first:
// "1:busybox 2:busybox:2".
func (e *env) revisionList(set string) string {
	e.t.Helper()
	rs, _, _, err := client.For[*api.ControllerRevision](e.reg, "default").List(e.ctx, api.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Revision < rs[j].Revision })
	var out []string
	for _, r := range rs {
		if ref := api.ControllerOf(&r.ObjectMeta); ref == nil || ref.Name != set {
			continue
		}
		tmpl, err := r.Template()
		if err != nil {
			e.t.Fatalf("revision %s: %v", r.Name, err)
		}
		out = append(out, fmt.Sprintf("%d:%s", r.Revision, tmpl.Spec.Containers[0].Image))
	}
	return strings.Join(out, " ")
}

func (e *env) wantRevisions(set, want string) {
	e.t.Helper()
	e.eventually("revisions "+want, func() (bool, string) {
		got := e.revisionList(set)
		return got == want, got
	})
}

// TestRevisionsAreControllerRevisions: each template is a
// ControllerRevision <set>-<hash> the set controls, labelled and holding
// the template; the status names them.
func TestRevisionsAreControllerRevisions(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	created, err := e.sets.Create(e.ctx, newSet("web", 2))
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("2 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		return s.Status.ReadyReplicas == 2 && s.Status.CurrentRevision != "", fmt.Sprintf("%+v", s.Status)
	})
	s, _ := e.sets.Get(e.ctx, "web")
	r, err := client.For[*api.ControllerRevision](e.reg, "default").Get(e.ctx, s.Status.CurrentRevision)
	if err != nil {
		t.Fatalf("current revision %s: %v", s.Status.CurrentRevision, err)
	}
	if r.Name != revision(s) || r.Revision != 1 {
		t.Errorf("revision %s number %d, want %s 1", r.Name, r.Revision, revision(s))
	}
	if ref := api.ControllerOf(&r.ObjectMeta); ref == nil || ref.UID != created.UID || ref.Kind != "StatefulSet" {
		t.Errorf("revision controller %+v, want the set", ref)
	}
	if r.Labels["app"] != "web" || r.Labels[RevisionLabel] != hashOf(s) || "web-"+r.Labels[RevisionLabel] != r.Name {
		t.Errorf("revision labels %v, want app=web and %s=%s", r.Labels, RevisionLabel, hashOf(s))
	}
	if tmpl, err := r.Template(); err != nil || tmpl.Spec.Containers[0].Image != "busybox" {
		t.Errorf("revision template %+v, %v", tmpl, err)
	}
	e.updateSet("web", func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	e.wantRevisions("web", "1:busybox 2:busybox:2")
	e.eventually("rolled out", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		st := s.Status
		return st.UpdatedReplicas == 2 && st.CurrentRevision == st.UpdateRevision && st.UpdateRevision == revision(s), fmt.Sprintf("%+v", st)
	})
	// Back to the first template: its revision becomes the newest.
	e.updateSet("web", func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox" })
	e.wantRevisions("web", "2:busybox:2 3:busybox")
	e.eventually("rolled back", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		st := s.Status
		return st.UpdatedReplicas == 2 && st.CurrentRevision == st.UpdateRevision && st.UpdateRevision == r.Name, fmt.Sprintf("%+v", st)
	})
}

// TestRestartMidRollout: a controller started anew, on the same store,
// in the middle of a partitioned rollout brings a deleted replica below
// the partition back with the old template, which only the
// ControllerRevision holds.
func TestRestartMidRollout(t *testing.T) {
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

	e.stop()
	old, _ := e.pods.Get(e.ctx, "web-0")
	if _, err := e.pods.Delete(e.ctx, "web-0", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.wantPods("web-1 web-2") // gone while no controller runs
	e.startController()

	e.eventually("web-0 back at the old revision", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "web-0")
		if err != nil {
			return false, err.Error()
		}
		return p.UID != old.UID && p.Labels[RevisionLabel] == oldRev && p.Spec.Containers[0].Image == "busybox",
			fmt.Sprintf("rev %s image %s", p.Labels[RevisionLabel], p.Spec.Containers[0].Image)
	})
	s, _ := e.sets.Get(e.ctx, "web")
	if s.Status.CurrentRevision != oldRev || s.Status.UpdateRevision == oldRev {
		t.Errorf("status revisions %s → %s, want %s → the new one", s.Status.CurrentRevision, s.Status.UpdateRevision, oldRev)
	}
	e.wantRevisions("web", "1:busybox 2:busybox:canary")
}

// TestOnDeleteRestart: with OnDelete a controller started anew keeps
// the current revision; a deleted replica comes back at the update
// revision, as in Kubernetes.
func TestOnDeleteRestart(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	s := newSet("web", 2)
	s.Spec.UpdateStrategy.Type = api.OnDeleteStatefulSetStrategyType
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	var oldRev string
	e.eventually("2 ready", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		oldRev = s.Status.CurrentRevision
		return s.Status.ReadyReplicas == 2 && s.Status.CurrentReplicas == 2, fmt.Sprintf("%+v", s.Status)
	})
	e.updateSet("web", func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	e.wantRevisions("web", "1:busybox 2:busybox:2")
	e.stop()
	e.startController()
	if _, err := e.pods.Delete(e.ctx, "web-1", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("web-1 at the new revision, web-0 old", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		p, err := e.pods.Get(e.ctx, "web-1")
		if err != nil {
			return false, err.Error()
		}
		st := s.Status
		return p.Spec.Containers[0].Image == "busybox:2" && st.CurrentRevision == oldRev && st.UpdatedReplicas == 1 && st.CurrentReplicas == 1,
			fmt.Sprintf("web-1 %s, %+v", p.Spec.Containers[0].Image, st)
	})
	p, _ := e.pods.Get(e.ctx, "web-0")
	if p.Labels[RevisionLabel] != oldRev {
		t.Errorf("web-0 at %s, want %s", p.Labels[RevisionLabel], oldRev)
	}
}

// TestHistoryTrimmed: revisions beyond revisionHistoryLimit go, oldest
// first, but never one a pod still uses.
func TestHistoryTrimmed(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	s := newSet("web", 2)
	one := int32(1)
	s.Spec.RevisionHistoryLimit = &one
	if _, err := e.sets.Create(e.ctx, s); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		image := fmt.Sprintf("busybox:%d", i)
		e.updateSet("web", func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = image })
		e.eventually("rolled out "+image, func() (bool, string) {
			s, _ := e.sets.Get(e.ctx, "web")
			st := s.Status
			return st.UpdatedReplicas == 2 && st.ReadyReplicas == 2 && st.CurrentRevision == st.UpdateRevision && st.UpdateRevision == revision(s), fmt.Sprintf("%+v", st)
		})
	}
	// Current 4 and one more.
	e.wantRevisions("web", "3:busybox:3 4:busybox:4")

	// With limit 0 and a partition holding web-0 at revision 4 while 5,
	// then 6, roll out to web-1, only the live revisions stay: 4
	// (current, web-0's) and the update revision (web-1's).
	e.updateSet("web", func(s *api.StatefulSet) {
		s.Spec.UpdateStrategy.RollingUpdate.Partition = &one
		s.Spec.RevisionHistoryLimit = new(int32)
		s.Spec.Template.Spec.Containers[0].Image = "busybox:5"
	})
	e.wantRevisions("web", "4:busybox:4 5:busybox:5")
	e.updateSet("web", func(s *api.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "busybox:6" })
	e.eventually("web-1 at 6", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "web-1")
		if err != nil {
			return false, err.Error()
		}
		return p.Spec.Containers[0].Image == "busybox:6" && p.DeletionTimestamp == nil, p.Spec.Containers[0].Image
	})
	e.wantRevisions("web", "4:busybox:4 6:busybox:6")
}

// TestRevisionNameTaken: a revision of the update revision's name that
// holds another template is a hash collision (the set's collisionCount
// goes up and its revision takes the next name); an orphan one holding
// the set's template is adopted.
func TestRevisionNameTaken(t *testing.T) {
	e := newEnv(t, "n1")
	e.startNodes(true, "n1")
	revs := client.For[*api.ControllerRevision](e.reg, "default")
	orphan := func(s *api.StatefulSet, image string) string {
		t.Helper()
		api.Default(s) // as stored: the hash is of the defaulted template
		tmpl := s.Spec.Template
		tmpl.Spec.Containers = []api.Container{tmpl.Spec.Containers[0]}
		tmpl.Spec.Containers[0].Image = image
		data, err := api.RevisionData(&tmpl)
		if err != nil {
			t.Fatal(err)
		}
		name := revision(s)
		if _, err := revs.Create(e.ctx, &api.ControllerRevision{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"app": s.Name}}, Data: data, Revision: 4}); err != nil {
			t.Fatal(err)
		}
		return name
	}

	taken := orphan(newSet("web", 1), "someone-else")
	if _, err := e.sets.Create(e.ctx, newSet("web", 1)); err != nil {
		t.Fatal(err)
	}
	e.eventually("web on a revision of another name", func() (bool, string) {
		s, _ := e.sets.Get(e.ctx, "web")
		p, err := e.pods.Get(e.ctx, "web-0")
		if err != nil {
			return false, err.Error()
		}
		st := s.Status
		return st.CollisionCount != nil && *st.CollisionCount == 1 && st.UpdateRevision == revision(s) && st.UpdateRevision != taken &&
			p.Labels[RevisionLabel] == st.UpdateRevision && p.Spec.Containers[0].Image == "busybox", fmt.Sprintf("%+v", st)
	})
	if r, err := revs.Get(e.ctx, taken); err != nil || len(r.OwnerReferences) != 0 {
		t.Errorf("the other revision: %+v, %v; want it left alone", r, err)
	}
	e.wantRevisions("web", "1:busybox")

	mine := orphan(newSet("db", 1), "busybox")
	created, err := e.sets.Create(e.ctx, newSet("db", 1))
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("orphan revision adopted", func() (bool, string) {
		r, err := revs.Get(e.ctx, mine)
		if err != nil {
			return false, err.Error()
		}
		ref := api.ControllerOf(&r.ObjectMeta)
		return ref != nil && ref.UID == created.UID, fmt.Sprintf("%+v", r.OwnerReferences)
	})
	e.wantRevisions("db", "1:busybox")
}
