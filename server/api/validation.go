package api

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Validate checks obj against the rules of its kind and returns every
// problem found, each naming its field by full path
// ("spec.template.spec.containers[1].ports[0].containerPort"). Run Default
// first: Validate accepts an unset field that Default would fill.
//
// The rules per kind are in validation_core.go, validation_pod.go,
// validation_apps.go, validation_batch.go, validation_rbac.go and
// validation_paas.go; the rules for updates in validation_update.go.
func Validate(obj Object) FieldErrors {
	k, err := KindOf(obj)
	if err != nil {
		return FieldErrors{Invalid("kind", fmt.Sprintf("%T", obj), "not a kind skiff serves")}
	}
	nameFn := IsDNS1123Subdomain
	switch obj.(type) {
	case *Namespace, *Service, *App:
		nameFn = IsDNS1123Label
	}
	errs := validateObjectMeta(obj.GetObjectMeta(), k.Namespaced, nameFn, "metadata")
	switch o := obj.(type) {
	case *Namespace:
		errs = append(errs, validateNamespace(o)...)
	case *Node:
		errs = append(errs, validateNode(o)...)
	case *Pod:
		errs = append(errs, validatePodSpec(&o.Spec, "spec")...)
		errs = append(errs, validatePodStatus(&o.Status, "status")...)
	case *ConfigMap:
		errs = append(errs, validateConfigMap(o)...)
	case *Secret:
		errs = append(errs, validateSecret(o)...)
	case *Event:
		errs = append(errs, validateEvent(o)...)
	case *Service:
		errs = append(errs, validateServiceSpec(&o.Spec, "spec")...)
	case *Endpoints:
		errs = append(errs, validateEndpoints(o)...)
	case *Deployment:
		errs = append(errs, validateDeploymentSpec(&o.Spec, "spec")...)
	case *ReplicaSet:
		errs = append(errs, validateReplicaSetSpec(&o.Spec, "spec")...)
	case *DaemonSet:
		errs = append(errs, validateDaemonSetSpec(&o.Spec, "spec")...)
	case *StatefulSet:
		errs = append(errs, validateStatefulSetSpec(&o.Spec, "spec")...)
	case *ControllerRevision:
		errs = append(errs, validateControllerRevision(o)...)
	case *Job:
		errs = append(errs, validateJobSpec(&o.Spec, "spec")...)
	case *CronJob:
		errs = append(errs, validateCronJob(o)...)
	case *PersistentVolumeClaim:
		errs = append(errs, validatePVCSpec(&o.Spec, "spec")...)
		errs = oneOf(errs, "status.phase", o.Status.Phase, ClaimPending, ClaimBound)
		if n, ok := o.Annotations[AnnotationSelectedNode]; ok {
			errs = checkName(errs, pathKey("metadata.annotations", AnnotationSelectedNode), n, IsDNS1123Subdomain)
		}
	case *PriorityClass:
		errs = append(errs, validatePriorityClass(o)...)
	case *User:
		errs = append(errs, validateUser(o)...)
	case *Role:
		errs = append(errs, validateRole(o)...)
	case *RoleBinding:
		errs = append(errs, validateRoleBinding(o)...)
	case *App:
		errs = append(errs, validateApp(o)...)
	case *Build:
		errs = append(errs, validateBuild(o)...)
	case *Release:
		errs = append(errs, validateRelease(o)...)
	}
	return errs
}

// validateObjectMeta checks the metadata every kind has. nameFn checks
// the name's form (DNS subdomain or DNS label).
func validateObjectMeta(m *ObjectMeta, namespaced bool, nameFn func(string) []string, p string) FieldErrors {
	var errs FieldErrors
	switch {
	case m.Name != "":
		if probs := nameFn(m.Name); len(probs) > 0 {
			errs = append(errs, Invalid(p+".name", m.Name, joinProblems(probs)))
		}
	case m.GenerateName != "":
		// The generated name adds a suffix; check the prefix as a name.
		prefix := strings.TrimSuffix(m.GenerateName, "-") + "a"
		if probs := nameFn(prefix); len(probs) > 0 {
			errs = append(errs, Invalid(p+".generateName", m.GenerateName, joinProblems(probs)))
		}
	default:
		errs = append(errs, Required(p+".name", "name or generateName is required"))
	}
	switch {
	case namespaced && m.Namespace == "":
		errs = append(errs, Required(p+".namespace", ""))
	case namespaced:
		if probs := IsDNS1123Label(m.Namespace); len(probs) > 0 {
			errs = append(errs, Invalid(p+".namespace", m.Namespace, joinProblems(probs)))
		}
	case m.Namespace != "":
		errs = append(errs, Forbidden(p+".namespace", "not allowed on this type: it is cluster-scoped"))
	}
	errs = append(errs, ValidateLabels(m.Labels, p+".labels")...)
	errs = append(errs, ValidateAnnotations(m.Annotations, p+".annotations")...)
	controllers := 0
	for i, ref := range m.OwnerReferences {
		rp := pathIdx(p+".ownerReferences", i)
		if ref.APIVersion == "" {
			errs = append(errs, Required(rp+".apiVersion", ""))
		}
		if ref.Kind == "" {
			errs = append(errs, Required(rp+".kind", ""))
		}
		if ref.Name == "" {
			errs = append(errs, Required(rp+".name", ""))
		}
		if ref.UID == "" {
			errs = append(errs, Required(rp+".uid", ""))
		}
		if ref.Controller != nil && *ref.Controller {
			controllers++
			if controllers > 1 {
				errs = append(errs, Invalid(rp+".controller", true, "only one owner reference can have controller set to true"))
			}
		}
	}
	for i, f := range m.Finalizers {
		if probs := IsQualifiedName(f); len(probs) > 0 {
			errs = append(errs, Invalid(pathIdx(p+".finalizers", i), f, joinProblems(probs)))
		}
	}
	if m.Generation < 0 {
		errs = append(errs, Invalid(p+".generation", m.Generation, "must be greater than or equal to 0"))
	}
	return errs
}

// pathIdx returns the path of element i of the list at p.
func pathIdx(p string, i int) string { return fmt.Sprintf("%s[%d]", p, i) }

// pathKey returns the path of key k of the map at p.
func pathKey(p, k string) string { return p + "[" + k + "]" }

// joinProblems joins the problem descriptions of the Is* checks.
func joinProblems(probs []string) string { return strings.Join(probs, "; ") }

// sortedKeys returns m's keys in order, for errors in a stable order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// checkName appends an error if name fails fn.
func checkName(errs FieldErrors, p, name string, fn func(string) []string) FieldErrors {
	if probs := fn(name); len(probs) > 0 {
		return append(errs, Invalid(p, name, joinProblems(probs)))
	}
	return errs
}

// requireName appends Required if name is empty, else checks it with fn.
func requireName(errs FieldErrors, p, name string, fn func(string) []string) FieldErrors {
	if name == "" {
		return append(errs, Required(p, ""))
	}
	return checkName(errs, p, name, fn)
}

// nonNegative appends an error if v < 0.
func nonNegative[T int32 | int64](errs FieldErrors, p string, v T) FieldErrors {
	if v < 0 {
		return append(errs, Invalid(p, v, "must be greater than or equal to 0"))
	}
	return errs
}

// nonNegativePtr is nonNegative for an optional value.
func nonNegativePtr[T int32 | int64](errs FieldErrors, p string, v *T) FieldErrors {
	if v != nil {
		return nonNegative(errs, p, *v)
	}
	return errs
}

// positivePtr appends an error if v is set and not above 0.
func positivePtr[T int32 | int64](errs FieldErrors, p string, v *T) FieldErrors {
	if v != nil && *v <= 0 {
		return append(errs, Invalid(p, *v, "must be greater than 0"))
	}
	return errs
}

// oneOf appends NotSupported if v is not empty and not in valid.
func oneOf[T ~string](errs FieldErrors, p string, v T, valid ...T) FieldErrors {
	if v == "" || slices.Contains(valid, v) {
		return errs
	}
	names := make([]string, len(valid))
	for i, s := range valid {
		names[i] = string(s)
	}
	return append(errs, NotSupported(p, string(v), names...))
}

// checkIP appends an error if s is not an IPv4 or IPv6 address.
func checkIP(errs FieldErrors, p, s string) FieldErrors {
	if _, err := netip.ParseAddr(s); err != nil || strings.Contains(s, "%") {
		return append(errs, Invalid(p, s, "must be a valid IPv4 or IPv6 address"))
	}
	return errs
}

// checkCIDR appends an error if s is not an IP prefix such as 10.42.0.0/24.
func checkCIDR(errs FieldErrors, p, s string) FieldErrors {
	if _, err := netip.ParsePrefix(s); err != nil {
		return append(errs, Invalid(p, s, "must be a valid CIDR such as 10.42.0.0/24 or fd00::/64"))
	}
	return errs
}

// checkPort appends an error if v is not a port number.
func checkPort[T int32 | int](errs FieldErrors, p string, v T) FieldErrors {
	if v < 1 || v > 65535 {
		return append(errs, Invalid(p, v, "must be between 1 and 65535, inclusive"))
	}
	return errs
}

// portNameProblems checks an IANA service name, the form of a port name:
// at most 15 lower-case letters, digits and dashes, with a letter, and no
// dash at either end or next to another.
func portNameProblems(s string) []string {
	var probs []string
	if len(s) > 15 {
		probs = append(probs, "must be no more than 15 characters")
	}
	letter := false
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9' || c == '-':
		default:
			return append(probs, "must contain only lower-case letters, digits and '-'")
		}
	}
	if !letter {
		probs = append(probs, "must contain at least one letter")
	}
	if strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
		probs = append(probs, "must not begin or end with '-'")
	}
	if strings.Contains(s, "--") {
		probs = append(probs, "must not contain consecutive '-'")
	}
	return probs
}

// checkPortNumOrName appends an error if v is neither a port number nor a
// port name.
func checkPortNumOrName(errs FieldErrors, p string, v IntOrString) FieldErrors {
	if v.Type == IntType {
		return checkPort(errs, p, v.IntVal)
	}
	if v.StrVal == "" {
		return append(errs, Required(p, "a port number or name"))
	}
	return checkName(errs, p, v.StrVal, portNameProblems)
}

// configKeyProblems checks a ConfigMap or Secret key: what may be a file
// name, [-._a-zA-Z0-9]+, at most 253 characters, and not "." or "..".
func configKeyProblems(k string) []string {
	var probs []string
	if k == "" {
		return []string{"must not be empty"}
	}
	if len(k) > 253 {
		probs = append(probs, "must be no more than 253 characters")
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			probs = append(probs, "must consist of alphanumeric characters, '-', '_' or '.'")
			break
		}
	}
	switch {
	case k == "." || k == "..":
		probs = append(probs, "must not be '.' or '..'")
	case strings.HasPrefix(k, ".."):
		probs = append(probs, "must not start with '..'")
	}
	return probs
}

// relativePathProblems checks a path inside a volume: relative, with no
// ".." element.
func relativePathProblems(s string) []string {
	var probs []string
	if strings.HasPrefix(s, "/") {
		probs = append(probs, "must be a relative path")
	}
	if slices.Contains(strings.Split(s, "/"), "..") {
		probs = append(probs, "must not contain '..'")
	}
	return probs
}

// labelsString prints a label map as "a=b,c=d", for error messages.
func labelsString(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
