package registry

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
)

// admitPrivilege refuses a pod, or a workload whose template stamps out
// pods, that asks for what can take over a node
// (api.PodSpec.PrivilegeRequests: privileged, capabilities beyond the
// baseline set, hostNetwork, hostPath), unless the caller is an admin or
// a role allows it create on pods/privileged in the namespace (the
// built-in admin role does; developer and viewer do not). The answer
// names the first such field. Callers inside the server (the
// controllers, which carry no identity) copy templates an admin made.
// Anyone may still update such an object an admin made — its labels,
// replicas, anything — as long as the pod spec stays exactly the
// admin's: a changed image, command or mount in a privileged pod is a
// new privileged pod. obj must be defaulted (as old, stored, is).
func (r *Registry) admitPrivilege(ctx context.Context, k api.Kind, obj, old api.Object) error {
	id, ok := auth.IdentityFrom(ctx)
	var az auth.Authorizer
	if a := r.authz.Load(); a != nil {
		az = *a
	}
	if !ok || id == nil || auth.IsAdmin(ctx, az, id) {
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
	m := obj.GetObjectMeta()
	if az != nil && az.Authorize(ctx, id, auth.Attributes{Verb: "create", Resource: "pods/privileged", Namespace: m.Namespace, Namespaced: true}) == nil {
		return nil
	}
	rq := reqs[0]
	return fmt.Errorf("%s %q: %s.%s: only admins (or a role allowing create on pods/privileged in namespace %s) may create or change pods that are privileged, add capabilities beyond the baseline set, use the node's network or mount its files (here: %s), and %s may not: %w",
		k.Kind, m.Name, prefix, rq.Field, m.Namespace, rq.What, id.Name, errdefs.ErrForbidden)
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

// admitSecretType keeps skiff's own Secret types (skiff.dev/: join
// tokens, sessions, API tokens, passwords, invites) to the server itself
// and admins: anyone else who could write one would forge a credential.
func (r *Registry) admitSecretType(ctx context.Context, obj api.Object) error {
	sec, ok := obj.(*api.Secret)
	if !ok || !strings.HasPrefix(string(sec.Type), "skiff.dev/") {
		return nil
	}
	id, ok := auth.IdentityFrom(ctx)
	var az auth.Authorizer
	if a := r.authz.Load(); a != nil {
		az = *a
	}
	if !ok || id == nil || auth.IsAdmin(ctx, az, id) {
		return nil
	}
	return fmt.Errorf("Secret %q: type: %s is skiff's own credential type, which only admins and the server write, and %s may not: %w",
		sec.Name, sec.Type, id.Name, errdefs.ErrForbidden)
}
