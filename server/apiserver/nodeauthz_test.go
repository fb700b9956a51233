package apiserver

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// TestNodeMayWrite: each rule of a node's writes, allowed and refused,
// against a real registry.
func TestNodeMayWrite(t *testing.T) {
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, _ := registry.New(registry.Config{Store: st})
	ctx := context.Background()
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	for _, o := range []api.Object{
		&api.Node{ObjectMeta: api.ObjectMeta{Name: "n1", Labels: map[string]string{"node-role.kubernetes.io/edge": ""}}},
		&api.Node{ObjectMeta: api.ObjectMeta{Name: "n2"}},
		&api.Pod{ObjectMeta: api.ObjectMeta{Name: "mine", Namespace: "default"}, Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "busybox"}}}},
		&api.Pod{ObjectMeta: api.ObjectMeta{Name: "theirs", Namespace: "default"}, Spec: api.PodSpec{NodeName: "n2", Containers: []api.Container{{Name: "c", Image: "busybox"}}}},
	} {
		k, _ := api.KindOf(o)
		if _, err := reg.Create(ctx, k.Resource, o.GetObjectMeta().Namespace, o); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{backend: reg}
	get := func(resource, ns, name string) api.Object {
		o, err := reg.Get(ctx, resource, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	n1 := get("nodes", "", "n1").(*api.Node)
	tgt := func(path string) target {
		tt, err := parsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	withLabel := func(k, v string) *api.Node {
		n := api.Clone(n1)
		n.Labels[k] = v
		return n
	}
	dropRole := api.Clone(n1)
	delete(dropRole.Labels, "node-role.kubernetes.io/edge")
	for _, tt := range []struct {
		what   string
		method string
		path   string
		obj    api.Object
		ok     bool
	}{
		{"its own Node, own label", http.MethodPut, "nodes/n1", withLabel("kubernetes.io/arch", "arm64"), true},
		{"its own Node, an admin's label", http.MethodPut, "nodes/n1", withLabel("node-role.kubernetes.io/control-plane", ""), false},
		{"its own Node, dropping an admin's label", http.MethodPut, "nodes/n1", dropRole, false},
		{"its own status", http.MethodPut, "nodes/n1/status", n1, true},
		{"another Node", http.MethodPut, "nodes/n2", get("nodes", "", "n2"), false},
		{"patching its Node", http.MethodPatch, "nodes/n1", nil, false},
		{"deleting its Node", http.MethodDelete, "nodes/n1", nil, false},
		{"creating another Node", http.MethodPost, "nodes", &api.Node{ObjectMeta: api.ObjectMeta{Name: "n3"}}, false},
		{"its pod's status", http.MethodPut, "namespaces/default/pods/mine/status", nil, true},
		{"its pod's spec", http.MethodPut, "namespaces/default/pods/mine", get("pods", "default", "mine"), false},
		{"another node's pod's status", http.MethodPut, "namespaces/default/pods/theirs/status", nil, false},
		{"deleting its pod", http.MethodDelete, "namespaces/default/pods/mine", nil, true},
		{"deleting another node's pod", http.MethodDelete, "namespaces/default/pods/theirs", nil, false},
		{"creating a pod", http.MethodPost, "namespaces/default/pods", &api.Pod{ObjectMeta: api.ObjectMeta{Name: "x"}}, false},
		{"an event", http.MethodPost, "namespaces/default/events", &api.Event{ObjectMeta: api.ObjectMeta{Name: "e"}}, true},
		{"a config map", http.MethodPost, "namespaces/default/configmaps", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c"}}, false},
		{"a secret", http.MethodDelete, "namespaces/default/secrets/s", nil, false},
		{"a deployment", http.MethodPatch, "namespaces/default/deployments/d", nil, false},
	} {
		err := s.nodeMayWrite(ctx, "n1", tt.method, tgt(tt.path), tt.obj)
		if tt.ok && err != nil {
			t.Errorf("%s (%s %s): %v, want allowed", tt.what, tt.method, tt.path, err)
		}
		if !tt.ok && !errdefs.IsForbidden(err) {
			t.Errorf("%s (%s %s): %v, want Forbidden", tt.what, tt.method, tt.path, err)
		}
	}
	if err := s.nodeMayWrite(ctx, "", http.MethodPost, tgt("namespaces/default/events"), &api.Event{}); !errdefs.IsForbidden(err) {
		t.Errorf("a node certificate without a name: %v, want Forbidden", err)
	}
}
