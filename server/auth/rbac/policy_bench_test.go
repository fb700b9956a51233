package rbac

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/auth"
)

// benchPolicy builds a policy of 50 roles (the built-in three and 47 of
// eight rules each), 200 bindings (of the custom roles and a few of
// developer; half to users, half to 20 groups; half in two namespaces) and the 1000 users they name, each in two
// of the groups; and 1024 requests of those users, a mix of allowed and
// refused.
func benchPolicy() (*Policy, []*auth.Identity, []auth.Attributes) {
	rng := rand.New(rand.NewPCG(1, 2))
	var resources []string
	for _, k := range api.Kinds() {
		resources = append(resources, k.Resource)
	}
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	pick := func(list []string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = list[rng.IntN(len(list))]
		}
		return out
	}
	roles := api.BuiltInRoles()
	for i := len(roles); i < 50; i++ {
		r := &api.Role{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("role-%d", i)}}
		for range 8 {
			rule := api.PolicyRule{Verbs: pick(verbs, 3), Resources: pick(resources, 3)}
			if rng.IntN(4) == 0 {
				rule.ResourceNames = []string{"web", "api"}
			}
			r.Rules = append(r.Rules, rule)
		}
		roles = append(roles, r)
	}
	namespaces := []string{"default", "team-a", "team-b", "team-c", "prod", "staging"}
	var bindings []*api.RoleBinding
	for i := range 200 {
		s := api.Subject{Kind: api.SubjectUser, Name: fmt.Sprintf("user-%d", rng.IntN(1000))}
		if i%2 == 1 {
			s = api.Subject{Kind: api.SubjectGroup, Name: fmt.Sprintf("group-%d", rng.IntN(20))}
		}
		role := roles[3+rng.IntN(len(roles)-3)].Name // the custom roles, mostly
		if i%20 == 0 {
			role = api.RoleDeveloper
		}
		b := binding(fmt.Sprintf("b-%d", i), role, nil, s)
		if i%4 < 2 {
			b.Namespaces = pick(namespaces, 2)
		}
		bindings = append(bindings, b)
	}
	var ids []*auth.Identity
	var attrs []auth.Attributes
	for range 1024 {
		id := user(fmt.Sprintf("user-%d", rng.IntN(1000)), fmt.Sprintf("group-%d", rng.IntN(20)), fmt.Sprintf("group-%d", rng.IntN(20)))
		a := ns(verbs[rng.IntN(len(verbs))], resources[rng.IntN(len(resources))], namespaces[rng.IntN(len(namespaces))], "web")
		ids, attrs = append(ids, id), append(attrs, a)
	}
	return New(roles, bindings), ids, attrs
}

// BenchmarkAuthorize measures one check: "allowed" of requests that some
// binding allows (the common case: a refusal builds its message),
// "mixed" of all of them, "admin" of the admins group.
func BenchmarkAuthorize(b *testing.B) {
	p, ids, attrs := benchPolicy()
	var okIDs []*auth.Identity
	var okAttrs []auth.Attributes
	for i := range ids {
		if p.Authorize(ids[i], attrs[i]) == nil {
			okIDs, okAttrs = append(okIDs, ids[i]), append(okAttrs, attrs[i])
		}
	}
	if len(okIDs) == 0 {
		b.Fatal("no request of the benchmark is allowed")
	}
	b.Logf("%d of %d requests allowed", len(okIDs), len(ids))
	run := func(ids []*auth.Identity, attrs []auth.Attributes) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				_ = p.Authorize(ids[i], attrs[i])
				i++
				if i == len(ids) {
					i = 0
				}
			}
		}
	}
	b.Run("allowed", run(okIDs, okAttrs))
	b.Run("mixed", run(ids, attrs))
	b.Run("admin", run([]*auth.Identity{user("root", api.GroupAdmins)}, attrs[:1]))
}
