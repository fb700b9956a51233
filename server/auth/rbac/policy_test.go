package rbac

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// The policy the tests check: the built-in roles and binding, and a few
// custom roles bound to a few people.
func testPolicy() *Policy {
	roles := append(api.BuiltInRoles(),
		&api.Role{ObjectMeta: api.ObjectMeta{Name: "web-deployer"}, Rules: []api.PolicyRule{
			{Verbs: []string{"update", "patch", "get"}, Resources: []string{"deployments"}, ResourceNames: []string{"web"}},
			{Verbs: []string{"create"}, Resources: []string{"pods/exec"}, ResourceNames: []string{"web-0"}},
			{Verbs: []string{"list", "create"}, Resources: []string{"configmaps"}, ResourceNames: []string{"web"}},
		}},
		// Two rules on one key: the one without names wins.
		&api.Role{ObjectMeta: api.ObjectMeta{Name: "merged"}, Rules: []api.PolicyRule{
			{Verbs: []string{"get"}, Resources: []string{"services"}, ResourceNames: []string{"a"}},
			{Verbs: []string{"get"}, Resources: []string{"services"}},
			{Verbs: []string{"delete"}, Resources: []string{"services"}, ResourceNames: []string{"a"}},
			{Verbs: []string{"delete"}, Resources: []string{"services"}, ResourceNames: []string{"b"}},
		}},
		&api.Role{ObjectMeta: api.ObjectMeta{Name: "read-everything"}, Rules: []api.PolicyRule{
			{Verbs: []string{"get", "list", "watch"}, Resources: []string{"*"}},
		}},
		&api.Role{ObjectMeta: api.ObjectMeta{Name: "node-admin"}, Rules: []api.PolicyRule{
			{Verbs: []string{"*"}, Resources: []string{"nodes", "pods"}},
		}},
	)
	bindings := append(api.BuiltInRoleBindings(),
		binding("viewers", api.RoleViewer, nil, api.Subject{Kind: api.SubjectUser, Name: "vera"}),
		binding("team-a-devs", api.RoleDeveloper, []string{"team-a"}, api.Subject{Kind: api.SubjectGroup, Name: "oidc:team-a"}),
		binding("dana", api.RoleDeveloper, []string{"team-b", "team-c"}, api.Subject{Kind: api.SubjectUser, Name: "dana"}),
		binding("wes", "web-deployer", nil, api.Subject{Kind: api.SubjectUser, Name: "wes"}),
		binding("molly", "merged", nil, api.Subject{Kind: api.SubjectUser, Name: "molly"}),
		binding("nia", api.RoleAdmin, []string{"team-a"}, api.Subject{Kind: api.SubjectUser, Name: "nia"}),
		binding("rita", "read-everything", []string{"team-a"}, api.Subject{Kind: api.SubjectUser, Name: "rita"}),
		binding("noah", "node-admin", []string{"team-a"}, api.Subject{Kind: api.SubjectUser, Name: "noah"}),
		binding("ghost", "no-such-role", nil, api.Subject{Kind: api.SubjectUser, Name: "gus"}),
		// A group and a user of the same name are different subjects.
		binding("group-bob", api.RoleAdmin, nil, api.Subject{Kind: api.SubjectGroup, Name: "bob"}),
	)
	return New(roles, bindings)
}

func binding(name, role string, namespaces []string, subjects ...api.Subject) *api.RoleBinding {
	return &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: name}, Role: role, Namespaces: namespaces, Subjects: subjects}
}

func user(name string, groups ...string) *auth.Identity {
	return &auth.Identity{Name: name, Groups: groups}
}

// Attributes, shortly.
func ns(verb, resource, namespace, name string) auth.Attributes {
	return auth.Attributes{Verb: verb, Resource: resource, Namespace: namespace, Name: name, Namespaced: true}
}

func cluster(verb, resource, name string) auth.Attributes {
	return auth.Attributes{Verb: verb, Resource: resource, Name: name}
}

type authzCase struct {
	name string
	id   *auth.Identity
	a    auth.Attributes
	// want is "" for allowed, else a part of the denial's message.
	want string
}

func runAuthzCases(t *testing.T, p *Policy, tests []authzCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Authorize(tt.id, tt.a)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Authorize(%s: %s) = %v, want allowed", tt.id.Name, tt.a, err)
			case tt.want != "" && err == nil:
				t.Errorf("Authorize(%s: %s) allowed, want refused with %q", tt.id.Name, tt.a, tt.want)
			case tt.want != "" && !errors.Is(err, errdefs.ErrForbidden):
				t.Errorf("Authorize(%s: %s) = %v, want class forbidden", tt.id.Name, tt.a, err)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Authorize(%s: %s) = %q, want it to say %q", tt.id.Name, tt.a, err, tt.want)
			}
		})
	}
}

func TestAdmins(t *testing.T) {
	admin := user("root", api.GroupAdmins)
	empty := New(nil, nil)
	for _, p := range []*Policy{testPolicy(), empty, nil} {
		runAuthzCases(t, p, []authzCase{
			{"delete a node", admin, cluster("delete", "nodes", "pi-1"), ""},
			{"list secrets everywhere", admin, ns("list", "secrets", "", ""), ""},
			{"privileged pod", admin, ns("create", "pods/privileged", "prod", ""), ""},
			{"audit", admin, cluster("get", "audit", ""), ""},
			{"a verb no role knows", admin, cluster("frobnicate", "gizmos", ""), ""},
		})
	}
	runAuthzCases(t, empty, []authzCase{
		{"no bindings, no admin", user("bob"), ns("get", "pods", "default", "web"), `user "bob" may not get pods web in namespace default: no role bound to bob or their groups allows it`},
	})
	if err := (*Policy)(nil).Authorize(user("bob"), cluster("get", "nodes", "")); !errdefs.IsForbidden(err) {
		t.Errorf("nil policy, non-admin: %v, want forbidden", err)
	}
	if err := testPolicy().Authorize(nil, cluster("get", "nodes", "")); !errdefs.IsForbidden(err) {
		t.Errorf("nil identity: %v, want forbidden", err)
	}
}

func TestBuiltInRolesAuthorize(t *testing.T) {
	vera := user("vera")
	dev := user("dev", "oidc:team-a")
	runAuthzCases(t, testPolicy(), []authzCase{
		// The viewer reads all but secrets, everywhere, and writes nothing.
		{"viewer gets a pod", vera, ns("get", "pods", "team-a", "web-0"), ""},
		{"viewer lists pods in all namespaces", vera, ns("list", "pods", "", ""), ""},
		{"viewer watches deployments", vera, ns("watch", "deployments", "team-b", ""), ""},
		{"viewer reads nodes", vera, cluster("list", "nodes", ""), ""},
		{"viewer reads roles", vera, cluster("get", "roles", "admin"), ""},
		{"viewer reads pod logs", vera, ns("get", "pods/log", "team-a", "web-0"), ""},
		{"viewer reads apps", vera, ns("get", "apps", "team-a", "web"), ""},
		{"viewer gets a secret", vera, ns("get", "secrets", "team-a", "db"), `user "vera" may not get secrets db in namespace team-a: no role bound to vera or their groups allows it`},
		{"viewer lists secrets", vera, ns("list", "secrets", "team-a", ""), "may not list secrets"},
		{"viewer creates a deployment", vera, ns("create", "deployments", "team-a", ""), "may not create deployments in namespace team-a"},
		{"viewer creates a namespace", vera, cluster("create", "namespaces", ""), "may not create namespaces"},
		{"viewer deletes a pod", vera, ns("delete", "pods", "team-a", "web-0"), "may not delete pods web-0"},
		{"viewer execs", vera, ns("create", "pods/exec", "team-a", "web-0"), "may not create pods/exec web-0"},
		{"viewer port-forwards", vera, ns("create", "pods/portforward", "team-a", "web-0"), "may not"},
		{"viewer pushes", vera, ns("push", "apps", "team-a", "web"), "may not push apps web"},
		{"viewer reads audit", vera, cluster("get", "audit", ""), "may not"},

		// The developer bound to team-a (through a group).
		{"developer creates a deployment in team-a", dev, ns("create", "deployments", "team-a", ""), ""},
		{"developer deletes a secret in team-a", dev, ns("delete", "secrets", "team-a", "db"), ""},
		{"developer execs in team-a", dev, ns("create", "pods/exec", "team-a", "web-0"), ""},
		{"developer port-forwards in team-a", dev, ns("create", "pods/portforward", "team-a", "web-0"), ""},
		{"developer reads logs in team-a", dev, ns("get", "pods/log", "team-a", "web-0"), ""},
		{"developer pushes in team-a", dev, ns("push", "apps", "team-a", "web"), ""},
		{"developer watches pods in team-a", dev, ns("watch", "pods", "team-a", ""), ""},
		{"developer creates a deployment in team-b", dev, ns("create", "deployments", "team-b", ""), `user "dev" may not create deployments in namespace team-b: dev's roles allow it only in namespace team-a`},
		{"developer reads pods in team-b", dev, ns("get", "pods", "team-b", "x"), "only in namespace team-a"},
		{"developer lists pods in all namespaces", dev, ns("list", "pods", "", ""), `user "dev" may not list pods in all namespaces: dev's roles allow it only in namespace team-a; ask for one namespace (-n team-a)`},
		{"developer watches events in all namespaces", dev, ns("watch", "events", "", ""), "in all namespaces"},
		{"developer reads nodes", dev, cluster("get", "nodes", "pi-1"), ""},
		{"developer lists nodes", dev, cluster("list", "nodes", ""), ""},
		{"developer watches priority classes", dev, cluster("watch", "priorityclasses", ""), ""},
		{"developer lists namespaces", dev, cluster("list", "namespaces", ""), ""},
		{"developer updates a node", dev, cluster("update", "nodes", "pi-1"), `user "dev" may not update nodes pi-1: no role bound to dev or their groups allows it`},
		{"developer deletes its namespace", dev, cluster("delete", "namespaces", "team-a"), "may not delete namespaces team-a"},
		{"developer creates a privileged pod", dev, ns("create", "pods/privileged", "team-a", ""), "may not create pods/privileged"},
		{"developer reads users", dev, cluster("list", "users", ""), "may not list users"},
		{"developer binds a role", dev, cluster("create", "rolebindings", ""), "may not create rolebindings"},
		{"developer without the group", user("dev"), ns("get", "pods", "team-a", "web-0"), "no role bound to dev"},

		// A developer bound in two namespaces.
		{"dana in team-c", user("dana"), ns("update", "configmaps", "team-c", "web"), ""},
		{"dana in team-a", user("dana"), ns("update", "configmaps", "team-a", "web"), "only in namespaces team-b, team-c"},
		// Both of dana's own bindings and a group's apply together.
		{"dana in team-a through the group", user("dana", "oidc:team-a"), ns("update", "configmaps", "team-a", "web"), ""},
	})
}

func TestNamespacedBindings(t *testing.T) {
	nia := user("nia")   // admin, bound in team-a
	rita := user("rita") // get/list/watch on "*", bound in team-a
	noah := user("noah") // "*" on nodes and pods, bound in team-a
	runAuthzCases(t, testPolicy(), []authzCase{
		{"anything namespaced in the namespace", nia, ns("delete", "secrets", "team-a", "db"), ""},
		{"not in another", nia, ns("delete", "secrets", "team-b", "db"), "only in namespace team-a"},
		{"get the namespace itself", nia, cluster("get", "namespaces", "team-a"), ""},
		{"not update it", nia, cluster("update", "namespaces", "team-a"), "bound only in namespace team-a"},
		{"not delete it", nia, cluster("delete", "namespaces", "team-a"), "may not delete namespaces team-a"},
		{"not get another namespace", nia, cluster("get", "namespaces", "team-b"), "may not get namespaces team-b"},
		{"not list namespaces through *", nia, cluster("list", "namespaces", ""), "may not list namespaces"},
		{"not read nodes through *", nia, cluster("get", "nodes", "pi-1"), "may not get nodes pi-1"},
		{"not the pseudo-resources through *", nia, cluster("get", "audit", ""), "may not get audit"},
		{"not list across namespaces", nia, ns("list", "pods", "", ""), "(-n team-a)"},

		{"read in the namespace", rita, ns("list", "secrets", "team-a", ""), ""},
		{"get the namespace without a rule for it", rita, cluster("get", "namespaces", "team-a"), ""},
		{"not read nodes through *", rita, cluster("get", "nodes", "pi-1"), "may not get nodes"},

		{"read nodes named explicitly", noah, cluster("list", "nodes", ""), ""},
		{"watch them", noah, cluster("watch", "nodes", ""), ""},
		{"not write them, though the rule says *", noah, cluster("patch", "nodes", "pi-1"), "grants no more on cluster-scoped resources than get, list and watch"},
		{"write pods in the namespace", noah, ns("delete", "pods", "team-a", "web-0"), ""},
		{"a binding to a missing role grants nothing", user("gus"), ns("get", "pods", "team-a", "x"), "no role bound to gus"},
		{"a user is not a group of the same name", user("bob"), ns("get", "pods", "team-a", "x"), "no role bound to bob"},
		{"a group is not a user of the same name", user("x", "vera"), ns("get", "pods", "team-a", "y"), "no role bound to x"},
		{"the group bob is admin", user("x", "bob"), cluster("delete", "nodes", "pi-1"), ""},
	})
}

func TestResourceNames(t *testing.T) {
	wes := user("wes")
	molly := user("molly")
	runAuthzCases(t, testPolicy(), []authzCase{
		{"update the named deployment", wes, ns("update", "deployments", "prod", "web"), ""},
		{"get it", wes, ns("get", "deployments", "prod", "web"), ""},
		{"not another", wes, ns("update", "deployments", "prod", "api"), "may not update deployments api in namespace prod"},
		{"not the collection", wes, ns("list", "deployments", "prod", ""), "may not list deployments"},
		{"no list even if the caller names one", wes, ns("list", "configmaps", "prod", "web"), "may not list configmaps"},
		{"no create even if the caller names one", wes, ns("create", "configmaps", "prod", "web"), "may not create configmaps web"},
		{"a named subresource create", wes, ns("create", "pods/exec", "prod", "web-0"), ""},
		{"not into another pod", wes, ns("create", "pods/exec", "prod", "web-1"), "may not create pods/exec web-1"},
		{"not without a name", wes, ns("create", "pods/exec", "prod", ""), "may not"},
		{"a rule without names opens the key", molly, ns("get", "services", "x", "z"), ""},
		{"names add up: a", molly, ns("delete", "services", "x", "a"), ""},
		{"names add up: b", molly, ns("delete", "services", "x", "b"), ""},
		{"names add up: not c", molly, ns("delete", "services", "x", "c"), "may not delete services c"},
	})
}

func TestScope(t *testing.T) {
	scoped := func(id *auth.Identity, role string, namespaces ...string) *auth.Identity {
		id.Scope = &auth.Scope{Role: role, Namespaces: namespaces}
		return id
	}
	runAuthzCases(t, testPolicy(), []authzCase{
		{"viewer scope reads", scoped(user("dev", "oidc:team-a"), api.RoleViewer), ns("get", "pods", "team-a", "web-0"), ""},
		{"viewer scope refuses a write the user may do", scoped(user("dev", "oidc:team-a"), api.RoleViewer), ns("create", "deployments", "team-a", ""),
			`user "dev" may not create deployments in namespace team-a: the API token's scope (role viewer everywhere) does not allow it, though the user may`},
		{"admin narrowed to developer in team-a", scoped(user("root", api.GroupAdmins), api.RoleDeveloper, "team-a"), ns("create", "deployments", "team-a", ""), ""},
		{"not in team-b", scoped(user("root", api.GroupAdmins), api.RoleDeveloper, "team-a"), ns("create", "deployments", "team-b", ""),
			"the API token's scope (role developer in namespace team-a) does not allow it"},
		{"not across namespaces", scoped(user("root", api.GroupAdmins), api.RoleDeveloper, "team-a"), ns("list", "pods", "", ""), "scope"},
		{"not writing nodes", scoped(user("root", api.GroupAdmins), api.RoleDeveloper, "team-a"), cluster("update", "nodes", "pi-1"), "scope"},
		{"reading nodes", scoped(user("root", api.GroupAdmins), api.RoleDeveloper, "team-a"), cluster("get", "nodes", "pi-1"), ""},
		{"its namespace object", scoped(user("root", api.GroupAdmins), api.RoleViewer, "team-a", "team-b"), cluster("get", "namespaces", "team-b"), ""},
		{"a scope never widens", scoped(user("vera"), api.RoleAdmin), ns("create", "deployments", "team-a", ""), "no role bound to vera"},
		{"a scope within a namespaced binding", scoped(user("dev", "oidc:team-a"), api.RoleAdmin, "team-a", "team-b"), ns("create", "deployments", "team-b", ""), "only in namespace team-a"},
		{"a missing role allows nothing", scoped(user("root", api.GroupAdmins), "gone"), ns("get", "pods", "team-a", "web-0"),
			`the API token's scope names role "gone", which does not exist`},
		{"scope names with resource names", scoped(user("root", api.GroupAdmins), "web-deployer"), ns("patch", "deployments", "prod", "web"), ""},
		{"and refuses others", scoped(user("root", api.GroupAdmins), "web-deployer"), ns("patch", "deployments", "prod", "api"), "scope"},
	})
}

func TestRoles(t *testing.T) {
	p := testPolicy()
	got := p.Roles(user("dana", "oidc:team-a", "skiff:admins"))
	want := []Grant{
		{Role: api.RoleAdmin, Binding: "admins", Via: api.Subject{Kind: api.SubjectGroup, Name: api.GroupAdmins}},
		{Role: api.RoleDeveloper, Binding: "dana", Via: api.Subject{Kind: api.SubjectUser, Name: "dana"}, Namespaces: []string{"team-b", "team-c"}},
		{Role: api.RoleDeveloper, Binding: "team-a-devs", Via: api.Subject{Kind: api.SubjectGroup, Name: "oidc:team-a"}, Namespaces: []string{"team-a"}},
	}
	if !slices.EqualFunc(got, want, func(x, y Grant) bool {
		return x.Role == y.Role && x.Binding == y.Binding && x.Via == y.Via && slices.Equal(x.Namespaces, y.Namespaces)
	}) {
		t.Errorf("Roles = %+v\nwant    %+v", got, want)
	}
	if got := p.Roles(user("gus")); len(got) != 0 {
		t.Errorf("Roles(gus), bound to a missing role = %+v, want none", got)
	}
	// What Roles returns is the caller's to change.
	got[1].Namespaces[0] = "changed"
	if p.Roles(user("dana"))[0].Namespaces[0] != "team-b" {
		t.Error("Roles shares its namespaces with the policy")
	}
}

func TestNewKeepsNoReference(t *testing.T) {
	roles := []*api.Role{{ObjectMeta: api.ObjectMeta{Name: "r"}, Rules: []api.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}}}}}
	bindings := []*api.RoleBinding{binding("b", "r", []string{"team-a"}, api.Subject{Kind: api.SubjectUser, Name: "ada"})}
	p := New(roles, bindings)
	roles[0].Rules[0].Verbs[0] = "delete"
	bindings[0].Namespaces[0] = "team-b"
	bindings[0].Subjects[0].Name = "eve"
	if err := p.Authorize(user("ada"), ns("get", "pods", "team-a", "x")); err != nil {
		t.Errorf("after the inputs changed: %v, want the policy as built", err)
	}
	if err := p.Authorize(user("eve"), ns("delete", "pods", "team-b", "x")); err == nil {
		t.Error("after the inputs changed the policy followed them")
	}
}

// TestLongNamespaceList covers a binding of many namespaces, which is
// looked up in a map.
func TestLongNamespaceList(t *testing.T) {
	var many []string
	for i := range 20 {
		many = append(many, "ns-"+string(rune('a'+i)))
	}
	p := New(api.BuiltInRoles(), []*api.RoleBinding{binding("many", api.RoleDeveloper, many, api.Subject{Kind: api.SubjectUser, Name: "ada"})})
	runAuthzCases(t, p, []authzCase{
		{"first", user("ada"), ns("create", "pods", "ns-a", ""), ""},
		{"last", user("ada"), ns("create", "pods", "ns-t", ""), ""},
		{"not listed", user("ada"), ns("create", "pods", "ns-z", ""), "only in namespaces ns-a"},
		{"its namespace", user("ada"), cluster("get", "namespaces", "ns-q"), ""},
	})
}

// TestAllowedAgreesWithAuthorize: the yes-or-no answer is Authorize's.
func TestAllowedAgreesWithAuthorize(t *testing.T) {
	p := New(api.BuiltInRoles(), []*api.RoleBinding{
		{ObjectMeta: api.ObjectMeta{Name: "d"}, Role: api.RoleDeveloper, Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "dev"}}, Namespaces: []string{"team-a"}},
		{ObjectMeta: api.ObjectMeta{Name: "r"}, Role: api.RoleAdmin, Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "root"}}},
	})
	ids := []*auth.Identity{
		{Name: "dev"}, {Name: "root"}, {Name: "nobody"}, {Name: "a", Groups: []string{api.GroupAdmins}},
		{Name: "root", Scope: &auth.Scope{Role: api.RoleViewer, Namespaces: []string{"team-a"}}},
		{Name: "dev", Scope: &auth.Scope{Role: "missing"}},
	}
	attrs := []auth.Attributes{
		auth.Everything,
		{Verb: "get", Resource: "pods", Namespace: "team-a", Name: "x", Namespaced: true},
		{Verb: "delete", Resource: "pods", Namespace: "team-b", Name: "x", Namespaced: true},
		{Verb: "list", Resource: "pods", Namespaced: true},
		{Verb: "update", Resource: "nodes", Name: "n"},
		{Verb: "get", Resource: "nodes", Name: "n"},
	}
	for _, id := range ids {
		for _, a := range attrs {
			if got, want := p.Allowed(id, a), p.Authorize(id, a) == nil; got != want {
				t.Errorf("%+v %s: Allowed %t, Authorize allows %t", id, a, got, want)
			}
		}
	}
}

// TestPrivilegedNeedsAnExplicitRule: "*" in a namespaced binding does not
// grant pods/privileged (root on a node); a rule naming it does, and an
// unrestricted admin binding does.
func TestPrivilegedNeedsAnExplicitRule(t *testing.T) {
	roles := append(api.BuiltInRoles(), &api.Role{ObjectMeta: api.ObjectMeta{Name: "priv"},
		Rules: []api.PolicyRule{{Verbs: []string{"create"}, Resources: []string{"pods/privileged"}}}})
	p := New(roles, []*api.RoleBinding{
		{ObjectMeta: api.ObjectMeta{Name: "a"}, Role: api.RoleAdmin, Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "nsadmin"}}, Namespaces: []string{"x"}},
		{ObjectMeta: api.ObjectMeta{Name: "b"}, Role: "priv", Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "ops"}}, Namespaces: []string{"x"}},
		{ObjectMeta: api.ObjectMeta{Name: "c"}, Role: api.RoleAdmin, Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "root"}}},
	})
	a := auth.Attributes{Verb: "create", Resource: "pods/privileged", Namespace: "x", Namespaced: true}
	for user, want := range map[string]bool{"nsadmin": false, "ops": true, "root": true} {
		if got := p.Authorize(&auth.Identity{Name: user}, a) == nil; got != want {
			t.Errorf("%s creating a privileged pod in x: allowed %t, want %t", user, got, want)
		}
	}
	if p.Authorize(&auth.Identity{Name: "nsadmin"}, auth.Attributes{Verb: "create", Resource: "pods", Namespace: "x", Namespaced: true}) != nil {
		t.Error("the namespace admin may still create ordinary pods")
	}
}
