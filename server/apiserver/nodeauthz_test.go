package apiserver

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

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
		&api.App{ObjectMeta: api.ObjectMeta{Name: "shop", Namespace: "default"}},
		&api.App{ObjectMeta: api.ObjectMeta{Name: "sleepy", Namespace: "default"}},
		&api.App{ObjectMeta: api.ObjectMeta{Name: "lately", Namespace: "default"}},
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
	sleepy := get("apps", "default", "sleepy").(*api.App)
	sleepy.Status.Idle = true
	if _, err := reg.Update(ctx, "apps", "default", sleepy, "status"); err != nil {
		t.Fatal(err)
	}
	lately := get("apps", "default", "lately").(*api.App)
	recent := api.Now()
	lately.Status.LastRequest = &recent
	if _, err := reg.Update(ctx, "apps", "default", lately, "status"); err != nil {
		t.Fatal(err)
	}
	app := func(name string, edit func(*api.App)) *api.App {
		a := get("apps", "default", name).(*api.App)
		edit(a)
		return a
	}
	now := api.Now()
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
		{"waking an idle app", http.MethodPut, "namespaces/default/apps/sleepy/status", app("sleepy", func(a *api.App) { a.Status.Idle, a.Status.LastRequest = false, &now }), true},
		{"an app's last request", http.MethodPut, "namespaces/default/apps/shop/status", app("shop", func(a *api.App) { a.Status.LastRequest = &now }), true},
		{"putting an app to sleep", http.MethodPut, "namespaces/default/apps/shop/status", app("shop", func(a *api.App) { a.Status.Idle = true }), false},
		{"an app's release", http.MethodPut, "namespaces/default/apps/shop/status", app("shop", func(a *api.App) { a.Status.Release = "shop-v9" }), false},
		{"an app's release, unconditionally", http.MethodPut, "namespaces/default/apps/shop/status", app("shop", func(a *api.App) { a.Status.Release, a.ResourceVersion = "shop-v9", "" }), false},
		{"an app's spec", http.MethodPut, "namespaces/default/apps/shop", app("shop", func(a *api.App) { a.Spec.Port = 1 }), false},
		{"an app's last request, unconditionally", http.MethodPut, "namespaces/default/apps/shop/status", app("shop", func(a *api.App) { a.Status.LastRequest, a.ResourceVersion = &now, "" }), false},
		{"an app's last request in the future", http.MethodPut, "namespaces/default/apps/shop/status", app("shop", func(a *api.App) { t := api.NewTime(time.Now().Add(time.Hour)); a.Status.LastRequest = &t }), false},
		{"an app's last request moved back", http.MethodPut, "namespaces/default/apps/lately/status", app("lately", func(a *api.App) { t := api.NewTime(time.Now().Add(-time.Hour)); a.Status.LastRequest = &t }), false},
		{"an app's last request cleared", http.MethodPut, "namespaces/default/apps/lately/status", app("lately", func(a *api.App) { a.Status.LastRequest = nil }), false},
		{"a stale write of an app's status (the store refuses it)", http.MethodPut, "namespaces/default/apps/shop/status", app("shop", func(a *api.App) { a.Status.Release, a.ResourceVersion = "x", "1" }), true},
		{"its own Node, another hostname", http.MethodPut, "nodes/n1", withLabel("kubernetes.io/hostname", "n2"), false},
		{"its own Node, its hostname", http.MethodPut, "nodes/n1", withLabel("kubernetes.io/hostname", "n1"), true},
		{"deleting an app", http.MethodDelete, "namespaces/default/apps/shop", nil, false},
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
