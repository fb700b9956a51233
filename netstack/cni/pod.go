package cni

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// PortMapping is one hostPort of a pod, passed to the portmap plugin.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	Protocol      string // "tcp" (default), "udp" or "sctp"
	HostIP        string // empty: every address of the node
}

// PodNetwork is what Setup needs to know about a pod.
type PodNetwork struct {
	UID       string // names the pinned netns and the CNI container ID
	Namespace string // for logs and errors
	Name      string
	Ports     []PortMapping
}

// Sandbox is a pod's networked namespace.
type Sandbox struct {
	UID       string
	NetNSPath string     // containers join the pod's network by this path
	IP        net.IP     // the pod's address on eth0
	Gateway   net.IP     // the bridge's address, the pod's default route
	CIDR      *net.IPNet // the pod subnet the address is in
}

// uidPattern is what libcni accepts as a container ID; it is also a safe
// file name.
var uidPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// validateUID checks that uid can name a file and a CNI container.
func validateUID(uid string) error {
	if len(uid) > 200 || !uidPattern.MatchString(uid) {
		return fmt.Errorf("pod uid %q: must be letters, digits, '_', '.' or '-', starting with a letter or digit: %w", uid, errdefs.ErrInvalid)
	}
	return nil
}

// key names the pod in errors and logs.
func (p PodNetwork) key() string { return p.Namespace + "/" + p.Name }

// portMappings validates p.Ports and returns them in the shape of the
// portMappings capability.
func (p PodNetwork) portMappings() ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(p.Ports))
	for i, pm := range p.Ports {
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("pod %s port %d: protocol %q: must be tcp, udp or sctp: %w", p.key(), i, pm.Protocol, errdefs.ErrInvalid)
		}
		if pm.HostPort < 1 || pm.HostPort > 65535 {
			return nil, fmt.Errorf("pod %s port %d: hostPort %d: must be 1-65535: %w", p.key(), i, pm.HostPort, errdefs.ErrInvalid)
		}
		if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			return nil, fmt.Errorf("pod %s port %d: containerPort %d: must be 1-65535: %w", p.key(), i, pm.ContainerPort, errdefs.ErrInvalid)
		}
		m := map[string]any{"hostPort": pm.HostPort, "containerPort": pm.ContainerPort, "protocol": proto}
		if pm.HostIP != "" {
			if net.ParseIP(pm.HostIP) == nil {
				return nil, fmt.Errorf("pod %s port %d: hostIP %q: not an IP address: %w", p.key(), i, pm.HostIP, errdefs.ErrInvalid)
			}
			m["hostIP"] = pm.HostIP
		}
		out = append(out, m)
	}
	return out, nil
}
