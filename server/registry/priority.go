package registry

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/store"
)

// This file is the registry's PriorityClass admission, as Kubernetes'
// Priority admission plugin does it: a new pod's spec.priority and
// spec.preemptionPolicy come from its class; at most one class is the
// global default; the built-in classes always exist.

// EnsurePriorityClasses creates the built-in priority classes
// (system-cluster-critical, system-node-critical) that do not exist yet.
// When they all exist it writes nothing.
func (r *Registry) EnsurePriorityClasses(ctx context.Context) error {
	for _, pc := range api.SystemPriorityClasses() {
		_, err := r.store.Get(ctx, api.Key{Resource: "priorityclasses", Name: pc.Name})
		if errdefs.IsNotFound(err) {
			_, err = r.Create(ctx, "priorityclasses", "", pc)
			if errdefs.IsAlreadyExists(err) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("priority class %q: %w", pc.Name, err)
		}
	}
	return nil
}

// priorityClassDeletable refuses to delete a built-in class.
func priorityClassDeletable(name string) error {
	for _, pc := range api.SystemPriorityClasses() {
		if name == pc.Name {
			return fmt.Errorf("priority class %q is built in and cannot be deleted: %w", name, errdefs.ErrForbidden)
		}
	}
	return nil
}

// admitPod sets a new pod's priority and preemption policy from its
// PriorityClass: the one it names, else the global default class, else
// priority 0 and PreemptLowerPriority. A pod that names a class that does
// not exist, or sets a priority or policy other than its class's, is
// refused with a field error.
func (r *Registry) admitPod(ctx context.Context, p *api.Pod) error {
	s := &p.Spec
	var pc *api.PriorityClass
	if s.PriorityClassName != "" {
		obj, err := r.store.Get(ctx, api.Key{Resource: "priorityclasses", Name: s.PriorityClassName})
		if errdefs.IsNotFound(err) {
			return api.FieldErrors{api.Invalid("spec.priorityClassName", s.PriorityClassName,
				"no PriorityClass of this name exists; create it first, or leave the field empty for the default priority")}
		}
		if err != nil {
			return err
		}
		pc = obj.(*api.PriorityClass)
	} else {
		def, err := r.globalDefaultClass(ctx, "")
		if err != nil {
			return err
		}
		if pc = def; pc != nil {
			s.PriorityClassName = pc.Name
		}
	}
	var value int32
	policy := api.PreemptLowerPriority
	what := "there is no global default PriorityClass, so the priority is 0"
	if pc != nil {
		value, policy = pc.Value, api.PreemptionPolicyOfClass(pc)
		what = fmt.Sprintf("PriorityClass %q gives %d", pc.Name, pc.Value)
	}
	var errs api.FieldErrors
	if s.Priority != nil && *s.Priority != value {
		errs = append(errs, api.Forbidden("spec.priority", fmt.Sprintf("the priority comes from spec.priorityClassName and may only repeat it: %s, not %d; remove spec.priority", what, *s.Priority)))
	}
	if s.PreemptionPolicy != nil && *s.PreemptionPolicy != policy {
		errs = append(errs, api.Forbidden("spec.preemptionPolicy", fmt.Sprintf("the preemption policy comes from the PriorityClass and may only repeat it: %s, not %s; remove spec.preemptionPolicy", policy, *s.PreemptionPolicy)))
	}
	if len(errs) > 0 {
		return errs
	}
	s.Priority, s.PreemptionPolicy = &value, &policy
	return nil
}

// keepPodPriority carries a pod's priority class, priority and
// preemption policy over an update that leaves them out (the pod's
// writer may not know admission set them — a manifest applied again
// names no class when the global default gave it one); a change to them
// is refused by ValidateUpdate.
func keepPodPriority(old, p *api.Pod) {
	if p.Spec.PriorityClassName == "" {
		p.Spec.PriorityClassName = old.Spec.PriorityClassName
	}
	if p.Spec.Priority == nil {
		p.Spec.Priority = old.Spec.Priority
	}
	if p.Spec.PreemptionPolicy == nil {
		p.Spec.PreemptionPolicy = old.Spec.PreemptionPolicy
	}
}

// globalDefaultClass returns the class marked globalDefault other than
// the one called except, or nil.
func (r *Registry) globalDefaultClass(ctx context.Context, except string) (*api.PriorityClass, error) {
	res, err := r.store.List(ctx, "priorityclasses", store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, o := range res.Items {
		if pc := o.(*api.PriorityClass); pc.GlobalDefault && pc.Name != except {
			return pc, nil
		}
	}
	return nil, nil
}

// checkSingleDefault refuses a class marked globalDefault while another
// class is. The caller holds r.classes, so two writes cannot both pass.
func (r *Registry) checkSingleDefault(ctx context.Context, pc *api.PriorityClass) error {
	if !pc.GlobalDefault {
		return nil
	}
	other, err := r.globalDefaultClass(ctx, pc.Name)
	if err != nil || other == nil {
		return err
	}
	return invalid(api.Kind{Kind: "PriorityClass"}, pc, api.FieldErrors{api.Invalid("globalDefault", true,
		fmt.Sprintf("PriorityClass %q is already the global default and only one may be; unset it there first", other.Name))})
}
