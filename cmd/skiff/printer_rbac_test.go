package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// TestPrintIdentityTables renders users, roles and role bindings as
// `skiff get` shows them.
func TestPrintIdentityTables(t *testing.T) {
	users := []api.Object{
		&api.User{ObjectMeta: api.ObjectMeta{Name: "ada", CreationTimestamp: ago(30 * 24 * time.Hour)},
			Spec: api.UserSpec{DisplayName: "Ada Lovelace", Email: "ada@example.com", Groups: []string{"team-a", "oidc:platform"}}},
		&api.User{ObjectMeta: api.ObjectMeta{Name: "bob", CreationTimestamp: ago(5 * time.Minute)},
			Spec: api.UserSpec{Disabled: true}},
	}
	var roles []api.Object
	for _, r := range api.BuiltInRoles() {
		r.CreationTimestamp = ago(400 * 24 * time.Hour)
		roles = append(roles, r)
	}
	roles = append(roles, &api.Role{ObjectMeta: api.ObjectMeta{Name: "deployer", CreationTimestamp: ago(3 * time.Hour)}})
	bindings := []api.Object{
		&api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "admins", CreationTimestamp: ago(400 * 24 * time.Hour)},
			Role: api.RoleAdmin, Subjects: []api.Subject{{Kind: api.SubjectGroup, Name: api.GroupAdmins}}},
		&api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "team-a-developers", CreationTimestamp: ago(2 * time.Hour)},
			Role: api.RoleDeveloper, Namespaces: []string{"team-a", "team-a-staging"},
			Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "ada"}, {Kind: api.SubjectGroup, Name: "oidc:team-a"}}},
		&api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "empty", CreationTimestamp: ago(time.Minute)}, Role: api.RoleViewer},
	}
	for _, tc := range []struct {
		name, kind string
		objs       []api.Object
	}{
		{"users", "users", users},
		{"roles", "roles", roles},
		{"rolebindings", "rolebindings", bindings},
	} {
		k, ok := api.LookupResource(tc.kind)
		if !ok {
			t.Fatalf("no kind %s", tc.kind)
		}
		var b bytes.Buffer
		table{kind: k, allNamespaces: true, now: now}.print(&b, tc.objs, true)
		golden(t, "table-"+tc.name, b.Bytes())
	}
}
