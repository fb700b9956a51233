package rbac

import "github.com/skiffhq/skiff/server/api"

// role is a Role's rules indexed by verb and resource, "*" being a key of
// its own, so that a check is at most four map lookups whatever the
// number of rules.
type role struct {
	name  string
	index map[ruleKey]names
}

// ruleKey is one verb on one resource, either of which may be "*".
type ruleKey struct{ verb, resource string }

// names is which objects the rules of one key allow: all of them, or
// those of some names.
type names struct {
	all bool
	set map[string]struct{}
}

func (n names) allows(name string) bool {
	if n.all {
		return true
	}
	_, ok := n.set[name]
	return ok && name != ""
}

// compileRole indexes r's rules. Rules of the same verb and resource
// merge: one without ResourceNames allows every name, else the names add
// up.
func compileRole(r *api.Role) *role {
	c := &role{name: r.Name, index: map[ruleKey]names{}}
	for _, rule := range r.Rules {
		for _, v := range rule.Verbs {
			for _, res := range rule.Resources {
				k := ruleKey{v, res}
				n := c.index[k]
				if len(rule.ResourceNames) == 0 {
					n = names{all: true}
				} else if !n.all {
					if n.set == nil {
						n.set = map[string]struct{}{}
					}
					for _, name := range rule.ResourceNames {
						n.set[name] = struct{}{}
					}
				}
				c.index[k] = n
			}
		}
	}
	return c
}

// matches reports whether a rule allows verb on resource for the object
// named name ("" for a collection). With explicit, only rules that name
// the resource count, not those for "*".
func (r *role) matches(verb, resource, name string, explicit bool) bool {
	if n, ok := r.index[ruleKey{verb, resource}]; ok && n.allows(name) {
		return true
	}
	if n, ok := r.index[ruleKey{"*", resource}]; ok && n.allows(name) {
		return true
	}
	if explicit {
		return false
	}
	if n, ok := r.index[ruleKey{verb, "*"}]; ok && n.allows(name) {
		return true
	}
	n, ok := r.index[ruleKey{"*", "*"}]
	return ok && n.allows(name)
}
