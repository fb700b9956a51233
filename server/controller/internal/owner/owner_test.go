package owner

import (
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

type cache map[string]*api.ReplicaSet

func (c cache) Get(ns, name string) (*api.ReplicaSet, bool) {
	rs, ok := c[ns+"/"+name]
	return rs, ok
}

func TestResolve(t *testing.T) {
	web := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1"}}
	c := cache{"ns/web": web}
	for _, tc := range []struct {
		name string
		ref  *api.OwnerReference
		want *api.ReplicaSet
	}{
		{"no reference", nil, nil},
		{"the one cached", &api.OwnerReference{Kind: "ReplicaSet", Name: "web", UID: "u1"}, web},
		{"another kind", &api.OwnerReference{Kind: "Job", Name: "web", UID: "u1"}, nil},
		{"not cached", &api.OwnerReference{Kind: "ReplicaSet", Name: "api", UID: "u2"}, nil},
		{"a namesake", &api.OwnerReference{Kind: "ReplicaSet", Name: "web", UID: "u0"}, nil},
	} {
		if got := Resolve[*api.ReplicaSet](c, "ReplicaSet", "ns", tc.ref); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSplitKey(t *testing.T) {
	for _, tc := range []struct{ key, ns, name string }{
		{"ns/web", "ns", "web"},
		{"web", "web", ""},
		{"", "", ""},
	} {
		if ns, name := SplitKey(tc.key); ns != tc.ns || name != tc.name {
			t.Errorf("SplitKey(%q) = %q, %q; want %q, %q", tc.key, ns, name, tc.ns, tc.name)
		}
	}
}
