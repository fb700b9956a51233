package api

import "fmt"

// validateDeploymentSpec checks a deployment's spec.
func validateDeploymentSpec(s *DeploymentSpec, p string) FieldErrors {
	var errs FieldErrors
	errs = nonNegativePtr(errs, p+".replicas", s.Replicas)
	errs = append(errs, validateSelectorAndTemplate(s.Selector, &s.Template, p, true)...)
	errs = append(errs, validateAlwaysRestart(&s.Template.Spec, p+".template.spec", "Deployment")...)
	errs = nonNegative(errs, p+".minReadySeconds", s.MinReadySeconds)
	errs = nonNegativePtr(errs, p+".revisionHistoryLimit", s.RevisionHistoryLimit)
	if d := s.ProgressDeadlineSeconds; d != nil {
		switch {
		case *d < 0:
			errs = append(errs, Invalid(p+".progressDeadlineSeconds", *d, "must be greater than or equal to 0"))
		case *d <= s.MinReadySeconds:
			errs = append(errs, Invalid(p+".progressDeadlineSeconds", *d, "must be greater than minReadySeconds"))
		}
	}
	sp := p + ".strategy"
	switch s.Strategy.Type {
	case RecreateDeploymentStrategyType:
		if s.Strategy.RollingUpdate != nil {
			errs = append(errs, Forbidden(sp+".rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
		}
	case RollingUpdateDeploymentStrategyType, "":
		if ru := s.Strategy.RollingUpdate; ru != nil {
			errs = append(errs, validateSurgeUnavailable(ru.MaxSurge, ru.MaxUnavailable, sp+".rollingUpdate")...)
		}
	default:
		errs = append(errs, NotSupported(sp+".type", string(s.Strategy.Type),
			string(RecreateDeploymentStrategyType), string(RollingUpdateDeploymentStrategyType)))
	}
	return errs
}

// validateReplicaSetSpec checks a replica set's spec.
func validateReplicaSetSpec(s *ReplicaSetSpec, p string) FieldErrors {
	var errs FieldErrors
	errs = nonNegativePtr(errs, p+".replicas", s.Replicas)
	errs = nonNegative(errs, p+".minReadySeconds", s.MinReadySeconds)
	errs = append(errs, validateSelectorAndTemplate(s.Selector, &s.Template, p, true)...)
	errs = append(errs, validateAlwaysRestart(&s.Template.Spec, p+".template.spec", "ReplicaSet")...)
	return errs
}

// validateDaemonSetSpec checks a daemon set's spec.
func validateDaemonSetSpec(s *DaemonSetSpec, p string) FieldErrors {
	var errs FieldErrors
	errs = append(errs, validateSelectorAndTemplate(s.Selector, &s.Template, p, true)...)
	errs = append(errs, validateAlwaysRestart(&s.Template.Spec, p+".template.spec", "DaemonSet")...)
	errs = nonNegative(errs, p+".minReadySeconds", s.MinReadySeconds)
	errs = nonNegativePtr(errs, p+".revisionHistoryLimit", s.RevisionHistoryLimit)
	up := p + ".updateStrategy"
	switch s.UpdateStrategy.Type {
	case OnDeleteDaemonSetStrategyType:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, Forbidden(up+".rollingUpdate", "may not be specified when strategy `type` is 'OnDelete'"))
		}
	case RollingUpdateDaemonSetStrategyType, "":
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, validateSurgeUnavailable(ru.MaxSurge, ru.MaxUnavailable, up+".rollingUpdate")...)
		}
	default:
		errs = append(errs, NotSupported(up+".type", string(s.UpdateStrategy.Type),
			string(RollingUpdateDaemonSetStrategyType), string(OnDeleteDaemonSetStrategyType)))
	}
	return errs
}

// validateStatefulSetSpec checks a stateful set's spec.
func validateStatefulSetSpec(s *StatefulSetSpec, p string) FieldErrors {
	var errs FieldErrors
	errs = nonNegativePtr(errs, p+".replicas", s.Replicas)
	claims := make([]string, len(s.VolumeClaimTemplates))
	for i, c := range s.VolumeClaimTemplates {
		claims[i] = c.Name
	}
	errs = append(errs, validateSelectorAndTemplate(s.Selector, &s.Template, p, true, claims...)...)
	errs = append(errs, validateAlwaysRestart(&s.Template.Spec, p+".template.spec", "StatefulSet")...)
	errs = nonNegative(errs, p+".minReadySeconds", s.MinReadySeconds)
	errs = nonNegativePtr(errs, p+".revisionHistoryLimit", s.RevisionHistoryLimit)
	if s.ServiceName != "" {
		errs = checkName(errs, p+".serviceName", s.ServiceName, IsDNS1123Label)
	}
	errs = oneOf(errs, p+".podManagementPolicy", s.PodManagementPolicy, OrderedReadyPodManagement, ParallelPodManagement)
	up := p + ".updateStrategy"
	switch s.UpdateStrategy.Type {
	case OnDeleteStatefulSetStrategyType:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, Forbidden(up+".rollingUpdate", "may not be specified when strategy `type` is 'OnDelete'"))
		}
	case RollingUpdateStatefulSetStrategyType, "":
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			errs = nonNegativePtr(errs, up+".rollingUpdate.partition", ru.Partition)
			if mu := ru.MaxUnavailable; mu != nil {
				rp := up + ".rollingUpdate.maxUnavailable"
				errs = append(errs, validateIntOrPercent(mu, rp)...)
				if v, err := mu.GetScaledValue(100, true); err == nil && v < 1 {
					errs = append(errs, Invalid(rp, mu.String(), "must be greater than 0"))
				}
			}
		}
	default:
		errs = append(errs, NotSupported(up+".type", string(s.UpdateStrategy.Type),
			string(RollingUpdateStatefulSetStrategyType), string(OnDeleteStatefulSetStrategyType)))
	}
	names := map[string]bool{}
	for i := range s.VolumeClaimTemplates {
		cp := pathIdx(p+".volumeClaimTemplates", i)
		c := &s.VolumeClaimTemplates[i]
		if c.Name != "" && names[c.Name] {
			errs = append(errs, Duplicate(cp+".metadata.name", c.Name))
		} else {
			errs = requireName(errs, cp+".metadata.name", c.Name, IsDNS1123Subdomain)
		}
		names[c.Name] = true
		errs = append(errs, ValidateLabels(c.Labels, cp+".metadata.labels")...)
		errs = append(errs, ValidateAnnotations(c.Annotations, cp+".metadata.annotations")...)
		errs = append(errs, validatePVCSpec(&c.Spec, cp+".spec")...)
	}
	return errs
}

// validatePVCSpec checks a claim's (or claim template's) access modes,
// size and class.
func validatePVCSpec(s *PersistentVolumeClaimSpec, p string) FieldErrors {
	var errs FieldErrors
	if len(s.AccessModes) == 0 {
		errs = append(errs, Required(p+".accessModes", "at least 1 access mode is required"))
	}
	for i, m := range s.AccessModes {
		mp := pathIdx(p+".accessModes", i)
		switch m {
		case ReadWriteOnce, ReadWriteOncePod:
		case ReadOnlyMany, ReadWriteMany:
			errs = append(errs, Invalid(mp, string(m), "a "+StorageClassLocal+" volume lives on one node: use ReadWriteOnce or ReadWriteOncePod"))
		default:
			errs = append(errs, NotSupported(mp, string(m), string(ReadWriteOnce), string(ReadWriteOncePod)))
		}
	}
	rp := p + ".resources.requests"
	if q, ok := s.Resources.Requests[ResourceStorage]; !ok || q.Sign() <= 0 {
		errs = append(errs, Required(pathKey(rp, ResourceStorage), "a positive size such as 1Gi"))
	}
	for _, l := range []struct {
		name string
		list ResourceList
	}{{"limits", s.Resources.Limits}, {"requests", s.Resources.Requests}} {
		for _, name := range sortedKeys(l.list) {
			errs = oneOf(errs, pathKey(p+".resources."+l.name, name), name, ResourceStorage)
		}
	}
	if c := s.StorageClassName; c != nil && *c != "" && *c != StorageClassLocal {
		errs = append(errs, NotSupported(p+".storageClassName", *c, StorageClassLocal))
	}
	return errs
}

// validateSelectorAndTemplate checks a workload's selector (required or
// not) and pod template, and that the selector matches the template's
// labels. p is the path of the spec; claims as for validatePodSpec.
func validateSelectorAndTemplate(sel *LabelSelector, t *PodTemplateSpec, p string, required bool, claims ...string) FieldErrors {
	var errs FieldErrors
	switch {
	case sel == nil:
		if required {
			errs = append(errs, Required(p+".selector", "a label selector matching the template's labels"))
		}
	case len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0:
		errs = append(errs, Invalid(p+".selector", "", "empty selector is invalid: it would match every pod"))
	default:
		selErrs := ValidateLabelSelector(sel, p+".selector")
		errs = append(errs, selErrs...)
		if len(selErrs) == 0 {
			s, err := LabelSelectorAsSelector(sel)
			switch {
			case err != nil:
				errs = append(errs, Invalid(p+".selector", "", err.Error()))
			case !s.Matches(t.Labels):
				errs = append(errs, Invalid(p+".template.metadata.labels", labelsString(t.Labels),
					fmt.Sprintf("`selector` %q does not match template `labels`", s.String())))
			}
		}
	}
	errs = append(errs, validatePodTemplate(t, p+".template", claims...)...)
	return errs
}

// validatePodTemplate checks a pod template's labels, annotations and spec.
func validatePodTemplate(t *PodTemplateSpec, p string, claims ...string) FieldErrors {
	var errs FieldErrors
	errs = append(errs, ValidateLabels(t.Labels, p+".metadata.labels")...)
	errs = append(errs, ValidateAnnotations(t.Annotations, p+".metadata.annotations")...)
	errs = append(errs, validatePodSpec(&t.Spec, p+".spec", claims...)...)
	return errs
}

// validateAlwaysRestart checks the template of a long-running workload:
// its pods restart Always and have no deadline.
func validateAlwaysRestart(s *PodSpec, p, kind string) FieldErrors {
	var errs FieldErrors
	switch s.RestartPolicy {
	case RestartPolicyOnFailure, RestartPolicyNever:
		errs = append(errs, NotSupported(p+".restartPolicy", string(s.RestartPolicy), string(RestartPolicyAlways)))
	}
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, Forbidden(p+".activeDeadlineSeconds", "not supported in a "+kind+"'s pod template"))
	}
	return errs
}

// validateIntOrPercent checks a count or percentage: an int ≥ 0 or "N%".
func validateIntOrPercent(v *IntOrString, p string) FieldErrors {
	switch {
	case v.Type == IntType && v.IntVal < 0:
		return FieldErrors{Invalid(p, v.IntVal, "must be greater than or equal to 0")}
	case v.Type == StringType && !v.IsPercent():
		return FieldErrors{Invalid(p, v.StrVal, "must be an integer or percentage (e.g. '5%')")}
	}
	return nil
}

// validateSurgeUnavailable checks a rolling update's bounds: valid, at most
// 100% unavailable, and not both 0.
func validateSurgeUnavailable(surge, unavailable *IntOrString, p string) FieldErrors {
	var errs FieldErrors
	zero := func(v *IntOrString) bool {
		if v == nil {
			return false // defaulted to a non-zero value
		}
		n, err := v.GetScaledValue(100, false)
		return err == nil && n == 0
	}
	if surge != nil {
		errs = append(errs, validateIntOrPercent(surge, p+".maxSurge")...)
	}
	if unavailable != nil {
		up := p + ".maxUnavailable"
		errs = append(errs, validateIntOrPercent(unavailable, up)...)
		if v, err := unavailable.GetScaledValue(100, false); unavailable.IsPercent() && err == nil && v > 100 {
			errs = append(errs, Invalid(up, unavailable.StrVal, "must not be greater than 100%"))
		}
	}
	if zero(surge) && zero(unavailable) {
		errs = append(errs, Invalid(p+".maxUnavailable", unavailable.String(), "may not be 0 when `maxSurge` is 0"))
	}
	return errs
}
