package main

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/build/remote"
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

func TestGCKeep(t *testing.T) {
	app := api.AppImageRepository + "/shop@sha256:" + strings.Repeat("a", 64)
	imported := map[string]bool{"skiff.test/busybox:latest": true}
	for _, tc := range []struct {
		ref    string
		server bool
		want   bool
	}{
		{"skiff.test/busybox:latest", false, true},
		{"skiff.test/busybox:latest", true, true},
		{app, true, true},   // the server's copy, which the nodes fetch
		{app, false, false}, // a joined node's copy goes when unused
		{"docker.io/library/nginx:1", true, false},
		{"skiff.local/appsx/shop:1", true, false},
	} {
		if got := gcKeep(imported, tc.server)(tc.ref); got != tc.want {
			t.Errorf("gcKeep(server %v)(%s) = %v, want %v", tc.server, tc.ref, got, tc.want)
		}
	}
}

func TestCheckRemoteResult(t *testing.T) {
	node := &api.Node{ObjectMeta: api.ObjectMeta{Name: "pi-2", Labels: map[string]string{"kubernetes.io/arch": "arm64"}}}
	d := "sha256:" + strings.Repeat("c", 64)
	good := remote.Result{Image: "skiff.local/apps/shop@" + d, Digest: d, Arch: "arm64"}
	for _, tc := range []struct {
		name string
		edit func(*remote.Result)
		want string
	}{
		{"as asked", func(*remote.Result) {}, ""},
		{"another app's repository", func(r *remote.Result) { r.Image = "skiff.local/apps/other@" + d }, "not skiff.local/apps/shop@"},
		{"a tag", func(r *remote.Result) { r.Image = "skiff.local/apps/shop:latest" }, "not skiff.local/apps/shop@"},
		{"a bad digest", func(r *remote.Result) { r.Digest = "sha256:xyz" }, "bad digest"},
		{"another architecture", func(r *remote.Result) { r.Arch = "amd64" }, `"arm64" node`},
	} {
		res := good
		tc.edit(&res)
		err := checkRemoteResult("skiff.local/apps/shop:shop-b1", node, res)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errdefs.IsUnavailable(err)):
			t.Errorf("%s: err %v, want an unavailable one with %q", tc.name, err, tc.want)
		}
	}
}
