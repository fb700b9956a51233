package accounts

import (
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

func TestBuiltInsPutBack(t *testing.T) {
	e := newEnv(t)
	roles := client.For[*api.Role](e.reg, "")
	bindings := client.For[*api.RoleBinding](e.reg, "")
	for _, r := range api.BuiltInRoles() {
		if _, err := roles.Get(e.ctx, r.Name); err != nil {
			t.Errorf("built-in role %s: %v", r.Name, err)
		}
	}
	if _, err := bindings.Get(e.ctx, "admins"); err != nil {
		t.Errorf("admins binding: %v", err)
	}
	want := api.BuiltInRoles()[2] // viewer
	v, _ := roles.Get(e.ctx, api.RoleViewer)
	v.Rules = []api.PolicyRule{{Verbs: []string{"*"}, Resources: []string{"*"}}}
	if _, err := roles.Update(e.ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := bindings.Delete(e.ctx, "admins", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A role of the users' own stays as they made it.
	mine := &api.Role{ObjectMeta: api.ObjectMeta{Name: "auditor"}, Rules: []api.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"audit"}}}}
	if _, err := roles.Create(e.ctx, mine); err != nil {
		t.Fatal(err)
	}
	eventually(t, "viewer put back", func() bool {
		v, err := roles.Get(e.ctx, api.RoleViewer)
		return err == nil && len(v.Rules) == len(want.Rules) && ruleEqual(v.Rules[0], want.Rules[0])
	})
	eventually(t, "admins binding put back", func() bool {
		b, err := bindings.Get(e.ctx, "admins")
		return err == nil && b.Role == api.RoleAdmin
	})
	if got, err := roles.Get(e.ctx, "auditor"); err != nil || len(got.Rules) != 1 {
		t.Errorf("own role = %+v, %v; want untouched", got, err)
	}
	// Once put back, they are left alone (no write loop).
	before, _ := roles.Get(e.ctx, api.RoleViewer)
	time.Sleep(200 * time.Millisecond)
	after, _ := roles.Get(e.ctx, api.RoleViewer)
	if before.ResourceVersion != after.ResourceVersion {
		t.Errorf("viewer rewritten while unchanged: %s → %s", before.ResourceVersion, after.ResourceVersion)
	}
}

func TestAuthorizeFollowsBindings(t *testing.T) {
	e := newEnv(t)
	carol := &auth.Identity{Name: "carol", Groups: []string{GroupAuthenticated}}
	get := auth.Attributes{Verb: "get", Resource: "pods", Namespace: "team-a", Name: "web", Namespaced: true}
	if err := e.a.Authorize(e.ctx, carol, get); !errdefs.IsForbidden(err) {
		t.Fatalf("unbound user: err = %v, want forbidden", err)
	}
	admin := &auth.Identity{Name: "admin", Groups: []string{api.GroupAdmins}}
	if err := e.a.Authorize(e.ctx, admin, get); err != nil {
		t.Errorf("admin: %v", err)
	}
	bindings := client.For[*api.RoleBinding](e.reg, "")
	b := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "carol-views-a"}, Role: api.RoleViewer,
		Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "carol"}}, Namespaces: []string{"team-a"}}
	if _, err := bindings.Create(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	eventually(t, "binding in force", func() bool { return e.a.Authorize(e.ctx, carol, get) == nil })
	other := get
	other.Namespace = "team-b"
	if err := e.a.Authorize(e.ctx, carol, other); !errdefs.IsForbidden(err) {
		t.Errorf("outside the binding's namespace: err = %v, want forbidden", err)
	}
	if _, err := bindings.Delete(e.ctx, "carol-views-a", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "binding gone", func() bool { return errdefs.IsForbidden(e.a.Authorize(e.ctx, carol, get)) })
}

func TestAPITokenScope(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	b := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "alice-dev"}, Role: api.RoleDeveloper,
		Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "alice"}}}
	if _, err := client.For[*api.RoleBinding](e.reg, "").Create(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	tok := e.signIn(t, "alice", goodPassword)
	alice := e.auth(t, tok.Access)
	create := auth.Attributes{Verb: "create", Resource: "deployments", Namespace: "team-a", Namespaced: true}
	eventually(t, "alice's binding in force", func() bool { return e.a.Authorize(e.ctx, alice, create) == nil })

	_, secret, err := e.a.CreateAPIToken(e.ctx, alice, TokenRequest{Name: "read team-a", Role: api.RoleViewer, Namespaces: []string{"team-a"}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.a.AuthenticateToken(e.ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at   auth.Attributes
		want bool
	}{
		{auth.Attributes{Verb: "get", Resource: "pods", Namespace: "team-a", Name: "web", Namespaced: true}, true},
		{create, false},
		{auth.Attributes{Verb: "get", Resource: "pods", Namespace: "team-b", Name: "web", Namespaced: true}, false},
	}
	for _, tt := range tests {
		err := e.a.Authorize(e.ctx, id, tt.at)
		if (err == nil) != tt.want || err != nil && !errdefs.IsForbidden(err) {
			t.Errorf("token: %s = %v, want allowed %v", tt.at, err, tt.want)
		}
	}
}
