package api

import (
	"fmt"
	"strings"
)

// maxID is the largest user or group ID.
const maxID = 2147483647

// validatePodSpec checks a pod's spec, or a pod template's, at path p.
// claims name the volumes a StatefulSet adds from its claim templates,
// which containers may mount too.
func validatePodSpec(s *PodSpec, p string, claims ...string) FieldErrors {
	var errs FieldErrors
	volumes, vErrs := validateVolumes(s.Volumes, p+".volumes")
	errs = append(errs, vErrs...)
	for _, c := range claims {
		volumes[c] = true
	}

	if len(s.Containers) == 0 {
		errs = append(errs, Required(p+".containers", "a pod needs at least one container"))
	}
	names := map[string]bool{}
	hostPorts := map[string]bool{}
	for i := range s.InitContainers {
		cp := pathIdx(p+".initContainers", i)
		errs = append(errs, validateContainer(&s.InitContainers[i], cp, volumes, names, s.HostNetwork)...)
		c := &s.InitContainers[i]
		if c.LivenessProbe != nil {
			errs = append(errs, Forbidden(cp+".livenessProbe", "may not be set for init containers"))
		}
		if c.ReadinessProbe != nil {
			errs = append(errs, Forbidden(cp+".readinessProbe", "may not be set for init containers"))
		}
		if c.StartupProbe != nil {
			errs = append(errs, Forbidden(cp+".startupProbe", "may not be set for init containers"))
		}
	}
	for i := range s.Containers {
		cp := pathIdx(p+".containers", i)
		errs = append(errs, validateContainer(&s.Containers[i], cp, volumes, names, s.HostNetwork)...)
		errs = append(errs, checkHostPorts(&s.Containers[i], cp, hostPorts)...)
	}

	errs = oneOf(errs, p+".restartPolicy", s.RestartPolicy, RestartPolicyAlways, RestartPolicyOnFailure, RestartPolicyNever)
	errs = oneOf(errs, p+".dnsPolicy", s.DNSPolicy, DNSClusterFirst, DNSClusterFirstWithHostNet, DNSDefault)
	errs = nonNegativePtr(errs, p+".terminationGracePeriodSeconds", s.TerminationGracePeriodSeconds)
	errs = positivePtr(errs, p+".activeDeadlineSeconds", s.ActiveDeadlineSeconds)
	errs = append(errs, ValidateLabels(s.NodeSelector, p+".nodeSelector")...)
	if s.SchedulerName != "" {
		errs = checkName(errs, p+".schedulerName", s.SchedulerName, IsDNS1123Subdomain)
	}
	if s.NodeName != "" {
		errs = checkName(errs, p+".nodeName", s.NodeName, IsDNS1123Subdomain)
	}
	if s.Hostname != "" {
		errs = checkName(errs, p+".hostname", s.Hostname, IsDNS1123Label)
	}
	if s.Subdomain != "" {
		errs = checkName(errs, p+".subdomain", s.Subdomain, IsDNS1123Label)
	}
	for i, ref := range s.ImagePullSecrets {
		errs = requireName(errs, pathIdx(p+".imagePullSecrets", i)+".name", ref.Name, IsDNS1123Subdomain)
	}
	if s.SecurityContext != nil {
		errs = append(errs, validatePodSecurityContext(s.SecurityContext, p+".securityContext")...)
	}
	if s.Affinity != nil {
		errs = append(errs, validateAffinity(s.Affinity, p+".affinity")...)
	}
	for i := range s.Tolerations {
		errs = append(errs, validateToleration(&s.Tolerations[i], pathIdx(p+".tolerations", i))...)
	}
	errs = append(errs, validateTopologySpread(s.TopologySpreadConstraints, p+".topologySpreadConstraints")...)
	if s.PriorityClassName != "" {
		errs = checkName(errs, p+".priorityClassName", s.PriorityClassName, IsDNS1123Subdomain)
	}
	// Priority may be negative, as in Kubernetes: a class's value is any
	// int32 up to HighestUserDefinablePriority.
	if pp := s.PreemptionPolicy; pp != nil {
		if *pp == "" {
			errs = append(errs, Required(p+".preemptionPolicy", "PreemptLowerPriority or Never"))
		}
		errs = oneOf(errs, p+".preemptionPolicy", *pp, PreemptLowerPriority, PreemptNever)
	}
	return errs
}

// validateVolumes checks the volumes and returns the set of their names.
func validateVolumes(vols []Volume, p string) (map[string]bool, FieldErrors) {
	var errs FieldErrors
	names := map[string]bool{}
	for i := range vols {
		v := &vols[i]
		vp := pathIdx(p, i)
		if v.Name != "" && names[v.Name] {
			errs = append(errs, Duplicate(vp+".name", v.Name))
		} else {
			errs = requireName(errs, vp+".name", v.Name, IsDNS1123Label)
		}
		names[v.Name] = true
		errs = append(errs, validateVolumeSource(&v.VolumeSource, vp)...)
	}
	return names, errs
}

// validateVolumeSource checks that exactly one source is set, and it.
func validateVolumeSource(s *VolumeSource, p string) FieldErrors {
	var errs FieldErrors
	n := 0
	more := func(name string) {
		n++
		if n > 1 {
			errs = append(errs, Forbidden(p+"."+name, "may not specify more than 1 volume type"))
		}
	}
	if s.HostPath != nil {
		more("hostPath")
		hp := p + ".hostPath"
		switch {
		case s.HostPath.Path == "":
			errs = append(errs, Required(hp+".path", ""))
		case !strings.HasPrefix(s.HostPath.Path, "/"):
			errs = append(errs, Invalid(hp+".path", s.HostPath.Path, "must be an absolute path"))
		case strings.Contains("/"+s.HostPath.Path+"/", "/../"):
			errs = append(errs, Invalid(hp+".path", s.HostPath.Path, "must not contain '..'"))
		}
		if s.HostPath.Type != nil {
			errs = oneOf(errs, hp+".type", *s.HostPath.Type, HostPathDirectoryOrCreate, HostPathDirectory,
				HostPathFileOrCreate, HostPathFile, HostPathSocket, HostPathCharDev, HostPathBlockDev)
		}
	}
	if s.EmptyDir != nil {
		more("emptyDir")
		errs = oneOf(errs, p+".emptyDir.medium", s.EmptyDir.Medium, StorageMediumMemory)
		if s.EmptyDir.SizeLimit != nil && s.EmptyDir.SizeLimit.Sign() < 0 {
			errs = append(errs, Invalid(p+".emptyDir.sizeLimit", s.EmptyDir.SizeLimit.String(), "must be greater than or equal to 0"))
		}
	}
	if s.Secret != nil {
		more("secret")
		sp := p + ".secret"
		errs = requireName(errs, sp+".secretName", s.Secret.SecretName, IsDNS1123Subdomain)
		errs = append(errs, validateFileMode(s.Secret.DefaultMode, sp+".defaultMode")...)
		errs = append(errs, validateKeyToPaths(s.Secret.Items, sp+".items")...)
	}
	if s.ConfigMap != nil {
		more("configMap")
		cp := p + ".configMap"
		errs = requireName(errs, cp+".name", s.ConfigMap.Name, IsDNS1123Subdomain)
		errs = append(errs, validateFileMode(s.ConfigMap.DefaultMode, cp+".defaultMode")...)
		errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, cp+".items")...)
	}
	if s.PersistentVolumeClaim != nil {
		more("persistentVolumeClaim")
		errs = requireName(errs, p+".persistentVolumeClaim.claimName", s.PersistentVolumeClaim.ClaimName, IsDNS1123Subdomain)
	}
	if n == 0 {
		errs = append(errs, Required(p, "must specify a volume type: emptyDir, hostPath, configMap, secret or persistentVolumeClaim"))
	}
	return errs
}

// validateFileMode checks a file mode is within 0-0777.
func validateFileMode(mode *int32, p string) FieldErrors {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		return FieldErrors{Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

// validateKeyToPaths checks the items of a configMap or secret volume.
func validateKeyToPaths(items []KeyToPath, p string) FieldErrors {
	var errs FieldErrors
	for i, it := range items {
		ip := pathIdx(p, i)
		errs = requireName(errs, ip+".key", it.Key, configKeyProblems)
		errs = requireName(errs, ip+".path", it.Path, relativePathProblems)
		errs = append(errs, validateFileMode(it.Mode, ip+".mode")...)
	}
	return errs
}

// validateContainer checks one container. names holds the names of the
// containers seen so far, init and app alike.
func validateContainer(c *Container, p string, volumes, names map[string]bool, hostNetwork bool) FieldErrors {
	var errs FieldErrors
	if c.Name != "" && names[c.Name] {
		errs = append(errs, Duplicate(p+".name", c.Name))
	} else {
		errs = requireName(errs, p+".name", c.Name, IsDNS1123Label)
	}
	names[c.Name] = true
	switch {
	case c.Image == "":
		errs = append(errs, Required(p+".image", ""))
	case strings.TrimSpace(c.Image) != c.Image:
		errs = append(errs, Invalid(p+".image", c.Image, "must not have leading or trailing whitespace"))
	}
	errs = oneOf(errs, p+".imagePullPolicy", c.ImagePullPolicy, PullAlways, PullIfNotPresent, PullNever)

	portNames := map[string]bool{}
	for i, port := range c.Ports {
		pp := pathIdx(p+".ports", i)
		if port.Name != "" {
			if portNames[port.Name] {
				errs = append(errs, Duplicate(pp+".name", port.Name))
			} else {
				errs = checkName(errs, pp+".name", port.Name, portNameProblems)
			}
			portNames[port.Name] = true
		}
		errs = checkPort(errs, pp+".containerPort", port.ContainerPort)
		if port.HostPort != 0 {
			errs = checkPort(errs, pp+".hostPort", port.HostPort)
			if hostNetwork && port.HostPort != port.ContainerPort {
				errs = append(errs, Invalid(pp+".hostPort", port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
			}
		}
		errs = oneOf(errs, pp+".protocol", port.Protocol, ProtocolTCP, ProtocolUDP, ProtocolSCTP)
		if port.HostIP != "" {
			errs = checkIP(errs, pp+".hostIP", port.HostIP)
		}
	}

	for i, e := range c.EnvFrom {
		errs = append(errs, validateEnvFrom(&e, pathIdx(p+".envFrom", i))...)
	}
	for i, e := range c.Env {
		errs = append(errs, validateEnvVar(&e, pathIdx(p+".env", i))...)
	}
	errs = append(errs, validateResources(&c.Resources, p+".resources")...)

	mountPaths := map[string]bool{}
	for i, m := range c.VolumeMounts {
		mp := pathIdx(p+".volumeMounts", i)
		switch {
		case m.Name == "":
			errs = append(errs, Required(mp+".name", ""))
		case !volumes[m.Name]:
			errs = append(errs, Invalid(mp+".name", m.Name, "must match the name of a volume in spec.volumes"))
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, Required(mp+".mountPath", ""))
		case !strings.HasPrefix(m.MountPath, "/"):
			errs = append(errs, Invalid(mp+".mountPath", m.MountPath, "must be an absolute path"))
		case mountPaths[m.MountPath]:
			errs = append(errs, Invalid(mp+".mountPath", m.MountPath, "must be unique"))
		}
		mountPaths[m.MountPath] = true
		if m.SubPath != "" {
			errs = checkName(errs, mp+".subPath", m.SubPath, relativePathProblems)
		}
	}

	errs = append(errs, validateProbe(c.LivenessProbe, p+".livenessProbe", true)...)
	errs = append(errs, validateProbe(c.ReadinessProbe, p+".readinessProbe", false)...)
	errs = append(errs, validateProbe(c.StartupProbe, p+".startupProbe", true)...)
	if c.Lifecycle != nil {
		errs = append(errs, validateLifecycleHandler(c.Lifecycle.PostStart, p+".lifecycle.postStart")...)
		errs = append(errs, validateLifecycleHandler(c.Lifecycle.PreStop, p+".lifecycle.preStop")...)
	}
	if c.SecurityContext != nil {
		errs = append(errs, validateSecurityContext(c.SecurityContext, p+".securityContext")...)
	}
	return errs
}

// checkHostPorts reports a host port (with protocol and IP) used twice in
// the pod. seen accumulates across containers.
func checkHostPorts(c *Container, p string, seen map[string]bool) FieldErrors {
	var errs FieldErrors
	for i, port := range c.Ports {
		if port.HostPort == 0 {
			continue
		}
		proto := port.Protocol
		if proto == "" {
			proto = ProtocolTCP
		}
		k := fmt.Sprintf("%s/%d/%s", port.HostIP, port.HostPort, proto)
		if seen[k] {
			errs = append(errs, Duplicate(pathIdx(p+".ports", i)+".hostPort", fmt.Sprintf("%d/%s", port.HostPort, proto)))
		}
		seen[k] = true
	}
	return errs
}

// validateEnvVar checks one environment variable.
func validateEnvVar(e *EnvVar, p string) FieldErrors {
	var errs FieldErrors
	errs = requireName(errs, p+".name", e.Name, IsCIdentifier)
	if e.ValueFrom == nil {
		return errs
	}
	vp := p + ".valueFrom"
	if e.Value != "" {
		errs = append(errs, Invalid(vp, "", "may not be specified when `value` is not empty"))
	}
	n := 0
	more := func(name string) {
		n++
		if n > 1 {
			errs = append(errs, Invalid(vp+"."+name, "", "may not have more than one field specified at a time"))
		}
	}
	if f := e.ValueFrom.FieldRef; f != nil {
		more("fieldRef")
		fp := vp + ".fieldRef"
		if f.APIVersion != "" && f.APIVersion != "v1" {
			errs = append(errs, NotSupported(fp+".apiVersion", f.APIVersion, "v1"))
		}
		switch {
		case f.FieldPath == "":
			errs = append(errs, Required(fp+".fieldPath", ""))
		case validSubscriptPath(f.FieldPath, "metadata.labels"), validSubscriptPath(f.FieldPath, "metadata.annotations"):
		default:
			// The pod fields a variable may hold, besides labels and
			// annotations by key.
			errs = oneOf(errs, fp+".fieldPath", f.FieldPath,
				"metadata.name", "metadata.namespace", "metadata.uid",
				"metadata.labels['<KEY>']", "metadata.annotations['<KEY>']",
				"spec.nodeName", "spec.serviceAccountName",
				"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
		}
	}
	if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
		more("configMapKeyRef")
		rp := vp + ".configMapKeyRef"
		errs = requireName(errs, rp+".name", r.Name, IsDNS1123Subdomain)
		errs = requireName(errs, rp+".key", r.Key, configKeyProblems)
	}
	if r := e.ValueFrom.SecretKeyRef; r != nil {
		more("secretKeyRef")
		rp := vp + ".secretKeyRef"
		errs = requireName(errs, rp+".name", r.Name, IsDNS1123Subdomain)
		errs = requireName(errs, rp+".key", r.Key, configKeyProblems)
	}
	if n == 0 {
		errs = append(errs, Invalid(vp, "", "must have at least one of fieldRef, configMapKeyRef or secretKeyRef"))
	}
	return errs
}

// validSubscriptPath reports whether path is prefix['key'] with a valid
// label or annotation key.
func validSubscriptPath(path, prefix string) bool {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return false
	}
	key, ok := strings.CutSuffix(rest, "']")
	return ok && len(IsQualifiedName(key)) == 0
}

// validateEnvFrom checks one envFrom source.
func validateEnvFrom(e *EnvFromSource, p string) FieldErrors {
	var errs FieldErrors
	if e.Prefix != "" {
		errs = checkName(errs, p+".prefix", e.Prefix, IsCIdentifier)
	}
	switch {
	case e.ConfigMapRef != nil && e.SecretRef != nil:
		errs = append(errs, Invalid(p+".secretRef", "", "may not have more than one field specified at a time"))
	case e.ConfigMapRef != nil:
		errs = requireName(errs, p+".configMapRef.name", e.ConfigMapRef.Name, IsDNS1123Subdomain)
	case e.SecretRef != nil:
		errs = requireName(errs, p+".secretRef.name", e.SecretRef.Name, IsDNS1123Subdomain)
	default:
		errs = append(errs, Invalid(p, "", "must specify one of configMapRef or secretRef"))
	}
	return errs
}

// validateResources checks names and amounts, and requests ≤ limits.
func validateResources(r *ResourceRequirements, p string) FieldErrors {
	var errs FieldErrors
	for _, list := range []struct {
		name string
		l    ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for _, name := range sortedKeys(list.l) {
			rp := pathKey(p+"."+list.name, name)
			errs = oneOf(errs, rp, name, ResourceCPU, ResourceEphemeralStorage, ResourceMemory)
			if q := list.l[name]; q.Sign() < 0 {
				errs = append(errs, Invalid(rp, q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	for _, name := range sortedKeys(r.Requests) {
		req := r.Requests[name]
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, Invalid(pathKey(p+".requests", name), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

// validateProbe checks a probe; liveness and startup probes need a
// success threshold of 1 and may set a termination grace period.
func validateProbe(pr *Probe, p string, livenessLike bool) FieldErrors {
	if pr == nil {
		return nil
	}
	errs := validateHandlers(p, pr.Exec, pr.HTTPGet, pr.TCPSocket, nil)
	errs = nonNegative(errs, p+".initialDelaySeconds", pr.InitialDelaySeconds)
	errs = nonNegative(errs, p+".timeoutSeconds", pr.TimeoutSeconds)
	errs = nonNegative(errs, p+".periodSeconds", pr.PeriodSeconds)
	errs = nonNegative(errs, p+".successThreshold", pr.SuccessThreshold)
	errs = nonNegative(errs, p+".failureThreshold", pr.FailureThreshold)
	if livenessLike && pr.SuccessThreshold > 1 {
		errs = append(errs, Invalid(p+".successThreshold", pr.SuccessThreshold, "must be 1"))
	}
	if pr.TerminationGracePeriodSeconds != nil {
		if livenessLike {
			errs = positivePtr(errs, p+".terminationGracePeriodSeconds", pr.TerminationGracePeriodSeconds)
		} else {
			errs = append(errs, Forbidden(p+".terminationGracePeriodSeconds", "may not be set for readiness probes"))
		}
	}
	return errs
}

// validateLifecycleHandler checks a postStart or preStop hook.
func validateLifecycleHandler(h *LifecycleHandler, p string) FieldErrors {
	if h == nil {
		return nil
	}
	return validateHandlers(p, h.Exec, h.HTTPGet, h.TCPSocket, h.Sleep)
}

// validateHandlers checks that exactly one of a probe's or hook's actions
// is set, and that one. sleep is nil for probes, which cannot sleep.
func validateHandlers(p string, exec *ExecAction, httpGet *HTTPGetAction, tcp *TCPSocketAction, sleep *SleepAction) FieldErrors {
	var errs FieldErrors
	n := 0
	more := func(name string) {
		n++
		if n > 1 {
			errs = append(errs, Forbidden(p+"."+name, "may not specify more than 1 handler type"))
		}
	}
	if exec != nil {
		more("exec")
		if len(exec.Command) == 0 {
			errs = append(errs, Required(p+".exec.command", ""))
		}
	}
	if httpGet != nil {
		more("httpGet")
		hp := p + ".httpGet"
		errs = checkPortNumOrName(errs, hp+".port", httpGet.Port)
		errs = oneOf(errs, hp+".scheme", httpGet.Scheme, URISchemeHTTP, URISchemeHTTPS)
		for i, h := range httpGet.HTTPHeaders {
			if !isHTTPToken(h.Name) {
				errs = append(errs, Invalid(pathIdx(hp+".httpHeaders", i)+".name", h.Name, "must be a valid HTTP header name"))
			}
		}
	}
	if tcp != nil {
		more("tcpSocket")
		errs = checkPortNumOrName(errs, p+".tcpSocket.port", tcp.Port)
	}
	if sleep != nil {
		more("sleep")
		errs = nonNegative(errs, p+".sleep.seconds", sleep.Seconds)
	}
	if n == 0 {
		errs = append(errs, Required(p, "must specify a handler type: exec, httpGet or tcpSocket"))
	}
	return errs
}

// isHTTPToken reports whether s is an HTTP token (RFC 9110), the form of a
// header name.
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// validateID appends an error if a user or group ID is out of range.
func validateID(errs FieldErrors, p string, id *int64) FieldErrors {
	if id != nil && (*id < 0 || *id > maxID) {
		return append(errs, Invalid(p, *id, fmt.Sprintf("must be between 0 and %d, inclusive", maxID)))
	}
	return errs
}

// validatePodSecurityContext checks user and group IDs.
func validatePodSecurityContext(sc *PodSecurityContext, p string) FieldErrors {
	var errs FieldErrors
	errs = validateID(errs, p+".runAsUser", sc.RunAsUser)
	errs = validateID(errs, p+".runAsGroup", sc.RunAsGroup)
	errs = validateID(errs, p+".fsGroup", sc.FSGroup)
	for i := range sc.SupplementalGroups {
		errs = validateID(errs, pathIdx(p+".supplementalGroups", i), &sc.SupplementalGroups[i])
	}
	return errs
}

// validateSecurityContext checks a container's security settings.
func validateSecurityContext(sc *SecurityContext, p string) FieldErrors {
	var errs FieldErrors
	errs = validateID(errs, p+".runAsUser", sc.RunAsUser)
	errs = validateID(errs, p+".runAsGroup", sc.RunAsGroup)
	noEscalation := sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	if noEscalation && sc.Privileged != nil && *sc.Privileged {
		errs = append(errs, Invalid(p+".allowPrivilegeEscalation", false, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
	}
	if sc.Capabilities != nil {
		errs = validateCapabilities(errs, p+".capabilities.add", sc.Capabilities.Add)
		errs = validateCapabilities(errs, p+".capabilities.drop", sc.Capabilities.Drop)
		for _, c := range sc.Capabilities.Add {
			if noEscalation && c.Is("SYS_ADMIN") {
				errs = append(errs, Invalid(p+".allowPrivilegeEscalation", false, "cannot set `allowPrivilegeEscalation` to false and `capabilities.add` CAP_SYS_ADMIN"))
				break
			}
		}
	}
	return errs
}

// validateCapabilities checks that every name is a Linux capability, with
// or without CAP_, or ALL.
func validateCapabilities(errs FieldErrors, p string, caps []Capability) FieldErrors {
	for i, c := range caps {
		if c == "" {
			errs = append(errs, Required(pathIdx(p, i), "a capability name such as NET_BIND_SERVICE, or ALL"))
			continue
		}
		if _, ok := c.Canonical(); !ok {
			errs = append(errs, Invalid(pathIdx(p, i), string(c), "not a Linux capability: use a name from capabilities(7) such as NET_BIND_SERVICE or CAP_NET_BIND_SERVICE, or ALL"))
		}
	}
	return errs
}

// validateToleration checks one toleration.
func validateToleration(t *Toleration, p string) FieldErrors {
	var errs FieldErrors
	if t.Key != "" {
		errs = checkName(errs, p+".key", t.Key, IsQualifiedName)
	}
	switch t.Operator {
	case TolerationOpExists:
		if t.Value != "" {
			errs = append(errs, Invalid(p+".operator", string(t.Operator), "value must be empty when `operator` is 'Exists'"))
		}
	case TolerationOpEqual, "":
		if t.Key == "" {
			errs = append(errs, Invalid(p+".operator", string(t.Operator), "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.Value != "" {
			errs = checkName(errs, p+".value", t.Value, IsValidLabelValue)
		}
	default:
		errs = append(errs, NotSupported(p+".operator", string(t.Operator), string(TolerationOpEqual), string(TolerationOpExists)))
	}
	errs = oneOf(errs, p+".effect", t.Effect, TaintEffectNoSchedule, TaintEffectPreferNoSchedule, TaintEffectNoExecute)
	if t.TolerationSeconds != nil && t.Effect != TaintEffectNoExecute {
		errs = append(errs, Invalid(p+".effect", string(t.Effect), "effect must be 'NoExecute' when `tolerationSeconds` is set"))
	}
	return errs
}

// validateAffinity checks node, pod and pod anti-affinity.
func validateAffinity(a *Affinity, p string) FieldErrors {
	var errs FieldErrors
	if na := a.NodeAffinity; na != nil {
		np := p + ".nodeAffinity"
		if r := na.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
			rp := np + ".requiredDuringSchedulingIgnoredDuringExecution"
			errs = append(errs, validateNodeSelector(r, rp)...)
		}
		for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			tp := pathIdx(np+".preferredDuringSchedulingIgnoredDuringExecution", i)
			errs = append(errs, validateWeight(t.Weight, tp+".weight")...)
			errs = append(errs, validateNodeSelectorTerm(&t.Preference, tp+".preference")...)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		errs = append(errs, validatePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, p+".podAffinity")...)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		errs = append(errs, validatePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, p+".podAntiAffinity")...)
	}
	return errs
}

// validateNodeSelector checks a required node selector: at least one term.
func validateNodeSelector(s *NodeSelector, p string) FieldErrors {
	if len(s.NodeSelectorTerms) == 0 {
		return FieldErrors{Required(p+".nodeSelectorTerms", "must have at least one node selector term")}
	}
	var errs FieldErrors
	for i := range s.NodeSelectorTerms {
		errs = append(errs, validateNodeSelectorTerm(&s.NodeSelectorTerms[i], pathIdx(p+".nodeSelectorTerms", i))...)
	}
	return errs
}

// validateNodeSelectorTerm checks a term's label and field requirements.
func validateNodeSelectorTerm(t *NodeSelectorTerm, p string) FieldErrors {
	var errs FieldErrors
	for i, r := range t.MatchExpressions {
		rp := pathIdx(p+".matchExpressions", i)
		errs = checkName(errs, rp+".key", r.Key, IsQualifiedName)
		switch r.Operator {
		case NodeSelectorOpIn, NodeSelectorOpNotIn:
			if len(r.Values) == 0 {
				errs = append(errs, Required(rp+".values", "must be specified when `operator` is 'In' or 'NotIn'"))
			}
		case NodeSelectorOpExists, NodeSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				errs = append(errs, Forbidden(rp+".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			}
		case NodeSelectorOpGt, NodeSelectorOpLt:
			if len(r.Values) != 1 {
				errs = append(errs, Required(rp+".values", "must be specified single value when `operator` is 'Lt' or 'Gt'"))
			} else if !isInteger(r.Values[0]) {
				errs = append(errs, Invalid(pathIdx(rp+".values", 0), r.Values[0], "must be an integer when `operator` is 'Lt' or 'Gt'"))
			}
		default:
			errs = append(errs, NotSupported(rp+".operator", string(r.Operator), "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"))
		}
		for j, v := range r.Values {
			if r.Operator != NodeSelectorOpGt && r.Operator != NodeSelectorOpLt {
				errs = checkName(errs, pathIdx(rp+".values", j), v, IsValidLabelValue)
			}
		}
	}
	for i, r := range t.MatchFields {
		rp := pathIdx(p+".matchFields", i)
		if r.Key != "metadata.name" {
			errs = append(errs, NotSupported(rp+".key", r.Key, "metadata.name"))
		}
		if r.Operator != NodeSelectorOpIn && r.Operator != NodeSelectorOpNotIn {
			errs = append(errs, NotSupported(rp+".operator", string(r.Operator), "In", "NotIn"))
		}
		if len(r.Values) != 1 {
			errs = append(errs, Required(rp+".values", "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
		}
	}
	return errs
}

// isInteger reports whether s is a decimal integer.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validateWeight checks a preference weight is 1-100.
func validateWeight(w int32, p string) FieldErrors {
	if w < 1 || w > 100 {
		return FieldErrors{Invalid(p, w, "must be in the range 1-100")}
	}
	return nil
}

// validatePodAffinityTerms checks the required and preferred terms of pod
// affinity or anti-affinity.
func validatePodAffinityTerms(required []PodAffinityTerm, preferred []WeightedPodAffinityTerm, p string) FieldErrors {
	var errs FieldErrors
	for i := range required {
		errs = append(errs, validatePodAffinityTerm(&required[i], pathIdx(p+".requiredDuringSchedulingIgnoredDuringExecution", i))...)
	}
	for i := range preferred {
		tp := pathIdx(p+".preferredDuringSchedulingIgnoredDuringExecution", i)
		errs = append(errs, validateWeight(preferred[i].Weight, tp+".weight")...)
		errs = append(errs, validatePodAffinityTerm(&preferred[i].PodAffinityTerm, tp+".podAffinityTerm")...)
	}
	return errs
}

// validatePodAffinityTerm checks one term.
func validatePodAffinityTerm(t *PodAffinityTerm, p string) FieldErrors {
	var errs FieldErrors
	if t.LabelSelector != nil {
		errs = append(errs, ValidateLabelSelector(t.LabelSelector, p+".labelSelector")...)
	}
	if t.NamespaceSelector != nil {
		errs = append(errs, ValidateLabelSelector(t.NamespaceSelector, p+".namespaceSelector")...)
	}
	for i, ns := range t.Namespaces {
		errs = checkName(errs, pathIdx(p+".namespaces", i), ns, IsDNS1123Label)
	}
	errs = requireName(errs, p+".topologyKey", t.TopologyKey, IsQualifiedName)
	return errs
}

// validateTopologySpread checks spread constraints; a topology key and
// action pair may appear once.
func validateTopologySpread(cs []TopologySpreadConstraint, p string) FieldErrors {
	var errs FieldErrors
	seen := map[string]bool{}
	for i, c := range cs {
		cp := pathIdx(p, i)
		if c.MaxSkew <= 0 {
			errs = append(errs, Invalid(cp+".maxSkew", c.MaxSkew, "must be greater than 0"))
		}
		errs = requireName(errs, cp+".topologyKey", c.TopologyKey, IsQualifiedName)
		switch c.WhenUnsatisfiable {
		case DoNotSchedule, ScheduleAnyway:
		case "":
			errs = append(errs, Required(cp+".whenUnsatisfiable", "DoNotSchedule or ScheduleAnyway"))
		default:
			errs = append(errs, NotSupported(cp+".whenUnsatisfiable", string(c.WhenUnsatisfiable), string(DoNotSchedule), string(ScheduleAnyway)))
		}
		if c.MinDomains != nil {
			if *c.MinDomains <= 0 {
				errs = append(errs, Invalid(cp+".minDomains", *c.MinDomains, "must be greater than 0"))
			} else if c.WhenUnsatisfiable != DoNotSchedule {
				errs = append(errs, Invalid(cp+".minDomains", *c.MinDomains, "can only use minDomains if whenUnsatisfiable=DoNotSchedule"))
			}
		}
		if c.LabelSelector != nil {
			errs = append(errs, ValidateLabelSelector(c.LabelSelector, cp+".labelSelector")...)
		}
		k := c.TopologyKey + "/" + string(c.WhenUnsatisfiable)
		if seen[k] {
			errs = append(errs, Duplicate(cp, fmt.Sprintf("{%s, %s}", c.TopologyKey, c.WhenUnsatisfiable)))
		}
		seen[k] = true
	}
	return errs
}

// validatePodStatus checks the parts of a pod's status with a fixed form.
func validatePodStatus(s *PodStatus, p string) FieldErrors {
	var errs FieldErrors
	errs = oneOf(errs, p+".phase", s.Phase, PodPending, PodRunning, PodSucceeded, PodFailed, PodUnknown)
	if s.PodIP != "" {
		errs = checkIP(errs, p+".podIP", s.PodIP)
	}
	if s.HostIP != "" {
		errs = checkIP(errs, p+".hostIP", s.HostIP)
	}
	for i, ip := range s.PodIPs {
		errs = checkIP(errs, pathIdx(p+".podIPs", i)+".ip", ip.IP)
	}
	if len(s.PodIPs) > 0 && s.PodIP != "" && s.PodIPs[0].IP != s.PodIP {
		errs = append(errs, Invalid(pathIdx(p+".podIPs", 0)+".ip", s.PodIPs[0].IP, "must match `podIP`"))
	}
	for i, ip := range s.HostIPs {
		errs = checkIP(errs, pathIdx(p+".hostIPs", i)+".ip", ip.IP)
	}
	for i, c := range s.Conditions {
		cp := pathIdx(p+".conditions", i)
		if c.Type == "" {
			errs = append(errs, Required(cp+".type", ""))
		}
		errs = checkConditionStatus(errs, cp+".status", c.Status)
	}
	errs = oneOf(errs, p+".qosClass", s.QOSClass, PodQOSGuaranteed, PodQOSBurstable, PodQOSBestEffort)
	return errs
}

// checkConditionStatus appends an error unless s is True, False or Unknown.
func checkConditionStatus(errs FieldErrors, p string, s ConditionStatus) FieldErrors {
	if s == "" {
		return append(errs, Required(p, "True, False or Unknown"))
	}
	return oneOf(errs, p, s, ConditionTrue, ConditionFalse, ConditionUnknown)
}
