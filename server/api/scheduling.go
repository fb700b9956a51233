package api

import "strings"

// This file holds the scheduling.k8s.io/v1 kind PriorityClass, with the
// field names and JSON tags of Kubernetes, and the built-in classes.

// PriorityClass maps a name to a pod priority. A pod names its class in
// spec.priorityClassName; on create the registry copies the class's value
// into spec.priority and its preemption policy into spec.preemptionPolicy.
// Pods of higher priority are scheduled first and may preempt (evict)
// pods of lower priority to make room. It is cluster-scoped.
type PriorityClass struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Value is the priority the class gives its pods: any 32-bit integer
	// up to HighestUserDefinablePriority; higher values belong to the
	// built-in system classes. It cannot change.
	Value int32 `json:"value,omitempty"`
	// GlobalDefault makes this the class of pods that name none. At most
	// one class is the global default.
	GlobalDefault bool   `json:"globalDefault,omitempty"`
	Description   string `json:"description,omitempty"`
	// PreemptionPolicy: PreemptLowerPriority (default) or Never. It
	// cannot change.
	PreemptionPolicy *PreemptionPolicy `json:"preemptionPolicy,omitempty"`
}

// PreemptionPolicy says whether a pending pod may preempt pods of lower
// priority.
type PreemptionPolicy string

// The preemption policies.
const (
	// PreemptLowerPriority: the pod may evict lower-priority pods.
	PreemptLowerPriority PreemptionPolicy = "PreemptLowerPriority"
	// PreemptNever: the pod waits for room; it is still placed ahead of
	// lower-priority pods in the scheduling queue.
	PreemptNever PreemptionPolicy = "Never"
)

// The priority bounds and the built-in classes, as in Kubernetes.
const (
	// HighestUserDefinablePriority is the largest value of a class a user
	// creates.
	HighestUserDefinablePriority int32 = 1_000_000_000
	// SystemCriticalPriority is the value of system-cluster-critical; the
	// node-critical class is 1000 above it.
	SystemCriticalPriority int32 = 2 * HighestUserDefinablePriority
	// SystemPriorityClassPrefix starts the names reserved for the built-in
	// classes.
	SystemPriorityClassPrefix = "system-"
	// SystemClusterCritical is for system pods that must run in the
	// cluster but may move to another node.
	SystemClusterCritical = "system-cluster-critical"
	// SystemNodeCritical is for system pods that must not leave their node.
	SystemNodeCritical = "system-node-critical"
)

// SystemPriorityClasses returns the built-in classes. The registry creates
// them at start; they cannot be deleted.
func SystemPriorityClasses() []*PriorityClass {
	return []*PriorityClass{
		{ObjectMeta: ObjectMeta{Name: SystemNodeCritical}, Value: SystemCriticalPriority + 1000,
			Description: "Used for system critical pods that must not be moved from their current node."},
		{ObjectMeta: ObjectMeta{Name: SystemClusterCritical}, Value: SystemCriticalPriority,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
	}
}

// systemPriorityClass returns the built-in class called name.
func systemPriorityClass(name string) (*PriorityClass, bool) {
	for _, pc := range SystemPriorityClasses() {
		if pc.Name == name {
			return pc, true
		}
	}
	return nil, false
}

// PreemptionPolicyOf returns a pod's preemption policy; unset is
// PreemptLowerPriority.
func PreemptionPolicyOf(s *PodSpec) PreemptionPolicy {
	if s.PreemptionPolicy == nil {
		return PreemptLowerPriority
	}
	return *s.PreemptionPolicy
}

// validatePriorityClass checks a class: its value is in the user range
// (or it is exactly one of the built-in classes, which alone may use the
// "system-" prefix), and its preemption policy is known.
func validatePriorityClass(pc *PriorityClass) FieldErrors {
	var errs FieldErrors
	if strings.HasPrefix(pc.Name, SystemPriorityClassPrefix) {
		sys, ok := systemPriorityClass(pc.Name)
		switch {
		case !ok:
			errs = append(errs, Forbidden("metadata.name", "the prefix \"system-\" is reserved for the built-in priority classes "+SystemClusterCritical+" and "+SystemNodeCritical+"; choose another name"))
		case pc.Value != sys.Value:
			errs = append(errs, Invalid("value", pc.Value, "the built-in class "+pc.Name+" has a fixed value"))
		case pc.GlobalDefault:
			errs = append(errs, Invalid("globalDefault", true, "a built-in class cannot be the global default"))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, Invalid("value", pc.Value, "must be at most 1000000000 (higher values are reserved for the built-in system classes)"))
	}
	if pc.PreemptionPolicy != nil {
		if *pc.PreemptionPolicy == "" {
			errs = append(errs, Required("preemptionPolicy", "PreemptLowerPriority or Never"))
		}
		errs = oneOf(errs, "preemptionPolicy", *pc.PreemptionPolicy, PreemptLowerPriority, PreemptNever)
	}
	return errs
}

// validatePriorityClassUpdate keeps the value and the preemption policy:
// pods already carry them.
func validatePriorityClassUpdate(old, new *PriorityClass) FieldErrors {
	var errs FieldErrors
	if new.Value != old.Value {
		errs = append(errs, Invalid("value", new.Value, immutableDetail+": pods already carry the old value; create a new class instead"))
	}
	if PreemptionPolicyOfClass(new) != PreemptionPolicyOfClass(old) {
		errs = append(errs, Invalid("preemptionPolicy", string(PreemptionPolicyOfClass(new)), immutableDetail))
	}
	return errs
}

// PreemptionPolicyOfClass returns a class's preemption policy; unset is
// PreemptLowerPriority.
func PreemptionPolicyOfClass(pc *PriorityClass) PreemptionPolicy {
	if pc.PreemptionPolicy == nil {
		return PreemptLowerPriority
	}
	return *pc.PreemptionPolicy
}
