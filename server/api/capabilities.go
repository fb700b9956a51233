package api

import (
	"fmt"
	"strings"
)

// CapabilityAll in capabilities.add or capabilities.drop stands for every
// capability.
const CapabilityAll Capability = "ALL"

// knownCapabilities are the Linux capabilities (capabilities(7), up to
// CAP_CHECKPOINT_RESTORE, Linux 5.9) without their CAP_ prefix, in bit
// order: the index is the capability's number.
var knownCapabilities = [...]string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
	"SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
	"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// Canonical spells c as the runtime does: upper case with the CAP_ prefix
// ("net_admin" is CAP_NET_ADMIN), and ALL as ALL. ok is false for a name
// that is not a known Linux capability.
func (c Capability) Canonical() (name string, ok bool) {
	s := strings.ToUpper(string(c))
	if s == string(CapabilityAll) {
		return s, true
	}
	short := strings.TrimPrefix(s, "CAP_")
	for _, k := range knownCapabilities {
		if k == short {
			return "CAP_" + k, true
		}
	}
	return "", false
}

// Is reports whether c names the capability want (given as "NET_ADMIN"
// or "CAP_NET_ADMIN", in any case).
func (c Capability) Is(want Capability) bool {
	a, ok := c.Canonical()
	b, ok2 := want.Canonical()
	return ok && ok2 && a == b
}

// IsPrivileged reports whether the container runs privileged: all
// capabilities, host devices, no seccomp or AppArmor confinement.
func (sc *SecurityContext) IsPrivileged() bool {
	return sc != nil && sc.Privileged != nil && *sc.Privileged
}

// AddsCapability reports whether the context adds capability c, or ALL.
func (sc *SecurityContext) AddsCapability(c Capability) bool {
	if sc == nil || sc.Capabilities == nil {
		return false
	}
	for _, a := range sc.Capabilities.Add {
		if a.Is(c) || a.Is(CapabilityAll) {
			return true
		}
	}
	return false
}

// EscalationAllowed is whether the container's processes may gain
// privileges beyond their parent's (setuid binaries, file capabilities):
// only if allowPrivilegeEscalation is true, or the container is
// privileged or adds CAP_SYS_ADMIN, as Kubernetes says. Unlike
// Kubernetes, unset means false: the process runs with no_new_privs,
// the stricter default skiff keeps. An image whose setuid binaries or
// file capabilities then do nothing fails with errors skiff cannot tell
// apart, so the field's doc and docs/api.md say so and give the fix
// (allowPrivilegeEscalation: true).
func (sc *SecurityContext) EscalationAllowed() bool {
	if sc == nil {
		return false
	}
	if sc.AllowPrivilegeEscalation != nil {
		return *sc.AllowPrivilegeEscalation
	}
	return sc.IsPrivileged() || sc.AddsCapability("SYS_ADMIN")
}

// baselineCapabilities are the capabilities anyone may add: what the
// Kubernetes Pod Security Standards' baseline profile allows in
// capabilities.add. Adding any other one (ALL included) reaches past the
// container (module loading, raw devices, reading any file, tracing,
// BPF, the clock, the node's network and mounts), so admission treats it
// like a privileged container. NET_RAW is in the default set but not
// here, as in Kubernetes: a pod keeps it unless it drops it, but may not
// ask for it.
var baselineCapabilities = [...]string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
	"MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
	"SYS_CHROOT",
}

// InBaseline reports whether c is a capability anyone may add
// (baselineCapabilities); ALL and unknown names are not.
func (c Capability) InBaseline() bool {
	name, ok := c.Canonical()
	if !ok || name == string(CapabilityAll) {
		return false
	}
	for _, b := range baselineCapabilities {
		if "CAP_"+b == name {
			return true
		}
	}
	return false
}

// PrivilegeRequest is one thing a pod asks for that only an admin may
// grant.
type PrivilegeRequest struct {
	// Field is its path under the pod spec, such as
	// "containers[0].securityContext.capabilities.add[1]".
	Field string
	// Container is the name of the container that asks.
	Container string
	// What is "privileged", or the capability added without its CAP_
	// prefix ("SYS_MODULE", "ALL"), or as given if it is no capability.
	What string
}

// PrivilegeRequests are the fields of the pod spec (init containers
// first) that ask for what only an admin may grant: a privileged
// container, a capability added beyond the baseline set (InBaseline),
// the node's network (hostNetwork) or a directory of the node (a
// hostPath volume). None for a pod that asks for none of these (skiff
// has no hostPID, hostIPC or host ports beyond hostPort, which the node
// maps without privilege).
func (s *PodSpec) PrivilegeRequests() []PrivilegeRequest {
	var out []PrivilegeRequest
	for _, group := range []struct {
		name string
		cs   []Container
	}{{"initContainers", s.InitContainers}, {"containers", s.Containers}} {
		for i := range group.cs {
			c := &group.cs[i]
			sc := c.SecurityContext
			p := fmt.Sprintf("%s[%d].securityContext", group.name, i)
			if sc.IsPrivileged() {
				out = append(out, PrivilegeRequest{Field: p + ".privileged", Container: c.Name, What: "privileged"})
			}
			if sc == nil || sc.Capabilities == nil {
				continue
			}
			for j, capability := range sc.Capabilities.Add {
				if capability.InBaseline() {
					continue
				}
				what := string(capability)
				if name, ok := capability.Canonical(); ok {
					what = strings.TrimPrefix(name, "CAP_")
				}
				out = append(out, PrivilegeRequest{Field: fmt.Sprintf("%s.capabilities.add[%d]", p, j), Container: c.Name, What: what})
			}
		}
	}
	// The node's own network and files are as good as privileged: a root
	// container with a hostPath of / owns the node.
	if s.HostNetwork {
		out = append(out, PrivilegeRequest{Field: "hostNetwork", What: "hostNetwork"})
	}
	for i, v := range s.Volumes {
		if v.HostPath != nil {
			out = append(out, PrivilegeRequest{Field: fmt.Sprintf("volumes[%d].hostPath", i), What: "hostPath " + v.HostPath.Path})
		}
	}
	return out
}
