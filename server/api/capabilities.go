package api

import "strings"

// CapabilityAll in capabilities.add or capabilities.drop stands for every
// capability.
const CapabilityAll Capability = "ALL"

// knownCapabilities are the Linux capabilities (capabilities(7), up to
// CAP_CHECKPOINT_RESTORE, Linux 5.9) without their CAP_ prefix, in bit
// order.
var knownCapabilities = []string{
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
// Kubernetes, unset means false: the process runs with no_new_privs.
func (sc *SecurityContext) EscalationAllowed() bool {
	if sc == nil {
		return false
	}
	if sc.AllowPrivilegeEscalation != nil {
		return *sc.AllowPrivilegeEscalation
	}
	return sc.IsPrivileged() || sc.AddsCapability("SYS_ADMIN")
}

// PowerfulCapabilities are the added capabilities that reach past the
// container (the node's mounts and network); admission treats a pod that
// adds one like a privileged pod.
var PowerfulCapabilities = []Capability{"SYS_ADMIN", "NET_ADMIN"}

// NeedsPrivilege reports whether any of the pod's containers (init
// containers included) is privileged or adds ALL, CAP_SYS_ADMIN or
// CAP_NET_ADMIN: what only an admin may create.
func (s *PodSpec) NeedsPrivilege() bool {
	for _, cs := range [][]Container{s.InitContainers, s.Containers} {
		for i := range cs {
			sc := cs[i].SecurityContext
			if sc.IsPrivileged() {
				return true
			}
			for _, c := range PowerfulCapabilities {
				if sc.AddsCapability(c) {
					return true
				}
			}
		}
	}
	return false
}
