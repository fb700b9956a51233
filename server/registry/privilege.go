package registry

import (
	"context"
	"fmt"
	"reflect"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// admitPrivilege refuses a pod, or a workload whose template stamps out
// pods, that asks for what can take over a node
// (api.PodSpec.PrivilegeRequests: privileged, capabilities beyond the
// baseline set, hostNetwork, hostPath), unless the caller is an admin.
// The answer names the first such field. Callers inside the server (the
// controllers, which carry no identity) copy templates an admin made.
// Until roles exist (the identity issue) the admins group is the rule.
// A non-admin may still update such an object an admin made — its
// labels, replicas, anything — as long as the pod spec stays exactly the
// admin's: a changed image, command or mount in a privileged pod is a
// new privileged pod. obj must be defaulted (as old, stored, is).
func admitPrivilege(ctx context.Context, k api.Kind, obj, old api.Object) error {
	id, ok := auth.IdentityFrom(ctx)
	if !ok || id == nil || id.InGroup(auth.GroupAdmins) {
		return nil
	}
	prefix, spec := podSpecOf(obj)
	if spec == nil {
		return nil
	}
	reqs := spec.PrivilegeRequests()
	if len(reqs) == 0 {
		return nil
	}
	if old != nil {
		if _, was := podSpecOf(old); was != nil && reflect.DeepEqual(was, spec) {
			return nil
		}
	}
	r := reqs[0]
	m := obj.GetObjectMeta()
	return fmt.Errorf("%s %q: %s.%s: only members of the %s group may create or change pods that are privileged, add capabilities beyond the baseline set, use the node's network or mount its files (here: %s), and %s is not one: %w",
		k.Kind, m.Name, prefix, r.Field, auth.GroupAdmins, r.What, id.Name, errdefs.ErrForbidden)
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
