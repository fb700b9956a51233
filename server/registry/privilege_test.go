package registry

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// TestPrivilegeNeedsAnAdmin: a privileged pod, or one adding
// CAP_NET_ADMIN, or a workload template that does, is refused to a
// caller outside the admins group (403 naming the field), allowed to an
// admin and to the server's own controllers; an update that keeps an
// admin's privilege is allowed, one that brings it in is not.
func TestPrivilegeNeedsAnAdmin(t *testing.T) {
	r, _ := newRegistry(t)
	node := auth.WithIdentity(ctx, &auth.Identity{Name: "system:node:n1", Groups: []string{auth.GroupNodes}})
	admin := auth.WithIdentity(ctx, &auth.Identity{Name: "admin", Groups: []string{auth.GroupAdmins}})
	yes := true
	pod := func(name string, sc *api.SecurityContext) *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox", SecurityContext: sc}}}}
	}
	privileged := &api.SecurityContext{Privileged: &yes}
	netAdmin := &api.SecurityContext{Capabilities: &api.Capabilities{Add: []api.Capability{"NET_ADMIN"}}}

	for _, sc := range []*api.SecurityContext{privileged, netAdmin} {
		_, err := r.Create(node, "pods", "default", pod("p", sc))
		if !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "spec: only members of the "+auth.GroupAdmins+" group") {
			t.Errorf("a node creating %+v: %v, want Forbidden naming the rule", sc, err)
		}
	}
	dep := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "d", Namespace: "default"},
		Spec: api.DeploymentSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: pod("", privileged).Spec}}}
	if _, err := r.Create(node, "deployments", "default", dep); !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "spec.template.spec") {
		t.Errorf("a node creating a privileged deployment: %v, want Forbidden naming spec.template.spec", err)
	}
	if _, err := r.Create(node, "pods", "default", pod("plain", nil)); err != nil {
		t.Errorf("a node creating a plain pod: %v", err)
	}
	got, err := r.Create(admin, "pods", "default", pod("p", privileged))
	if err != nil {
		t.Fatalf("an admin creating a privileged pod: %v", err)
	}
	if _, err := r.Create(ctx, "pods", "default", pod("p2", privileged)); err != nil {
		t.Errorf("the server's own caller creating a privileged pod: %v", err)
	}
	// The node edits the admin's pod (a label): allowed.
	p := got.(*api.Pod)
	p.Labels = map[string]string{"seen": "yes"}
	if _, err := r.Update(node, "pods", "default", p, ""); err != nil {
		t.Errorf("a node updating an admin's privileged pod: %v", err)
	}
	// A deployment made plain by an admin, made privileged by a node:
	// refused.
	dep.Spec.Template.Spec = pod("", nil).Spec
	d, err := r.Create(admin, "deployments", "default", dep)
	if err != nil {
		t.Fatal(err)
	}
	dd := d.(*api.Deployment)
	dd.Spec.Template.Spec.Containers[0].SecurityContext = netAdmin
	if _, err := r.Update(node, "deployments", "default", dd, ""); !errdefs.IsForbidden(err) {
		t.Errorf("a node adding NET_ADMIN to a deployment: %v, want Forbidden", err)
	}
}
