package api

import "slices"

// The built-in roles and binding. Their resource lists are derived from
// the kind table, so a kind added later is covered without touching this
// file: the viewer reads every kind but secrets, the developer writes
// every namespaced kind and reads every cluster-scoped kind but the
// identity kinds.

// identityResources are the kinds of the identity system, which only an
// admin writes and a developer does not read.
var identityResources = []string{"users", "roles", "rolebindings"}

// readVerbs are the verbs that change nothing.
var readVerbs = []string{"get", "list", "watch"}

// BuiltInRoles returns new copies of the built-in roles, in the order
// admin, developer, viewer:
//
//   - admin: every verb on every resource.
//   - developer: every verb on every namespaced kind (pods, workloads,
//     services, configmaps, secrets, claims, events …) and its status,
//     on the pods' log, exec and portforward, and on builds' logs (apps
//     are a namespaced kind: push included);
//     reading the cluster-scoped kinds (nodes, namespaces,
//     priorityclasses …) but users, roles and rolebindings. Not
//     pods/privileged: privileged pods stay an admin's.
//   - viewer: reading every kind but secrets (and their status); getting
//     pods' and builds' logs. No exec, no port-forward, no writes.
func BuiltInRoles() []*Role {
	var namespaced, clusterRead, viewable []string
	for _, k := range kinds {
		res := []string{k.Resource}
		if k.HasStatus {
			res = append(res, k.Resource+"/status")
		}
		if k.Namespaced {
			namespaced = append(namespaced, res...)
		} else if !slices.Contains(identityResources, k.Resource) {
			clusterRead = append(clusterRead, res...)
		}
		if k.Resource != "secrets" {
			viewable = append(viewable, res...)
		}
	}
	developerWrite := append(namespaced, "pods/log", "pods/exec", "pods/portforward", "builds/log")
	return []*Role{
		builtInRole(RoleAdmin, "Everything, everywhere: every verb on every resource.",
			PolicyRule{Verbs: []string{"*"}, Resources: []string{"*"}}),
		builtInRole(RoleDeveloper, "Deploy and operate apps and workloads (pods, exec, logs, secrets, git push); read nodes, namespaces and priority classes.",
			PolicyRule{Verbs: []string{"*"}, Resources: developerWrite},
			PolicyRule{Verbs: readVerbs, Resources: clusterRead}),
		builtInRole(RoleViewer, "Read everything but secrets, and pods' logs; change nothing.",
			PolicyRule{Verbs: readVerbs, Resources: viewable},
			PolicyRule{Verbs: []string{"get"}, Resources: []string{"pods/log", "builds/log"}}),
	}
}

// BuiltInRoleBindings returns new copies of the built-in bindings: "admins",
// role admin to group skiff:admins everywhere. (That group is allowed
// everything whatever the bindings; the binding shows it.)
func BuiltInRoleBindings() []*RoleBinding {
	b := &RoleBinding{
		ObjectMeta: ObjectMeta{Name: "admins", Labels: map[string]string{BuiltInLabel: "true"}},
		Role:       RoleAdmin,
		Subjects:   []Subject{{Kind: SubjectGroup, Name: GroupAdmins}},
	}
	SetTypeMeta(b)
	return []*RoleBinding{b}
}

// builtInRole makes a built-in role with its label and type.
func builtInRole(name, description string, rules ...PolicyRule) *Role {
	for i := range rules { // no rule shares a slice with another role
		rules[i].Verbs = append([]string(nil), rules[i].Verbs...)
		rules[i].Resources = append([]string(nil), rules[i].Resources...)
	}
	r := &Role{
		ObjectMeta:  ObjectMeta{Name: name, Labels: map[string]string{BuiltInLabel: "true"}},
		Description: description,
		Rules:       rules,
	}
	SetTypeMeta(r)
	return r
}
