package owner

import (
	"slices"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

type fakeIndex map[string][]*api.Pod

func (f fakeIndex) ByIndex(_, uid string) []*api.Pod { return f[uid] }

func TestControllerIndex(t *testing.T) {
	yes := true
	pod := func(kind string, controller bool) *api.Pod {
		ref := api.OwnerReference{Kind: kind, Name: "o", UID: "u1"}
		if controller {
			ref.Controller = &yes
		}
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", OwnerReferences: []api.OwnerReference{ref}}}
	}
	tests := []struct {
		pod  *api.Pod
		want []string
	}{
		{pod("DaemonSet", true), []string{"u1"}},
		{pod("ReplicaSet", true), []string{"u1"}},
		{pod("ReplicaSet", false), nil},
		{&api.Pod{}, nil},
	}
	for _, tt := range tests {
		if got := ControllerIndex(tt.pod); !slices.Equal(got, tt.want) {
			t.Errorf("ControllerIndex(%+v) = %q, want %q", tt.pod.OwnerReferences, got, tt.want)
		}
	}
}

func TestControlled(t *testing.T) {
	a := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "a", Namespace: "ns"}}
	b := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "b", Namespace: "other"}}
	got := Controlled[*api.Pod](fakeIndex{"u1": {a, b}}, "ns", "u1")
	if len(got) != 1 || got[0] != a {
		t.Errorf("Controlled = %v, want only the pod in ns", got)
	}
}
