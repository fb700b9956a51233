package registry

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// admitPrivilege refuses a pod, or a workload whose template stamps out
// pods, that is privileged or adds CAP_SYS_ADMIN, CAP_NET_ADMIN or ALL
// (api.PodSpec.NeedsPrivilege), unless the caller is an admin: such a
// container can take over its node. Callers inside the server (the
// controllers, which carry no identity) copy templates an admin made.
// Until roles exist (the identity issue) the admins group is the rule.
// An update is refused only if it brings the privilege in (old, the
// stored object, lacks it): anyone may still edit what an admin made.
func admitPrivilege(ctx context.Context, k api.Kind, obj, old api.Object) error {
	id, ok := auth.IdentityFrom(ctx)
	if !ok || id == nil || id.InGroup(auth.GroupAdmins) {
		return nil
	}
	field, spec := podSpecOf(obj)
	if spec == nil || !spec.NeedsPrivilege() {
		return nil
	}
	if old != nil {
		if _, was := podSpecOf(old); was != nil && was.NeedsPrivilege() {
			return nil
		}
	}
	m := obj.GetObjectMeta()
	return fmt.Errorf("%s %q: %s: only members of the %s group may create pods that are privileged or add CAP_SYS_ADMIN or CAP_NET_ADMIN (%s is not one): %w",
		k.Kind, m.Name, field, auth.GroupAdmins, id.Name, errdefs.ErrForbidden)
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
