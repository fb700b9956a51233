package api

import (
	"slices"
	"strings"
	"testing"
)

// The valid identity objects each case below breaks one rule of.

func testUser() *User {
	u := &User{
		ObjectMeta: ObjectMeta{Name: "ada"},
		Spec: UserSpec{
			DisplayName: "Ada Lovelace",
			Email:       "ada@example.com",
			Groups:      []string{"team-a", "oidc:platform"},
			Identities: []UserIdentity{
				{Issuer: "https://accounts.google.com", Subject: "10769150350006150715113082367"},
				{Issuer: "http://127.0.0.1:5556/dex", Subject: "ada"},
			},
		},
	}
	Default(u)
	return u
}

func testRole() *Role {
	r := &Role{
		ObjectMeta:  ObjectMeta{Name: "deployer"},
		Description: "Rolls out the web app.",
		Rules: []PolicyRule{
			{Verbs: []string{"get", "list", "watch"}, Resources: []string{"pods", "pods/log", "deployments/status", "events"}},
			{Verbs: []string{"update", "patch"}, Resources: []string{"deployments"}, ResourceNames: []string{"web", "web.v2"}},
			{Verbs: []string{"push"}, Resources: []string{"apps"}},
			{Verbs: []string{"*"}, Resources: []string{"apitokens", "sessions"}},
			{Verbs: []string{"get"}, Resources: []string{"audit", "users/status", "*"}},
			{Verbs: []string{"create"}, Resources: []string{"pods/exec", "pods/portforward", "pods/privileged"}},
		},
	}
	Default(r)
	return r
}

func testRoleBinding() *RoleBinding {
	b := &RoleBinding{
		ObjectMeta: ObjectMeta{Name: "team-a-developers"},
		Role:       RoleDeveloper,
		Subjects:   []Subject{{Kind: SubjectUser, Name: "ada"}, {Kind: SubjectGroup, Name: "oidc:team-a"}},
		Namespaces: []string{"team-a", "team-a-staging"},
	}
	Default(b)
	return b
}

func TestValidateIdentityKindsValid(t *testing.T) {
	objs := []Object{testUser(), testRole(), testRoleBinding()}
	for _, r := range BuiltInRoles() {
		objs = append(objs, r)
	}
	for _, b := range BuiltInRoleBindings() {
		objs = append(objs, b)
	}
	for _, obj := range objs {
		if errs := Validate(obj); len(errs) > 0 {
			t.Errorf("Validate(%T %s) = %v, want no errors", obj, obj.GetObjectMeta().Name, errs)
		}
	}
}

func TestValidateUser(t *testing.T) {
	user := func(f func(u *User)) Object { u := testUser(); f(u); return u }
	runValidationCases(t, []validationCase{
		{"bad name", user(func(u *User) { u.Name = "Ada Lovelace" }), []string{"metadata.name"}},
		{"in a namespace", user(func(u *User) { u.Namespace = "default" }), []string{"metadata.namespace"}},
		{"dotted name", user(func(u *User) { u.Name = "ada.lovelace" }), nil},
		{"no email", user(func(u *User) { u.Spec.Email = "" }), nil},
		{"email without @", user(func(u *User) { u.Spec.Email = "ada.example.com" }), []string{"spec.email"}},
		{"email with a display name", user(func(u *User) { u.Spec.Email = "Ada <ada@example.com>" }), []string{"spec.email"}},
		{"email in angle brackets", user(func(u *User) { u.Spec.Email = "<ada@example.com>" }), []string{"spec.email"}},
		{"email with a space", user(func(u *User) { u.Spec.Email = "ada @example.com" }), []string{"spec.email"}},
		{"display name too long", user(func(u *User) { u.Spec.DisplayName = strings.Repeat("a", 257) }), []string{"spec.displayName"}},
		{"empty group", user(func(u *User) { u.Spec.Groups[1] = "" }), []string{"spec.groups[1]"}},
		{"group with a space", user(func(u *User) { u.Spec.Groups[0] = "team a" }), []string{"spec.groups[0]"}},
		{"group too long", user(func(u *User) { u.Spec.Groups[0] = strings.Repeat("g", 254) }), []string{"spec.groups[0]"}},
		{"duplicate group", user(func(u *User) { u.Spec.Groups[1] = "team-a" }), []string{"spec.groups[1]"}},
		{"admins group", user(func(u *User) { u.Spec.Groups[1] = GroupAdmins }), nil},
		{"nodes group", user(func(u *User) { u.Spec.Groups[1] = GroupNodes }), []string{"spec.groups[1]"}},
		{"another skiff group", user(func(u *User) { u.Spec.Groups[0] = "skiff:apiserver" }), []string{"spec.groups[0]"}},
		{"identity without issuer", user(func(u *User) { u.Spec.Identities[0].Issuer = "" }), []string{"spec.identities[0].issuer"}},
		{"identity without subject", user(func(u *User) { u.Spec.Identities[1].Subject = "" }), []string{"spec.identities[1].subject"}},
		{"issuer over http", user(func(u *User) { u.Spec.Identities[0].Issuer = "http://accounts.google.com" }), []string{"spec.identities[0].issuer"}},
		{"issuer over http on localhost", user(func(u *User) { u.Spec.Identities[0].Issuer = "http://localhost:8080" }), nil},
		{"issuer over http on ::1", user(func(u *User) { u.Spec.Identities[0].Issuer = "http://[::1]:8080/" }), nil},
		{"issuer not a URL", user(func(u *User) { u.Spec.Identities[0].Issuer = "accounts.google.com" }), []string{"spec.identities[0].issuer"}},
		{"issuer with a query", user(func(u *User) { u.Spec.Identities[0].Issuer = "https://idp.example.com/?tenant=x" }), []string{"spec.identities[0].issuer"}},
		{"issuer with a user", user(func(u *User) { u.Spec.Identities[0].Issuer = "https://me@idp.example.com" }), []string{"spec.identities[0].issuer"}},
		{"issuer of another scheme", user(func(u *User) { u.Spec.Identities[0].Issuer = "ftp://idp.example.com" }), []string{"spec.identities[0].issuer"}},
		{"duplicate identity", user(func(u *User) { u.Spec.Identities[1] = u.Spec.Identities[0] }), []string{"spec.identities[1]"}},
		{"same subject at two issuers", user(func(u *User) { u.Spec.Identities[1].Subject = u.Spec.Identities[0].Subject }), nil},
	})
}

func TestValidateRole(t *testing.T) {
	role := func(f func(r *Role)) Object { r := testRole(); f(r); return r }
	runValidationCases(t, []validationCase{
		{"bad name", role(func(r *Role) { r.Name = "Deployer" }), []string{"metadata.name"}},
		{"in a namespace", role(func(r *Role) { r.Namespace = "default" }), []string{"metadata.namespace"}},
		{"no rules", role(func(r *Role) { r.Rules = nil }), nil},
		{"description too long", role(func(r *Role) { r.Description = strings.Repeat("d", 1025) }), []string{"description"}},
		{"no verbs", role(func(r *Role) { r.Rules[0].Verbs = nil }), []string{"rules[0].verbs"}},
		{"unknown verb", role(func(r *Role) { r.Rules[0].Verbs[1] = "read" }), []string{"rules[0].verbs[1]"}},
		{"verb in capitals", role(func(r *Role) { r.Rules[0].Verbs[0] = "GET" }), []string{"rules[0].verbs[0]"}},
		{"duplicate verb", role(func(r *Role) { r.Rules[0].Verbs[2] = "get" }), []string{"rules[0].verbs[2]"}},
		{"no resources", role(func(r *Role) { r.Rules[1].Resources = nil }), []string{"rules[1].resources"}},
		{"empty resource", role(func(r *Role) { r.Rules[1].Resources = []string{""} }), []string{"rules[1].resources[0]"}},
		{"singular resource", role(func(r *Role) { r.Rules[1].Resources = []string{"deployment"} }), []string{"rules[1].resources[0]"}},
		{"unknown resource", role(func(r *Role) { r.Rules[0].Resources[3] = "ingresses" }), []string{"rules[0].resources[3]"}},
		{"duplicate resource", role(func(r *Role) { r.Rules[0].Resources[3] = "pods" }), []string{"rules[0].resources[3]"}},
		{"status of a kind without one", role(func(r *Role) { r.Rules[0].Resources[2] = "configmaps/status" }), []string{"rules[0].resources[2]"}},
		{"status of a kind with one", role(func(r *Role) { r.Rules[0].Resources[2] = "nodes/status" }), nil},
		{"unknown pod subresource", role(func(r *Role) { r.Rules[0].Resources[1] = "pods/attach" }), []string{"rules[0].resources[1]"}},
		{"log of a deployment", role(func(r *Role) { r.Rules[0].Resources[1] = "deployments/log" }), []string{"rules[0].resources[1]"}},
		{"wildcard subresource", role(func(r *Role) { r.Rules[0].Resources[1] = "pods/*" }), []string{"rules[0].resources[1]"}},
		{"identity kinds", role(func(r *Role) { r.Rules[0].Resources = []string{"users", "roles", "rolebindings"} }), nil},
		{"empty resource name", role(func(r *Role) { r.Rules[1].ResourceNames[1] = "" }), []string{"rules[1].resourceNames[1]"}},
		{"resource name with a slash", role(func(r *Role) { r.Rules[1].ResourceNames[0] = "shop/web" }), []string{"rules[1].resourceNames[0]"}},
		{"every problem of a rule at once", role(func(r *Role) {
			r.Rules[2] = PolicyRule{Verbs: []string{"run"}, Resources: []string{"apps", "gizmos"}, ResourceNames: []string{""}}
		}), []string{"rules[2].verbs[0]", "rules[2].resources[1]", "rules[2].resourceNames[0]"}},
	})
}

func TestValidateRoleBinding(t *testing.T) {
	binding := func(f func(b *RoleBinding)) Object { b := testRoleBinding(); f(b); return b }
	runValidationCases(t, []validationCase{
		{"bad name", binding(func(b *RoleBinding) { b.Name = "Team A" }), []string{"metadata.name"}},
		{"in a namespace", binding(func(b *RoleBinding) { b.Namespace = "team-a" }), []string{"metadata.namespace"}},
		{"no role", binding(func(b *RoleBinding) { b.Role = "" }), []string{"role"}},
		{"bad role name", binding(func(b *RoleBinding) { b.Role = "Developer" }), []string{"role"}},
		{"no subjects", binding(func(b *RoleBinding) { b.Subjects = nil }), []string{"subjects"}},
		{"subject without kind", binding(func(b *RoleBinding) { b.Subjects[0].Kind = "" }), []string{"subjects[0].kind"}},
		{"subject of another kind", binding(func(b *RoleBinding) { b.Subjects[1].Kind = "ServiceAccount" }), []string{"subjects[1].kind"}},
		{"subject kind in lower case", binding(func(b *RoleBinding) { b.Subjects[0].Kind = "user" }), []string{"subjects[0].kind"}},
		{"user without name", binding(func(b *RoleBinding) { b.Subjects[0].Name = "" }), []string{"subjects[0].name"}},
		{"user name not an object name", binding(func(b *RoleBinding) { b.Subjects[0].Name = "oidc:ada" }), []string{"subjects[0].name"}},
		{"group without name", binding(func(b *RoleBinding) { b.Subjects[1].Name = "" }), []string{"subjects[1].name"}},
		{"group name with a space", binding(func(b *RoleBinding) { b.Subjects[1].Name = "team a" }), []string{"subjects[1].name"}},
		{"duplicate subject", binding(func(b *RoleBinding) { b.Subjects[1] = b.Subjects[0] }), []string{"subjects[1]"}},
		{"user and group of one name", binding(func(b *RoleBinding) { b.Subjects[1] = Subject{Kind: SubjectGroup, Name: "ada"} }), nil},
		{"no namespaces", binding(func(b *RoleBinding) { b.Namespaces = nil }), nil},
		{"empty namespace", binding(func(b *RoleBinding) { b.Namespaces[0] = "" }), []string{"namespaces[0]"}},
		{"namespace not a DNS label", binding(func(b *RoleBinding) { b.Namespaces[1] = "team.a" }), []string{"namespaces[1]"}},
		{"duplicate namespace", binding(func(b *RoleBinding) { b.Namespaces[1] = "team-a" }), []string{"namespaces[1]"}},
	})
}

func TestValidateRBACErrorDetails(t *testing.T) {
	tests := []struct {
		name      string
		obj       Object
		field     string
		typ       FieldErrorType
		mentioned []string // what the message must name
	}{
		{"unknown verb", func() Object { r := testRole(); r.Rules[0].Verbs[0] = "read"; return r }(),
			"rules[0].verbs[0]", FieldNotSupported, []string{`"read"`, `"get"`, `"push"`, `"*"`}},
		{"unknown resource", func() Object { r := testRole(); r.Rules[0].Resources[0] = "deploymnets"; return r }(),
			"rules[0].resources[0]", FieldInvalid, []string{`"deploymnets"`, "deployments", "pods/log", "apitokens", "users"}},
		{"duplicate identity", func() Object { u := testUser(); u.Spec.Identities[1] = u.Spec.Identities[0]; return u }(),
			"spec.identities[1]", FieldDuplicate, []string{"https://accounts.google.com"}},
		{"plain http issuer", func() Object { u := testUser(); u.Spec.Identities[0].Issuer = "http://idp.example.com"; return u }(),
			"spec.identities[0].issuer", FieldInvalid, []string{"https", "127.0.0.1"}},
		{"subject kind", func() Object { b := testRoleBinding(); b.Subjects[0].Kind = "Team"; return b }(),
			"subjects[0].kind", FieldNotSupported, []string{`"User"`, `"Group"`}},
	}
	for _, tt := range tests {
		errs := Validate(tt.obj)
		if len(errs) != 1 || errs[0].Field != tt.field || errs[0].Type != tt.typ {
			t.Errorf("%s: Validate = %v, want one %s error at %s", tt.name, errs, tt.typ, tt.field)
			continue
		}
		for _, m := range tt.mentioned {
			if !strings.Contains(errs[0].Error(), m) {
				t.Errorf("%s: error %q does not mention %s", tt.name, errs[0].Error(), m)
			}
		}
	}
}

func TestDefaultIdentityKinds(t *testing.T) {
	for _, tt := range []struct {
		obj                 Object
		apiVersion, kindStr string
	}{
		{&User{ObjectMeta: ObjectMeta{Name: "ada"}}, "skiff.dev/v1", "User"},
		{&Role{ObjectMeta: ObjectMeta{Name: "r"}}, "skiff.dev/v1", "Role"},
		{&RoleBinding{ObjectMeta: ObjectMeta{Name: "b"}, Subjects: []Subject{{Name: "ada"}}}, "skiff.dev/v1", "RoleBinding"},
	} {
		Default(tt.obj)
		tm := tt.obj.GetTypeMeta()
		if tm.APIVersion != tt.apiVersion || tm.Kind != tt.kindStr {
			t.Errorf("Default(%T) type = %s %s, want %s %s", tt.obj, tm.APIVersion, tm.Kind, tt.apiVersion, tt.kindStr)
		}
	}
	// A subject's kind is never guessed.
	b := &RoleBinding{ObjectMeta: ObjectMeta{Name: "b"}, Role: "viewer", Subjects: []Subject{{Name: "ada"}}}
	Default(b)
	if b.Subjects[0].Kind != "" {
		t.Errorf("Default set subject kind %q, want it left unset", b.Subjects[0].Kind)
	}
}

func TestIdentityKindsInTable(t *testing.T) {
	for _, tt := range []struct {
		name, kind, resource string
		hasStatus            bool
	}{
		{"user", "User", "users", true},
		{"roles", "Role", "roles", false},
		{"RoleBinding", "RoleBinding", "rolebindings", false},
	} {
		k, ok := LookupResource(tt.name)
		if !ok {
			t.Errorf("LookupResource(%q) found nothing", tt.name)
			continue
		}
		if k.Kind != tt.kind || k.Resource != tt.resource || k.APIVersion != "skiff.dev/v1" || k.Namespaced || k.HasStatus != tt.hasStatus {
			t.Errorf("LookupResource(%q) = %+v, want %s/%s skiff.dev/v1, cluster-scoped, HasStatus %v", tt.name, k, tt.kind, tt.resource, tt.hasStatus)
		}
	}
}

func TestDecodeIdentityKinds(t *testing.T) {
	in := `{"apiVersion":"skiff.dev/v1","kind":"RoleBinding","metadata":{"name":"devs"},"role":"developer",
	  "subjects":[{"kind":"Group","name":"oidc:devs","namespace":"x"}],"namespaces":["team-a"],"namespace":"team-a"}`
	obj, err := Decode([]byte(in))
	got := fieldsOf(t, err)
	for _, want := range []string{"subjects[0].namespace", "namespace"} {
		if got[want] != FieldUnknown {
			t.Errorf("unknown field %s not reported (got %v)", want, got)
		}
	}
	if len(got) != 2 {
		t.Errorf("reported %d fields, want 2: %v", len(got), got)
	}
	b, ok := obj.(*RoleBinding)
	if !ok || b.Role != RoleDeveloper || len(b.Subjects) != 1 || !slices.Equal(b.Namespaces, []string{"team-a"}) {
		t.Errorf("with only unknown fields the binding should still be filled: %#v", obj)
	}

	in = `{"apiVersion":"skiff.dev/v1","kind":"Role","metadata":{"name":"r"},"rules":[{"verbs":["get"],"resources":["pods"],"resourceName":["x"]}]}`
	if _, err := Decode([]byte(in)); fieldsOf(t, err)["rules[0].resourceName"] != FieldUnknown {
		t.Errorf("Role with rules[0].resourceName: %v, want it reported unknown", err)
	}
	in = `{"apiVersion":"skiff.dev/v1","kind":"User","metadata":{"name":"ada"},"spec":{"email":"ada@example.com","password":"x"}}`
	if _, err := Decode([]byte(in)); fieldsOf(t, err)["spec.password"] != FieldUnknown {
		t.Errorf("User with spec.password: %v, want it reported unknown", err)
	}
	in = `{"apiVersion":"v1","kind":"User","metadata":{"name":"ada"}}`
	if _, err := Decode([]byte(in)); fieldsOf(t, err)["apiVersion"] != FieldInvalid {
		t.Errorf("User of apiVersion v1: %v, want apiVersion invalid", err)
	}
}

func TestBuiltInRoles(t *testing.T) {
	roles := map[string]*Role{}
	for _, r := range BuiltInRoles() {
		if r.Labels[BuiltInLabel] != "true" {
			t.Errorf("role %s lacks label %s=true", r.Name, BuiltInLabel)
		}
		if r.Kind != "Role" || r.APIVersion != "skiff.dev/v1" {
			t.Errorf("role %s type = %s %s", r.Name, r.APIVersion, r.Kind)
		}
		roles[r.Name] = r
	}
	if len(roles) != 3 || roles[RoleAdmin] == nil || roles[RoleDeveloper] == nil || roles[RoleViewer] == nil {
		t.Fatalf("built-in roles = %v, want admin, developer, viewer", roles)
	}
	// allows says whether some rule of r has verb and resource.
	allows := func(r *Role, verb, resource string) bool {
		for _, rule := range r.Rules {
			if (slices.Contains(rule.Verbs, verb) || slices.Contains(rule.Verbs, "*")) &&
				(slices.Contains(rule.Resources, resource) || slices.Contains(rule.Resources, "*")) {
				return true
			}
		}
		return false
	}
	for _, k := range Kinds() {
		if got := allows(roles[RoleViewer], "list", k.Resource); got != (k.Resource != "secrets") {
			t.Errorf("viewer list %s = %v, want %v", k.Resource, got, !got)
		}
		identity := slices.Contains([]string{"users", "roles", "rolebindings"}, k.Resource)
		if got := allows(roles[RoleDeveloper], "watch", k.Resource); got != !identity {
			t.Errorf("developer watch %s = %v, want %v", k.Resource, got, !identity)
		}
		if got := allows(roles[RoleDeveloper], "delete", k.Resource); got != k.Namespaced {
			t.Errorf("developer delete %s = %v, want %v (namespaced kinds only)", k.Resource, got, k.Namespaced)
		}
		if !allows(roles[RoleAdmin], "delete", k.Resource) {
			t.Errorf("admin may not delete %s", k.Resource)
		}
	}
	for _, tt := range []struct {
		role, verb, resource string
		want                 bool
	}{
		{RoleViewer, "get", "pods/log", true},
		{RoleViewer, "create", "pods/exec", false},
		{RoleViewer, "create", "pods/portforward", false},
		{RoleViewer, "get", "apps", true},
		{RoleViewer, "push", "apps", false},
		{RoleViewer, "create", "deployments", false},
		{RoleViewer, "update", "pods/status", false},
		{RoleDeveloper, "create", "pods/exec", true},
		{RoleDeveloper, "create", "pods/portforward", true},
		{RoleDeveloper, "get", "pods/log", true},
		{RoleDeveloper, "update", "pods/status", true},
		{RoleDeveloper, "push", "apps", true},
		{RoleDeveloper, "create", "secrets", true},
		{RoleDeveloper, "create", "pods/privileged", false},
		{RoleDeveloper, "update", "nodes", false},
		{RoleDeveloper, "get", "apitokens", false},
		{RoleDeveloper, "get", "audit", false},
		{RoleAdmin, "create", "pods/privileged", true},
	} {
		if got := allows(roles[tt.role], tt.verb, tt.resource); got != tt.want {
			t.Errorf("%s %s %s = %v, want %v", tt.role, tt.verb, tt.resource, got, tt.want)
		}
	}
	// Each call returns fresh copies: changing one changes no other.
	BuiltInRoles()[2].Rules[0].Resources[0] = "changed"
	if BuiltInRoles()[2].Rules[0].Resources[0] == "changed" {
		t.Error("BuiltInRoles returned shared slices")
	}
}

func TestBuiltInRoleBindings(t *testing.T) {
	bs := BuiltInRoleBindings()
	if len(bs) != 1 {
		t.Fatalf("built-in bindings = %d, want 1", len(bs))
	}
	b := bs[0]
	if b.Name != "admins" || b.Role != RoleAdmin || len(b.Namespaces) != 0 ||
		!slices.Equal(b.Subjects, []Subject{{Kind: SubjectGroup, Name: GroupAdmins}}) || b.Labels[BuiltInLabel] != "true" || b.Kind != "RoleBinding" {
		t.Errorf("admins binding = %+v", b)
	}
}
