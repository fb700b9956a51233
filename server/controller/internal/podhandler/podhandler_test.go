package podhandler

import (
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/expectations"
)

// fakeOwners is an Owners of replica sets held in a map.
type fakeOwners map[string]*api.ReplicaSet

func (f fakeOwners) Get(ns, name string) (*api.ReplicaSet, bool) {
	rs, ok := f[ns+"/"+name]
	return rs, ok
}

func (f fakeOwners) ByIndex(_, ns string) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, rs := range f {
		if rs.Namespace == ns {
			out = append(out, rs)
		}
	}
	return out
}

func newHandler(changesOnly bool) (*Handler[*api.ReplicaSet], *client.Queue[string]) {
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1"}}
	rs.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	q := client.NewQueue[string](nil)
	return &Handler[*api.ReplicaSet]{
		Kind: "ReplicaSet", Owners: fakeOwners{"ns/web": rs}, ByNamespace: "namespace",
		Selector: func(rs *api.ReplicaSet) *api.LabelSelector { return rs.Spec.Selector },
		Queue:    q, Exp: expectations.New(time.Now),
		OrphanChangesOnly: changesOnly,
	}, q
}

func queued(q *client.Queue[string]) []string {
	var out []string
	for q.Len() > 0 {
		k, _ := q.Get()
		out = append(out, k)
		q.Done(k)
	}
	return out
}

func TestAddPodOwnedObservesCreation(t *testing.T) {
	h, q := newHandler(false)
	h.Exp.ExpectCreations("ns/web", 1)
	yes := true
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "ns", OwnerReferences: []api.OwnerReference{{Kind: "ReplicaSet", Name: "web", UID: "u1", Controller: &yes}}}}
	h.AddPod(p)
	if adds, _ := h.Exp.Pending("ns/web"); adds != 0 {
		t.Errorf("pending creates = %d, want 0", adds)
	}
	if got := queued(q); !slices.Equal(got, []string{"ns/web"}) {
		t.Errorf("queued %q, want [ns/web]", got)
	}
}

func TestUpdateOrphan(t *testing.T) {
	for _, tt := range []struct {
		changesOnly bool
		want        []string
	}{
		{false, []string{"ns/web"}}, // job: every update of an orphan
		{true, nil},                 // replica set: only on a change of labels
	} {
		h, q := newHandler(tt.changesOnly)
		old := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: "1", Labels: map[string]string{"app": "web"}}}
		cur := api.Clone(old)
		cur.ResourceVersion = "2"
		h.UpdatePod(old, cur)
		if got := queued(q); !slices.Equal(got, tt.want) {
			t.Errorf("OrphanChangesOnly %v: queued %q, want %q", tt.changesOnly, got, tt.want)
		}
	}
}
