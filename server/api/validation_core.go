package api

import "fmt"

// maxConfigSize is the most data a ConfigMap or Secret may hold.
const maxConfigSize = 1 << 20

// The node port range.
const (
	minNodePort = 30000
	maxNodePort = 32767
)

// validateNamespace checks a namespace's finalizers and phase.
func validateNamespace(ns *Namespace) FieldErrors {
	var errs FieldErrors
	for i, f := range ns.Spec.Finalizers {
		errs = checkName(errs, pathIdx("spec.finalizers", i), f, IsQualifiedName)
	}
	return oneOf(errs, "status.phase", ns.Status.Phase, NamespaceActive, NamespaceTerminating)
}

// validateNode checks a node's pod CIDRs, taints and status.
func validateNode(n *Node) FieldErrors {
	var errs FieldErrors
	if n.Spec.PodCIDR != "" {
		errs = checkCIDR(errs, "spec.podCIDR", n.Spec.PodCIDR)
	}
	for i, c := range n.Spec.PodCIDRs {
		errs = checkCIDR(errs, pathIdx("spec.podCIDRs", i), c)
	}
	if len(n.Spec.PodCIDRs) > 2 {
		errs = append(errs, TooLong("spec.podCIDRs", 2))
	}
	if n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		errs = append(errs, Invalid("spec.podCIDRs[0]", n.Spec.PodCIDRs[0], "must match `podCIDR`"))
	}
	seen := map[string]bool{}
	for i, t := range n.Spec.Taints {
		tp := pathIdx("spec.taints", i)
		errs = requireName(errs, tp+".key", t.Key, IsQualifiedName)
		if t.Value != "" {
			errs = checkName(errs, tp+".value", t.Value, IsValidLabelValue)
		}
		switch t.Effect {
		case TaintEffectNoSchedule, TaintEffectPreferNoSchedule, TaintEffectNoExecute:
		case "":
			errs = append(errs, Required(tp+".effect", "NoSchedule, PreferNoSchedule or NoExecute"))
		default:
			errs = append(errs, NotSupported(tp+".effect", string(t.Effect),
				string(TaintEffectNoSchedule), string(TaintEffectPreferNoSchedule), string(TaintEffectNoExecute)))
		}
		k := t.Key + ":" + string(t.Effect)
		if seen[k] {
			errs = append(errs, Duplicate(tp, k))
		}
		seen[k] = true
	}
	for _, l := range []struct {
		name string
		list ResourceList
	}{{"capacity", n.Status.Capacity}, {"allocatable", n.Status.Allocatable}} {
		for _, name := range sortedKeys(l.list) {
			rp := pathKey("status."+l.name, name)
			errs = oneOf(errs, rp, name, ResourceCPU, ResourceEphemeralStorage, ResourceMemory, ResourcePods)
			if q := l.list[name]; q.Sign() < 0 {
				errs = append(errs, Invalid(rp, q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	for i, c := range n.Status.Conditions {
		cp := pathIdx("status.conditions", i)
		if c.Type == "" {
			errs = append(errs, Required(cp+".type", ""))
		}
		errs = checkConditionStatus(errs, cp+".status", c.Status)
	}
	for i, a := range n.Status.Addresses {
		ap := pathIdx("status.addresses", i)
		switch a.Type {
		case NodeInternalIP, NodeExternalIP:
			errs = checkIP(errs, ap+".address", a.Address)
		case NodeHostName, NodeInternalDNS, NodeExternalDNS:
			errs = requireName(errs, ap+".address", a.Address, IsDNS1123Subdomain)
		default:
			errs = append(errs, NotSupported(ap+".type", string(a.Type), string(NodeHostName),
				string(NodeInternalIP), string(NodeExternalIP), string(NodeInternalDNS), string(NodeExternalDNS)))
		}
	}
	return errs
}

// checkConfigKeys checks the keys of a ConfigMap's or Secret's data and
// returns their size in bytes, keys included.
func checkConfigKeys[V string | []byte](errs FieldErrors, field string, m map[string]V) (FieldErrors, int) {
	size := 0
	for _, k := range sortedKeys(m) {
		errs = checkName(errs, pathKey(field, k), k, configKeyProblems)
		size += len(k) + len(m[k])
	}
	return errs, size
}

// validateConfigMap checks keys, overlaps and size.
func validateConfigMap(cm *ConfigMap) FieldErrors {
	errs, size := checkConfigKeys(nil, "data", cm.Data)
	errs, binSize := checkConfigKeys(errs, "binaryData", cm.BinaryData)
	for _, k := range sortedKeys(cm.BinaryData) {
		if _, ok := cm.Data[k]; ok {
			errs = append(errs, Invalid(pathKey("binaryData", k), k, "duplicate of key present in data"))
		}
	}
	if size+binSize > maxConfigSize {
		errs = append(errs, TooLong("data", maxConfigSize))
	}
	return errs
}

// validateSecret checks keys, size and the keys its type needs. Default
// has moved stringData into data; any left is checked too.
func validateSecret(s *Secret) FieldErrors {
	errs, size := checkConfigKeys(nil, "data", s.Data)
	for _, k := range sortedKeys(s.StringData) {
		errs = checkName(errs, pathKey("stringData", k), k, configKeyProblems)
		if _, ok := s.Data[k]; !ok {
			size += len(k) + len(s.StringData[k])
		}
	}
	if size > maxConfigSize {
		errs = append(errs, TooLong("data", maxConfigSize))
	}
	has := func(k string) bool {
		_, inData := s.Data[k]
		_, inString := s.StringData[k]
		return inData || inString
	}
	need := func(keys ...string) {
		for _, k := range keys {
			if !has(k) {
				errs = append(errs, Required(pathKey("data", k), fmt.Sprintf("a secret of type %s must have it", s.Type)))
			}
		}
	}
	switch s.Type {
	case SecretTypeDockerConfigJSON:
		need(DockerConfigJSONKey)
	case SecretTypeBasicAuth:
		if !has(BasicAuthUsernameKey) && !has(BasicAuthPasswordKey) {
			errs = append(errs, Required(pathKey("data", BasicAuthUsernameKey), "a secret of type kubernetes.io/basic-auth must have a username or a password"))
		}
	case SecretTypeSSHAuth:
		need(SSHAuthPrivateKey)
	case SecretTypeTLS:
		need(TLSCertKey, TLSPrivateKeyKey)
	case SecretTypeJoinToken:
		need(JoinTokenIDKey, JoinTokenSecretHashKey)
	}
	return errs
}

// validateEvent checks an event's object reference and type.
func validateEvent(e *Event) FieldErrors {
	var errs FieldErrors
	if e.InvolvedObject.Kind == "" {
		errs = append(errs, Required("involvedObject.kind", ""))
	}
	if e.InvolvedObject.Name == "" {
		errs = append(errs, Required("involvedObject.name", ""))
	}
	if ns := e.InvolvedObject.Namespace; ns != "" && e.Namespace != "" && ns != e.Namespace {
		errs = append(errs, Invalid("involvedObject.namespace", ns, "does not match event.namespace"))
	}
	switch e.Type {
	case EventTypeNormal, EventTypeWarning:
	case "":
		errs = append(errs, Required("type", "Normal or Warning"))
	default:
		errs = append(errs, NotSupported("type", e.Type, EventTypeNormal, EventTypeWarning))
	}
	return nonNegative(errs, "count", e.Count)
}

// validateServiceSpec checks a service's type, IPs, ports and affinity.
func validateServiceSpec(s *ServiceSpec, p string) FieldErrors {
	var errs FieldErrors
	switch s.Type {
	case ServiceTypeClusterIP, ServiceTypeNodePort, ServiceTypeLoadBalancer, "":
	case "ExternalName":
		errs = append(errs, Invalid(p+".type", string(s.Type), "ExternalName services are not supported by skiff: use ClusterIP, NodePort or LoadBalancer"))
	default:
		errs = append(errs, NotSupported(p+".type", string(s.Type),
			string(ServiceTypeClusterIP), string(ServiceTypeNodePort), string(ServiceTypeLoadBalancer)))
	}
	headless := s.ClusterIP == ClusterIPNone
	switch {
	case headless:
		if s.Type != ServiceTypeClusterIP && s.Type != "" {
			errs = append(errs, Invalid(p+".clusterIP", s.ClusterIP, "may only be 'None' (headless) for type ClusterIP"))
		}
	case s.ClusterIP != "":
		errs = checkIP(errs, p+".clusterIP", s.ClusterIP)
	}
	for i, ip := range s.ClusterIPs {
		ipp := pathIdx(p+".clusterIPs", i)
		switch {
		case i == 0 && ip != s.ClusterIP:
			errs = append(errs, Invalid(ipp, ip, "must match `clusterIP`"))
		case ip == ClusterIPNone:
			if i > 0 {
				errs = append(errs, Invalid(ipp, ip, "'None' may only be the only value"))
			}
		default:
			errs = checkIP(errs, ipp, ip)
		}
	}
	if len(s.ClusterIPs) > 2 {
		errs = append(errs, TooLong(p+".clusterIPs", 2))
	}
	for i, ip := range s.ExternalIPs {
		errs = checkIP(errs, pathIdx(p+".externalIPs", i), ip)
	}
	errs = append(errs, ValidateLabels(s.Selector, p+".selector")...)

	if len(s.Ports) == 0 && !headless {
		errs = append(errs, Required(p+".ports", "a service needs at least one port unless it is headless (clusterIP: None)"))
	}
	names := map[string]bool{}
	portProtos := map[string]bool{}
	nodePorts := map[string]bool{}
	for i, port := range s.Ports {
		pp := pathIdx(p+".ports", i)
		switch {
		case port.Name == "" && len(s.Ports) > 1:
			errs = append(errs, Required(pp+".name", "a name is required when a service has more than one port"))
		case port.Name != "" && names[port.Name]:
			errs = append(errs, Duplicate(pp+".name", port.Name))
		case port.Name != "":
			errs = checkName(errs, pp+".name", port.Name, IsDNS1123Label)
		}
		names[port.Name] = true
		errs = checkPort(errs, pp+".port", port.Port)
		switch port.Protocol {
		case ProtocolTCP, ProtocolUDP, ProtocolSCTP, "":
		default:
			errs = append(errs, NotSupported(pp+".protocol", string(port.Protocol), string(ProtocolTCP), string(ProtocolUDP), string(ProtocolSCTP)))
		}
		proto := port.Protocol
		if proto == "" {
			proto = ProtocolTCP
		}
		pk := fmt.Sprintf("%d/%s", port.Port, proto)
		if portProtos[pk] {
			errs = append(errs, Duplicate(pp, pk))
		}
		portProtos[pk] = true
		if port.TargetPort != (IntOrString{}) {
			errs = checkPortNumOrName(errs, pp+".targetPort", port.TargetPort)
		}
		if port.NodePort != 0 {
			switch {
			case s.Type != ServiceTypeNodePort && s.Type != ServiceTypeLoadBalancer:
				errs = append(errs, Forbidden(pp+".nodePort", "may only be set for services of type NodePort or LoadBalancer"))
			case port.NodePort < minNodePort || port.NodePort > maxNodePort:
				errs = append(errs, Invalid(pp+".nodePort", port.NodePort, fmt.Sprintf("must be in the node port range %d-%d", minNodePort, maxNodePort)))
			}
			nk := fmt.Sprintf("%d/%s", port.NodePort, proto)
			if nodePorts[nk] {
				errs = append(errs, Duplicate(pp+".nodePort", nk))
			}
			nodePorts[nk] = true
		}
		if port.AppProtocol != nil && *port.AppProtocol != "" {
			errs = checkName(errs, pp+".appProtocol", *port.AppProtocol, IsQualifiedName)
		}
	}

	switch s.SessionAffinity {
	case ServiceAffinityNone, "":
		if s.SessionAffinityConfig != nil {
			errs = append(errs, Forbidden(p+".sessionAffinityConfig", "may only be set when `sessionAffinity` is 'ClientIP'"))
		}
	case ServiceAffinityClientIP:
		if c := s.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			if t := *c.ClientIP.TimeoutSeconds; t < 1 || t > 86400 {
				errs = append(errs, Invalid(p+".sessionAffinityConfig.clientIP.timeoutSeconds", t, "must be greater than 0 and at most 86400"))
			}
		}
	default:
		errs = append(errs, NotSupported(p+".sessionAffinity", string(s.SessionAffinity), string(ServiceAffinityNone), string(ServiceAffinityClientIP)))
	}
	return errs
}

// validateEndpoints checks addresses and ports.
func validateEndpoints(ep *Endpoints) FieldErrors {
	var errs FieldErrors
	for i, ss := range ep.Subsets {
		sp := pathIdx("subsets", i)
		for _, l := range []struct {
			name  string
			addrs []EndpointAddress
		}{{"addresses", ss.Addresses}, {"notReadyAddresses", ss.NotReadyAddresses}} {
			for j, a := range l.addrs {
				ap := pathIdx(sp+"."+l.name, j)
				if a.IP == "" {
					errs = append(errs, Required(ap+".ip", ""))
				} else {
					errs = checkIP(errs, ap+".ip", a.IP)
				}
				if a.Hostname != "" {
					errs = checkName(errs, ap+".hostname", a.Hostname, IsDNS1123Label)
				}
				if a.NodeName != nil && *a.NodeName != "" {
					errs = checkName(errs, ap+".nodeName", *a.NodeName, IsDNS1123Subdomain)
				}
			}
		}
		names := map[string]bool{}
		for j, port := range ss.Ports {
			pp := pathIdx(sp+".ports", j)
			switch {
			case port.Name == "" && len(ss.Ports) > 1:
				errs = append(errs, Required(pp+".name", "a name is required when there is more than one port"))
			case port.Name != "" && names[port.Name]:
				errs = append(errs, Duplicate(pp+".name", port.Name))
			case port.Name != "":
				errs = checkName(errs, pp+".name", port.Name, IsDNS1123Label)
			}
			names[port.Name] = true
			errs = checkPort(errs, pp+".port", port.Port)
			errs = oneOf(errs, pp+".protocol", port.Protocol, ProtocolTCP, ProtocolUDP, ProtocolSCTP)
		}
	}
	return errs
}
