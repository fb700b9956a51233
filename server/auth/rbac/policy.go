// Package rbac decides what an identity may do from Roles and
// RoleBindings. A Policy is built once from every Role and RoleBinding
// (New) and then only read: when a role or binding changes, the caller
// builds a new Policy and swaps it in. A check is a few map lookups,
// because it runs on every request.
//
// The rules, as api.RoleBinding documents them:
//
//   - The group skiff:admins (api.GroupAdmins) is allowed everything,
//     whatever the bindings.
//   - Otherwise a request is allowed when a rule of a role bound to the
//     user, or to one of their groups, allows it; nothing else is.
//   - A rule allows a verb ("*": every verb) on a resource ("*": every
//     resource, subresources and pseudo-resources included); with
//     ResourceNames only on objects of those names, so never a list or a
//     create, which name no object.
//   - A binding without namespaces grants its rules everywhere. One with
//     namespaces grants them on namespaced resources in those namespaces
//     only; getting the Namespace objects of those names; and get, list
//     and watch of the cluster-scoped resources its rules name
//     explicitly (not through "*"). A list or watch across all
//     namespaces needs a binding without namespaces.
//   - An API token's scope (auth.Identity.Scope) must allow the request
//     too: its role, as if bound in the scope's namespaces (none:
//     everywhere). A scope naming a role that does not exist allows
//     nothing.
//
// Node identities (group skiff:nodes) are the API server's to check, not
// this package's. This package does not read the store or serve HTTP.
package rbac

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// Policy is a compiled set of roles and bindings. It is immutable and
// safe for use by many goroutines at once. The nil Policy has no
// bindings: it allows the admins group only.
type Policy struct {
	roles  map[string]*role   // by name
	users  map[string][]grant // by user name
	groups map[string][]grant // by group name
}

// Grant is one role an identity holds through one binding.
type Grant struct {
	Role    string
	Binding string
	// Via is the subject of the binding that matched: the user, or one
	// of their groups.
	Via api.Subject
	// Namespaces are where the grant applies; nil: everywhere.
	Namespaces []string
}

// New compiles roles and bindings into a Policy. A binding to a role not
// among roles grants nothing (it starts to once the role exists and a
// new Policy is built). New keeps no reference to its arguments.
func New(roles []*api.Role, bindings []*api.RoleBinding) *Policy {
	p := &Policy{
		roles:  make(map[string]*role, len(roles)),
		users:  map[string][]grant{},
		groups: map[string][]grant{},
	}
	for _, r := range roles {
		p.roles[r.Name] = compileRole(r)
	}
	for _, b := range bindings {
		r, ok := p.roles[b.Role]
		if !ok {
			continue
		}
		ns := newNamespaceSet(b.Namespaces)
		for _, s := range b.Subjects {
			g := grant{role: r, binding: b.Name, via: s, namespaces: ns}
			switch s.Kind {
			case api.SubjectUser:
				p.users[s.Name] = append(p.users[s.Name], g)
			case api.SubjectGroup:
				p.groups[s.Name] = append(p.groups[s.Name], g)
			}
		}
	}
	return p
}

// Authorize returns nil if id may do a, and otherwise an error wrapping
// errdefs.ErrForbidden that names who, the missing permission and why:
//
//	user "bob" may not delete deployments web in namespace prod: no role bound to bob or their groups allows it: forbidden
func (p *Policy) Authorize(id *auth.Identity, a auth.Attributes) error {
	if id == nil {
		return fmt.Errorf("an unauthenticated request may not %s: %w", a, errdefs.ErrForbidden)
	}
	if p == nil {
		p = &Policy{}
	}
	q := a
	if collection(a) {
		q.Name = "" // so that a caller's name cannot satisfy ResourceNames
	}
	if !id.InGroup(api.GroupAdmins) && !p.bindingsAllow(id, q) {
		return p.denial(id, a, q)
	}
	if id.Scope != nil {
		return p.scopeAllows(id, a, q)
	}
	return nil
}

// Allowed is Authorize's answer without its explanation: no message is
// built for a refusal (the API server asks it whether a caller is an
// admin on every request).
func (p *Policy) Allowed(id *auth.Identity, a auth.Attributes) bool {
	if id == nil {
		return false
	}
	if p == nil {
		p = &Policy{}
	}
	q := a
	if collection(a) {
		q.Name = ""
	}
	if !id.InGroup(api.GroupAdmins) && !p.bindingsAllow(id, q) {
		return false
	}
	if s := id.Scope; s != nil {
		r, ok := p.roles[s.Role]
		return ok && grant{role: r, namespaces: newNamespaceSet(s.Namespaces)}.allows(q)
	}
	return true
}

// collection reports whether a acts on a collection, not on one object:
// a list, or a create of an object (not of a subresource, such as an
// exec into a named pod). Such a request has no name to match a rule's
// ResourceNames, whatever the caller put in Name.
func collection(a auth.Attributes) bool {
	return a.Verb == "list" || a.Verb == "create" && !strings.Contains(a.Resource, "/")
}

// bindingsAllow reports whether a binding of the user or of one of their
// groups allows a.
func (p *Policy) bindingsAllow(id *auth.Identity, a auth.Attributes) bool {
	for _, g := range p.users[id.Name] {
		if g.allows(a) {
			return true
		}
	}
	for _, name := range id.Groups {
		for _, g := range p.groups[name] {
			if g.allows(a) {
				return true
			}
		}
	}
	return false
}

// scopeAllows checks a against an API token's scope.
// a names the request in messages, q is what is checked.
func (p *Policy) scopeAllows(id *auth.Identity, a, q auth.Attributes) error {
	s := id.Scope
	where := "everywhere"
	if len(s.Namespaces) > 0 {
		where = "in " + namespaceList(s.Namespaces)
	}
	r, ok := p.roles[s.Role]
	if !ok {
		return fmt.Errorf("user %q may not %s: the API token's scope names role %q, which does not exist; make a token with an existing role: %w",
			id.Name, a, s.Role, errdefs.ErrForbidden)
	}
	g := grant{role: r, namespaces: newNamespaceSet(s.Namespaces)}
	if g.allows(q) {
		return nil
	}
	return fmt.Errorf("user %q may not %s: the API token's scope (role %s %s) does not allow it, though the user may: %w",
		id.Name, a, s.Role, where, errdefs.ErrForbidden)
}

// denial explains why no binding allowed a. It runs only on a refusal,
// so it may take its time to find a hint: the namespaces where the
// user's roles would allow the request. a names the request in the
// message, q is what was checked.
func (p *Policy) denial(id *auth.Identity, a, q auth.Attributes) error {
	var elsewhere []string
	for _, g := range p.Roles(id) {
		r := p.roles[g.Role]
		if g.Namespaces != nil && r.matches(q.Verb, q.Resource, q.Name, false) {
			elsewhere = append(elsewhere, g.Namespaces...)
		}
	}
	slices.Sort(elsewhere)
	elsewhere = slices.Compact(elsewhere)
	var why string
	switch {
	case len(elsewhere) == 0:
		why = fmt.Sprintf("no role bound to %s or their groups allows it", id.Name)
	case a.Namespaced && a.Namespace == "":
		why = fmt.Sprintf("%s's roles allow it only in %s; ask for one namespace (-n %s)", id.Name, namespaceList(elsewhere), elsewhere[0])
	case a.Namespaced:
		why = fmt.Sprintf("%s's roles allow it only in %s", id.Name, namespaceList(elsewhere))
	default:
		why = fmt.Sprintf("%s's roles that allow it are bound only in %s, and such a binding grants no more on cluster-scoped resources than get, list and watch of those its rules name",
			id.Name, namespaceList(elsewhere))
	}
	return fmt.Errorf("user %q may not %s: %s: %w", id.Name, a, why, errdefs.ErrForbidden)
}

// namespaceList names namespaces in a message: "namespace a",
// "namespaces a, b".
func namespaceList(ns []string) string {
	if len(ns) == 1 {
		return "namespace " + ns[0]
	}
	return "namespaces " + strings.Join(ns, ", ")
}

// Roles returns the grants id holds through the bindings, by role and
// binding name, for `skiff whoami`. The admins group, allowed everything
// whatever the bindings, has no grant of its own here; an API token's
// scope is not applied.
func (p *Policy) Roles(id *auth.Identity) []Grant {
	if p == nil || id == nil {
		return nil
	}
	var out []Grant
	add := func(gs []grant) {
		for _, g := range gs {
			out = append(out, Grant{Role: g.role.name, Binding: g.binding, Via: g.via, Namespaces: slices.Clone(g.namespaces.list)})
		}
	}
	add(p.users[id.Name])
	for _, name := range id.Groups {
		add(p.groups[name])
	}
	slices.SortFunc(out, func(x, y Grant) int {
		return cmp.Or(cmp.Compare(x.Role, y.Role), cmp.Compare(x.Binding, y.Binding), cmp.Compare(x.Via.Kind, y.Via.Kind), cmp.Compare(x.Via.Name, y.Via.Name))
	})
	return out
}

// grant is a role as one binding (or a token's scope) grants it.
type grant struct {
	role       *role
	binding    string
	via        api.Subject
	namespaces namespaceSet // empty: everywhere
}

// allows applies the binding's namespaces to the role's rules.
// PrivilegedResource is the permission to make (or exec into) a pod
// that can take over its node.
const PrivilegedResource = "pods/privileged"

func (g grant) allows(a auth.Attributes) bool {
	if g.namespaces.empty() {
		return g.role.matches(a.Verb, a.Resource, a.Name, false)
	}
	if a.Namespaced {
		// A list across all namespaces (Namespace "") is never in them.
		// A privileged pod is root on its node, whatever its namespace:
		// a namespaced binding grants it only by a rule naming
		// pods/privileged, never through "*".
		return a.Namespace != "" && g.namespaces.contains(a.Namespace) && g.role.matches(a.Verb, a.Resource, a.Name, a.Resource == PrivilegedResource)
	}
	if a.Resource == "namespaces" && a.Verb == "get" && g.namespaces.contains(a.Name) {
		return true
	}
	switch a.Verb {
	case "get", "list", "watch":
		return g.role.matches(a.Verb, a.Resource, a.Name, true)
	}
	return false
}

// namespaceSet is a binding's namespaces. Most bindings name a few, which
// a scan finds fastest; a long list gets a map.
type namespaceSet struct {
	list []string
	set  map[string]struct{}
}

// setThreshold is the length from which a namespaceSet uses a map.
const setThreshold = 8

func newNamespaceSet(ns []string) namespaceSet {
	if len(ns) == 0 {
		return namespaceSet{}
	}
	s := namespaceSet{list: slices.Clone(ns)}
	if len(ns) >= setThreshold {
		s.set = make(map[string]struct{}, len(ns))
		for _, n := range ns {
			s.set[n] = struct{}{}
		}
	}
	return s
}

func (s namespaceSet) empty() bool { return len(s.list) == 0 }

func (s namespaceSet) contains(ns string) bool {
	if s.set != nil {
		_, ok := s.set[ns]
		return ok
	}
	return slices.Contains(s.list, ns)
}
