package main

import (
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

func TestPickBuilder(t *testing.T) {
	node := func(name string, ready api.ConditionStatus, deleted bool) *api.Node {
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
		if ready != "" {
			n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: ready}}
		}
		if deleted {
			now := api.Now()
			n.DeletionTimestamp = &now
		}
		return n
	}
	for _, tc := range []struct {
		name  string
		nodes []*api.Node
		want  string
	}{
		{"none labelled", nil, ""},
		{"the first ready by name", []*api.Node{node("pi-3", api.ConditionTrue, false), node("pi-2", api.ConditionTrue, false)}, "pi-2"},
		{"not ready ones are passed over", []*api.Node{node("pi-1", api.ConditionFalse, false), node("pi-2", api.ConditionUnknown, false), node("pi-3", api.ConditionTrue, false)}, "pi-3"},
		{"a node that never said", []*api.Node{node("pi-1", "", false)}, ""},
		{"a deleted one is passed over", []*api.Node{node("pi-1", api.ConditionTrue, true), node("pi-4", api.ConditionTrue, false)}, "pi-4"},
		{"none ready", []*api.Node{node("pi-1", api.ConditionFalse, false)}, ""},
	} {
		got := ""
		if n := pickBuilder(tc.nodes); n != nil {
			got = n.Name
		}
		if got != tc.want {
			t.Errorf("%s: picked %q, want %q", tc.name, got, tc.want)
		}
	}
}
