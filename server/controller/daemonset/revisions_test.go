package daemonset

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// revisionList describes ds's revisions, oldest first: "1:busybox 2:b2".
func (e *env) revisionList(ds string) string {
	e.t.Helper()
	rs, _, _, err := client.For[*api.ControllerRevision](e.reg, "default").List(e.ctx, api.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Revision < rs[j].Revision })
	var out []string
	for _, r := range rs {
		if ref := api.ControllerOf(&r.ObjectMeta); ref == nil || ref.Name != ds || ref.Kind != "DaemonSet" {
			continue
		}
		tmpl, err := r.Template()
		if err != nil {
			e.t.Fatalf("revision %s: %v", r.Name, err)
		}
		if r.Name != ds+"-"+r.Labels[RevisionLabel] {
			e.t.Errorf("revision %s labelled %s=%s, want %s-<that hash>", r.Name, RevisionLabel, r.Labels[RevisionLabel], ds)
		}
		out = append(out, fmt.Sprintf("%d:%s", r.Revision, tmpl.Spec.Containers[0].Image))
	}
	return strings.Join(out, " ")
}

func (e *env) wantRevisions(ds, want string) {
	e.t.Helper()
	e.eventually("revisions "+want, func() (bool, string) {
		got := e.revisionList(ds)
		return got == want, got
	})
}

// rolledOut waits until every pod of ds runs image.
func (e *env) rolledOut(image string) {
	e.t.Helper()
	e.eventually("rolled out "+image, func() (bool, string) {
		pods, _, _, err := e.pods.List(e.ctx, api.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		ok := len(pods) == 2
		for _, p := range pods {
			got = append(got, p.Spec.Containers[0].Image)
			ok = ok && p.Spec.Containers[0].Image == image && p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning
		}
		return ok, strings.Join(got, " ")
	})
}

// TestDaemonSetHistory: each template is a ControllerRevision <ds>-<hash>
// the daemon set controls, labelled with the pods' hash; going back to a
// template renumbers its revision; history beyond revisionHistoryLimit
// goes.
func TestDaemonSetHistory(t *testing.T) {
	e := newEnv(t, Config{})
	e.addNode("n1", nil)
	e.addNode("n2", nil)
	e.startNodes(0)
	ds := newDS("agent")
	two := int32(2)
	ds.Spec.RevisionHistoryLimit = &two
	created, err := e.dsets.Create(e.ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	e.rolledOut("busybox")
	e.wantRevisions("agent", "1:busybox")
	hash := templateHash(created)
	r, err := client.For[*api.ControllerRevision](e.reg, "default").Get(e.ctx, "agent-"+hash)
	if err != nil {
		t.Fatal(err)
	}
	if ref := api.ControllerOf(&r.ObjectMeta); ref == nil || ref.UID != created.UID || r.Labels["app"] != "agent" || r.Labels[RevisionLabel] != hash {
		t.Errorf("revision %s: controller %+v labels %v", r.Name, ref, r.Labels)
	}

	setImage := func(image string) {
		t.Helper()
		err := client.RetryOnConflict(e.ctx, func() error {
			ds, err := e.dsets.Get(e.ctx, "agent")
			if err != nil {
				return err
			}
			ds.Spec.Template.Spec.Containers[0].Image = image
			_, err = e.dsets.Update(e.ctx, ds)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		e.rolledOut(image)
	}
	setImage("busybox:2")
	e.wantRevisions("agent", "1:busybox 2:busybox:2")
	setImage("busybox")
	e.wantRevisions("agent", "2:busybox:2 3:busybox")
	setImage("busybox:4")
	setImage("busybox:5")
	// The current revision and the two before it.
	e.wantRevisions("agent", "3:busybox 4:busybox:4 5:busybox:5")
}
