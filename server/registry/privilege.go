package registry

import (
	"context"
	"fmt"
	"slices"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// admitPrivilege refuses a pod, or a workload whose template stamps out
// pods, that is privileged or adds a capability beyond the baseline set
// (api.PodSpec.PrivilegeRequests: ALL, SYS_ADMIN, SYS_MODULE, NET_ADMIN
// …), unless the caller is an admin: such a container can take over its
// node. The answer names the first such field. Callers inside the
// server (the controllers, which carry no identity) copy templates an
// admin made. Until roles exist (the identity issue) the admins group is
// the rule. An update is refused only if it brings a privilege in that
// old, the stored object, lacks for the same container: anyone may
// still edit what an admin made, but not turn an admin's NET_ADMIN into
// privileged.
func admitPrivilege(ctx context.Context, k api.Kind, obj, old api.Object) error {
	id, ok := auth.IdentityFrom(ctx)
	if !ok || id == nil || id.InGroup(auth.GroupAdmins) {
		return nil
	}
	prefix, spec := podSpecOf(obj)
	if spec == nil {
		return nil
	}
	var had []api.PrivilegeRequest
	if old != nil {
		if _, was := podSpecOf(old); was != nil {
			had = was.PrivilegeRequests()
		}
	}
	for _, r := range spec.PrivilegeRequests() {
		kept := slices.ContainsFunc(had, func(h api.PrivilegeRequest) bool {
			return h.Container == r.Container && h.What == r.What
		})
		if kept {
			continue
		}
		m := obj.GetObjectMeta()
		return fmt.Errorf("%s %q: %s.%s: only members of the %s group may create pods that are privileged, add capabilities beyond the baseline set, use the node's network or mount its files (here: %s), and %s is not one: %w",
			k.Kind, m.Name, prefix, r.Field, auth.GroupAdmins, r.What, id.Name, errdefs.ErrForbidden)
	}
	return nil
}

// podSpecOf is the pod spec obj runs or stamps out, with its field path.
func podSpecOf(obj api.Object) (string, *api.PodSpec) {
	switch o := obj.(type) {
	case *api.Pod:
		return "spec", &o.Spec
	case *api.Deployment:
		return "spec.template.spec", &o.Spec.Template.Spec
	case *api.ReplicaSet:
		return "spec.template.spec", &o.Spec.Template.Spec
	case *api.DaemonSet:
		return "spec.template.spec", &o.Spec.Template.Spec
	case *api.StatefulSet:
		return "spec.template.spec", &o.Spec.Template.Spec
	case *api.Job:
		return "spec.template.spec", &o.Spec.Template.Spec
	case *api.CronJob:
		return "spec.jobTemplate.spec.template.spec", &o.Spec.JobTemplate.Spec.Template.Spec
	}
	return "", nil
}
