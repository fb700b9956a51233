package api

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
)

// immutableDetail is the detail of an error about a field that may not change.
const immutableDetail = "field is immutable"

// ValidateUpdate checks that replacing old with new is allowed: it runs
// Validate on new and adds the rules about what may change. An empty uid
// or creationTimestamp in new counts as unchanged (the store keeps the old
// ones).
func ValidateUpdate(old, new Object) FieldErrors {
	if reflect.TypeOf(old) != reflect.TypeOf(new) {
		return FieldErrors{Invalid("kind", fmt.Sprintf("%T", new), fmt.Sprintf("may not change from %T", old))}
	}
	errs := Validate(new)
	errs = append(errs, validateObjectMetaUpdate(old.GetObjectMeta(), new.GetObjectMeta(), "metadata")...)
	switch n := new.(type) {
	case *Node:
		errs = append(errs, validateNodeUpdate(old.(*Node), n)...)
	case *Pod:
		errs = append(errs, validatePodSpecUpdate(&old.(*Pod).Spec, &n.Spec, "spec")...)
	case *ConfigMap:
		o := old.(*ConfigMap)
		if isTrue(o.Immutable) {
			errs = append(errs, immutableData(n.Immutable, map[string]bool{
				"data":       len(changedPaths("", o.Data, n.Data)) > 0,
				"binaryData": len(changedPaths("", o.BinaryData, n.BinaryData)) > 0,
			})...)
		}
	case *Secret:
		o := old.(*Secret)
		if isTrue(o.Immutable) {
			errs = append(errs, immutableData(n.Immutable, map[string]bool{
				"data":       len(changedPaths("", o.Data, n.Data)) > 0,
				"stringData": len(n.StringData) > 0,
			})...)
		}
		if n.Type != o.Type {
			errs = append(errs, Invalid("type", string(n.Type), immutableDetail))
		}
	case *Service:
		errs = append(errs, validateServiceUpdate(&old.(*Service).Spec, &n.Spec, "spec")...)
	case *Deployment:
		errs = append(errs, immutableSelector(old.(*Deployment).Spec.Selector, n.Spec.Selector, "spec.selector")...)
	case *ReplicaSet:
		errs = append(errs, immutableSelector(old.(*ReplicaSet).Spec.Selector, n.Spec.Selector, "spec.selector")...)
	case *DaemonSet:
		errs = append(errs, immutableSelector(old.(*DaemonSet).Spec.Selector, n.Spec.Selector, "spec.selector")...)
	case *StatefulSet:
		errs = append(errs, validateStatefulSetUpdate(&old.(*StatefulSet).Spec, &n.Spec, "spec")...)
	case *ControllerRevision:
		errs = append(errs, validateControllerRevisionUpdate(old.(*ControllerRevision), n)...)
	case *Job:
		errs = append(errs, validateJobUpdate(&old.(*Job).Spec, &n.Spec, "spec")...)
	case *PersistentVolumeClaim:
		for _, path := range changedPaths("spec", &old.(*PersistentVolumeClaim).Spec, &n.Spec) {
			errs = append(errs, Forbidden(path, "a claim's spec cannot change after creation; make a new claim"))
		}
	case *PriorityClass:
		errs = append(errs, validatePriorityClassUpdate(old.(*PriorityClass), n)...)
	case *Build:
		errs = append(errs, immutableSpec("spec", &old.(*Build).Spec, &n.Spec, "a build never changes; push again or start a new build")...)
	case *Release:
		errs = append(errs, immutableSpec("spec", &old.(*Release).Spec, &n.Spec, "a release never changes; make a new release")...)
	}
	return errs
}

// isTrue reports whether an optional bool is set and true.
func isTrue(b *bool) bool { return b != nil && *b }

// validateObjectMetaUpdate keeps name, namespace, uid and creation time.
func validateObjectMetaUpdate(old, new *ObjectMeta, p string) FieldErrors {
	var errs FieldErrors
	if new.Name != old.Name {
		errs = append(errs, Invalid(p+".name", new.Name, immutableDetail))
	}
	if new.Namespace != old.Namespace {
		errs = append(errs, Invalid(p+".namespace", new.Namespace, immutableDetail))
	}
	if new.UID != "" && new.UID != old.UID {
		errs = append(errs, Invalid(p+".uid", new.UID, immutableDetail))
	}
	if !new.CreationTimestamp.IsZero() && !new.CreationTimestamp.Equal(old.CreationTimestamp.Time) {
		errs = append(errs, Invalid(p+".creationTimestamp", new.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z"), immutableDetail))
	}
	return errs
}

// validatePodSpecUpdate allows only the changes Kubernetes allows to a
// running pod: container images, a shorter activeDeadlineSeconds, added
// tolerations, and binding (nodeName set once).
func validatePodSpecUpdate(old, new *PodSpec, p string) FieldErrors {
	var errs FieldErrors
	// Compare new with the allowed changes undone.
	masked := *new
	masked.Containers = maskImages(new.Containers, old.Containers)
	masked.InitContainers = maskImages(new.InitContainers, old.InitContainers)
	masked.ActiveDeadlineSeconds = old.ActiveDeadlineSeconds
	masked.Tolerations = old.Tolerations
	masked.NodeName = old.NodeName
	for _, path := range changedPaths(p, old, &masked) {
		errs = append(errs, Forbidden(path, "pod updates may not change fields other than the images of containers and init containers, activeDeadlineSeconds, tolerations (additions only) and nodeName (set once)"))
	}

	if old.NodeName != "" && new.NodeName != old.NodeName {
		errs = append(errs, Invalid(p+".nodeName", new.NodeName, "may not be changed once the pod is bound to a node"))
	}
	if o := old.ActiveDeadlineSeconds; o != nil {
		switch n := new.ActiveDeadlineSeconds; {
		case n == nil:
			errs = append(errs, Invalid(p+".activeDeadlineSeconds", "null", "may not be unset once set"))
		case *n > *o:
			errs = append(errs, Invalid(p+".activeDeadlineSeconds", *n, fmt.Sprintf("may not be increased: must be less than or equal to %d", *o)))
		}
	}
	for i, ot := range old.Tolerations {
		kept := false
		for _, nt := range new.Tolerations {
			ot.TolerationSeconds, nt.TolerationSeconds = nil, nil
			if reflect.DeepEqual(ot, nt) {
				kept = true
				break
			}
		}
		if !kept {
			errs = append(errs, Forbidden(pathIdx(p+".tolerations", i), "existing tolerations may not be removed or changed, except for tolerationSeconds"))
		}
	}
	return errs
}

// maskImages returns a copy of cs with each image replaced by that of the
// container at the same index in old.
func maskImages(cs, old []Container) []Container {
	if cs == nil {
		return nil
	}
	out := make([]Container, len(cs))
	copy(out, cs)
	for i := range out {
		if i < len(old) {
			out[i].Image = old[i].Image
		}
	}
	return out
}

// immutableData forbids clearing the immutable flag of a ConfigMap or
// Secret, and changing the fields (by name) marked changed.
func immutableData(newFlag *bool, changed map[string]bool) FieldErrors {
	var errs FieldErrors
	const detail = "field is immutable when `immutable` is set"
	if !isTrue(newFlag) {
		errs = append(errs, Forbidden("immutable", detail))
	}
	for _, name := range sortedKeys(changed) {
		if changed[name] {
			errs = append(errs, Forbidden(name, detail))
		}
	}
	return errs
}

// immutableSelector forbids changing a workload's selector.
func immutableSelector(old, new *LabelSelector, p string) FieldErrors {
	if len(changedPaths(p, old, new)) == 0 {
		return nil
	}
	shown := ""
	if new != nil {
		if s, err := LabelSelectorAsSelector(new); err == nil {
			shown = s.String()
		}
	}
	return FieldErrors{Invalid(p, shown, immutableDetail)}
}

// validateNodeUpdate lets the pod CIDRs be set once.
func validateNodeUpdate(old, new *Node) FieldErrors {
	var errs FieldErrors
	if old.Spec.PodCIDR != "" && new.Spec.PodCIDR != old.Spec.PodCIDR {
		errs = append(errs, Forbidden("spec.podCIDR", "may not be changed once set"))
	}
	if len(old.Spec.PodCIDRs) > 0 && len(changedPaths("", old.Spec.PodCIDRs, new.Spec.PodCIDRs)) > 0 {
		errs = append(errs, Forbidden("spec.podCIDRs", "may not be changed once set"))
	}
	return errs
}

// validateServiceUpdate keeps an assigned cluster IP.
func validateServiceUpdate(old, new *ServiceSpec, p string) FieldErrors {
	var errs FieldErrors
	if old.ClusterIP != "" && new.ClusterIP != old.ClusterIP {
		errs = append(errs, Invalid(p+".clusterIP", new.ClusterIP, immutableDetail))
	}
	if len(old.ClusterIPs) > 0 && len(changedPaths("", old.ClusterIPs, new.ClusterIPs)) > 0 {
		errs = append(errs, Invalid(p+".clusterIPs", strings.Join(new.ClusterIPs, ","), immutableDetail))
	}
	return errs
}

// validateStatefulSetUpdate lets only replicas, template, updateStrategy,
// minReadySeconds and revisionHistoryLimit change.
func validateStatefulSetUpdate(old, new *StatefulSetSpec, p string) FieldErrors {
	errs := immutableSelector(old.Selector, new.Selector, p+".selector")
	masked := *new
	masked.Replicas = old.Replicas
	masked.Template = old.Template
	masked.UpdateStrategy = old.UpdateStrategy
	masked.MinReadySeconds = old.MinReadySeconds
	masked.RevisionHistoryLimit = old.RevisionHistoryLimit
	masked.Selector = old.Selector // reported above
	for _, path := range changedPaths(p, old, &masked) {
		errs = append(errs, Forbidden(path, "updates to statefulset spec for fields other than 'replicas', 'template', 'updateStrategy', 'minReadySeconds' and 'revisionHistoryLimit' are forbidden"))
	}
	return errs
}

// validateJobUpdate keeps a job's selector, pod template and completions.
func validateJobUpdate(old, new *JobSpec, p string) FieldErrors {
	errs := immutableSelector(old.Selector, new.Selector, p+".selector")
	for _, path := range changedPaths(p+".template", &old.Template, &new.Template) {
		errs = append(errs, Forbidden(path, "a job's pod template is immutable"))
	}
	if len(changedPaths("", old.Completions, new.Completions)) > 0 {
		errs = append(errs, Invalid(p+".completions", fmtOptional(new.Completions), immutableDetail))
	}
	if len(changedPaths("", old.CompletionMode, new.CompletionMode)) > 0 {
		errs = append(errs, Invalid(p+".completionMode", fmtOptional(new.CompletionMode), immutableDetail))
	}
	if len(changedPaths("", old.ManualSelector, new.ManualSelector)) > 0 {
		errs = append(errs, Invalid(p+".manualSelector", fmtOptional(new.ManualSelector), immutableDetail))
	}
	return errs
}

// fmtOptional prints an optional value, or null.
func fmtOptional[T any](v *T) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}

// changedPaths returns the paths, under p, of the fields in which a and b
// (values of one type) differ. Paths use JSON field names. Nil and empty
// slices and maps are equal, quantities compare by value, and a changed
// list length is reported at the list.
func changedPaths(p string, a, b any) []string {
	var out []string
	diffValues(p, reflect.ValueOf(a), reflect.ValueOf(b), &out)
	return out
}

// diffValues appends to out the paths where a and b differ.
func diffValues(p string, a, b reflect.Value, out *[]string) {
	if !a.IsValid() || !b.IsValid() {
		if a.IsValid() != b.IsValid() {
			*out = append(*out, p)
		}
		return
	}
	switch a.Type() {
	case reflect.TypeFor[Quantity]():
		if !a.Interface().(Quantity).Equal(b.Interface().(Quantity)) {
			*out = append(*out, p)
		}
		return
	case reflect.TypeFor[Time]():
		if !a.Interface().(Time).Equal(b.Interface().(Time).Time) {
			*out = append(*out, p)
		}
		return
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, p)
			}
			return
		}
		diffValues(p, a.Elem(), b.Elem(), out)
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fp := p
			switch {
			case f.Anonymous && name == "":
				// Inline: its fields sit at this level.
			case name == "-":
				continue
			default:
				if name == "" {
					name = f.Name
				}
				fp = joinPath(p, name)
			}
			diffValues(fp, a.Field(i), b.Field(i), out)
		}
	case reflect.Slice:
		if a.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				*out = append(*out, p)
			}
			return
		}
		if a.Len() != b.Len() {
			*out = append(*out, p)
			return
		}
		for i := range a.Len() {
			diffValues(pathIdx(p, i), a.Index(i), b.Index(i), out)
		}
	case reflect.Map:
		keys := map[string]reflect.Value{}
		for _, k := range a.MapKeys() {
			keys[fmt.Sprint(k.Interface())] = k
		}
		for _, k := range b.MapKeys() {
			keys[fmt.Sprint(k.Interface())] = k
		}
		for _, ks := range sortedKeys(keys) {
			k := keys[ks]
			diffValues(pathKey(p, ks), a.MapIndex(k), b.MapIndex(k), out)
		}
	default:
		if !a.Equal(b) {
			*out = append(*out, p)
		}
	}
}

// joinPath appends a field name to a path.
func joinPath(p, name string) string {
	if p == "" {
		return name
	}
	return p + "." + name
}
