package registry

import (
	"context"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// TestPrivilegeNeedsAnAdmin: a privileged pod, or one adding a
// capability beyond the baseline set, or a workload template that does,
// is refused to a caller outside the admins group (403 naming the field
// and what it asks for), allowed to an admin and to the server's own
// controllers; a baseline capability needs nobody; an update that keeps
// an admin's privilege is allowed, one that brings one in is not.
func TestPrivilegeNeedsAnAdmin(t *testing.T) {
	r, _ := newRegistry(t)
	node := auth.WithIdentity(ctx, &auth.Identity{Name: "system:node:n1", Groups: []string{auth.GroupNodes}})
	admin := auth.WithIdentity(ctx, &auth.Identity{Name: "admin", Groups: []string{auth.GroupAdmins}})
	yes := true
	pod := func(name string, sc *api.SecurityContext) *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox", SecurityContext: sc}}}}
	}
	adds := func(caps ...api.Capability) *api.SecurityContext {
		return &api.SecurityContext{Capabilities: &api.Capabilities{Add: caps}}
	}
	privileged := &api.SecurityContext{Privileged: &yes}
	netAdmin := adds("NET_ADMIN")

	refused := []struct {
		sc         *api.SecurityContext
		field, why string
	}{
		{privileged, "spec.containers[0].securityContext.privileged", "privileged"},
		{netAdmin, "spec.containers[0].securityContext.capabilities.add[0]", "NET_ADMIN"},
		{adds("CHOWN", "sys_module"), "spec.containers[0].securityContext.capabilities.add[1]", "SYS_MODULE"},
		{adds("CAP_DAC_READ_SEARCH"), "spec.containers[0].securityContext.capabilities.add[0]", "DAC_READ_SEARCH"},
		{adds("ALL"), "spec.containers[0].securityContext.capabilities.add[0]", "ALL"},
	}
	for _, tt := range refused {
		_, err := r.Create(node, "pods", "default", pod("p", tt.sc))
		want := tt.field + ": only admins (or a role allowing create on pods/privileged in namespace default)" +
			" may create or change pods that are privileged, add capabilities beyond the baseline set, use the node's network or mount its files (here: " + tt.why + "), and system:node:n1 may not"
		if !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("a node creating a pod asking for %s: %v, want Forbidden with %q", tt.why, err, want)
		}
	}
	if _, err := r.Create(node, "pods", "default", pod("baseline", adds("NET_BIND_SERVICE", "CHOWN", "SETUID"))); err != nil {
		t.Errorf("a node creating a pod adding baseline capabilities: %v", err)
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
	// An admin's NET_ADMIN deployment: a node may keep NET_ADMIN (even
	// spelt otherwise) but not trade it for privileged or SYS_MODULE.
	dd.Spec.Template.Spec.Containers[0].SecurityContext = netAdmin
	d, err = r.Update(admin, "deployments", "default", dd, "")
	if err != nil {
		t.Fatal(err)
	}
	dd = d.(*api.Deployment)
	dd.Labels = map[string]string{"touched": "by-node"}
	if d, err = r.Update(node, "deployments", "default", dd, ""); err != nil {
		t.Fatalf("a node relabelling an admin's NET_ADMIN deployment, its pod spec untouched: %v", err)
	}
	for what, edit := range map[string]func(*api.PodSpec){
		"privileged":               func(p *api.PodSpec) { p.Containers[0].SecurityContext = privileged },
		"SYS_MODULE too":           func(p *api.PodSpec) { p.Containers[0].SecurityContext = adds("NET_ADMIN", "SYS_MODULE") },
		"NET_ADMIN spelt anew":     func(p *api.PodSpec) { p.Containers[0].SecurityContext = adds("cap_net_admin", "KILL") },
		"another image":            func(p *api.PodSpec) { p.Containers[0].Image = "evil" },
		"another container beside": func(p *api.PodSpec) { p.Containers = append(p.Containers, api.Container{Name: "x", Image: "busybox"}) },
	} {
		dd = api.Clone(d.(*api.Deployment))
		edit(&dd.Spec.Template.Spec)
		if _, err := r.Update(node, "deployments", "default", dd, ""); !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "spec.template.spec.containers[0].securityContext.") {
			t.Errorf("a node changing an admin's NET_ADMIN deployment (%s): %v, want Forbidden naming the field", what, err)
		}
	}
}

// TestHostAccessNeedsAnAdmin: the node's network or a directory of the
// node is as good as privileged.
func TestHostAccessNeedsAnAdmin(t *testing.T) {
	r, _ := newRegistry(t)
	node := auth.WithIdentity(ctx, &auth.Identity{Name: "system:node:n1", Groups: []string{auth.GroupNodes}})
	hostNet := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "hn", Namespace: "default"},
		Spec: api.PodSpec{HostNetwork: true, Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := r.Create(node, "pods", "default", hostNet); !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "spec.hostNetwork") {
		t.Errorf("a node creating a hostNetwork pod: %v, want Forbidden naming spec.hostNetwork", err)
	}
	hostPath := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "hp", Namespace: "default"},
		Spec: api.PodSpec{Volumes: []api.Volume{{Name: "root", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: "/"}}}},
			Containers: []api.Container{{Name: "c", Image: "busybox", VolumeMounts: []api.VolumeMount{{Name: "root", MountPath: "/host"}}}}}}
	if _, err := r.Create(node, "pods", "default", hostPath); !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "spec.volumes[0].hostPath") {
		t.Errorf("a node creating a pod with a hostPath of /: %v, want Forbidden naming spec.volumes[0].hostPath", err)
	}
}

// TestPrivilegeByRole: with an authorizer set, a role allowing create on
// pods/privileged in a namespace lets its holder make privileged pods
// there, and nowhere else.
func TestPrivilegeByRole(t *testing.T) {
	r, _ := newRegistry(t)
	r.SetAuthorizer(auth.AuthorizerFunc(func(_ context.Context, id *auth.Identity, a auth.Attributes) error {
		if id.Name == "ops" && a.Verb == "create" && a.Resource == "pods/privileged" && a.Namespace == "infra" {
			return nil
		}
		return errdefs.ErrForbidden
	}))
	for _, ns := range []string{"infra", "apps"} {
		if _, err := r.Create(ctx, "namespaces", "", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	ops := auth.WithIdentity(ctx, &auth.Identity{Name: "ops"})
	yes := true
	pod := func(ns string) *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: ns},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox", SecurityContext: &api.SecurityContext{Privileged: &yes}}}}}
	}
	if _, err := r.Create(ops, "pods", "infra", pod("infra")); err != nil {
		t.Errorf("a role allowing pods/privileged in infra: %v", err)
	}
	if _, err := r.Create(ops, "pods", "apps", pod("apps")); !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "namespace apps") {
		t.Errorf("the same role in apps: %v, want Forbidden naming the namespace", err)
	}
}

// TestSkiffSecretTypesAreTheServers: a Secret of one of skiff's own
// credential types is written only by the server and admins.
func TestSkiffSecretTypesAreTheServers(t *testing.T) {
	r, _ := newRegistry(t)
	dev := auth.WithIdentity(ctx, &auth.Identity{Name: "dev", Groups: []string{"skiff:authenticated"}})
	admin := auth.WithIdentity(ctx, &auth.Identity{Name: "admin", Groups: []string{auth.GroupAdmins}})
	forged := func() *api.Secret {
		return &api.Secret{ObjectMeta: api.ObjectMeta{Name: "session-abcdefghijklmnop", Namespace: "default"}, Type: api.SecretTypeSession,
			Data: map[string][]byte{"user": []byte("admin")}}
	}
	if _, err := r.Create(dev, "secrets", "default", forged()); !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "skiff's own credential type") {
		t.Errorf("a user creating a session Secret: %v, want Forbidden", err)
	}
	plain, err := r.Create(dev, "secrets", "default", &api.Secret{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"}, Data: map[string][]byte{"k": []byte("v")}})
	if err != nil {
		t.Fatalf("a user creating an Opaque Secret: %v", err)
	}
	s := plain.(*api.Secret)
	s.Type = api.SecretTypeAPIToken
	if _, err := r.Update(dev, "secrets", "default", s, ""); !errdefs.IsForbidden(err) && !errdefs.IsInvalid(err) {
		t.Errorf("a user turning a Secret into an API token: %v, want refused", err)
	}
	if _, err := r.Create(admin, "secrets", "default", forged()); err != nil {
		t.Errorf("an admin: %v", err)
	}
	if _, err := r.Create(ctx, "secrets", "default", func() *api.Secret { f := forged(); f.Name = "session-qrstuvwxyzabcdef"; return f }()); err != nil {
		t.Errorf("the server itself: %v", err)
	}
}
