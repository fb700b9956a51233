package overlay

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Backend names how pod traffic crosses between nodes.
type Backend string

const (
	// HostGW routes each remote pod subnet through the remote node's
	// address. Every node must be on one L2 segment with every other.
	HostGW Backend = "host-gw"
	// VXLAN encapsulates pod traffic in UDP between node addresses, so
	// nodes only need to reach each other by IP.
	VXLAN Backend = "vxlan"
)

const (
	// RouteProtocol is the rtnetlink protocol number of every route this
	// package writes (in the main table): `ip route show proto 0x5a`.
	// Sync and Cleanup treat all routes of this protocol as theirs.
	// 90 is not among the reserved numbers in /etc/iproute2/rt_protos.
	RouteProtocol netlink.RouteProtocol = 0x5a
	// VXLANMACAnnotation is the Node annotation in which an agent
	// publishes its VTEP MAC (Overlay.LocalVTEPMAC, "aa:bb:…"), read by
	// every other agent into Node.VTEPMAC.
	VXLANMACAnnotation = "skiff.dev/vxlan-mac"
	// DefaultDevice is the VXLAN device's name.
	DefaultDevice = "skiff.vxlan"
	// DefaultVNI is the VXLAN network identifier.
	DefaultVNI = 1
	// DefaultPort is the VXLAN UDP port, the one flannel and Linux use
	// by default (not IANA's 4789).
	DefaultPort = 8472
	// vxlanOverhead is what VXLAN adds to an IPv4 packet: outer IPv4
	// (20) + UDP (8) + VXLAN (8) + inner Ethernet (14).
	vxlanOverhead = 50
)

// Config configures an Overlay.
type Config struct {
	// Backend is HostGW or VXLAN. Default: HostGW.
	Backend Backend
	// NetNS is an open file descriptor of the network namespace to
	// program; 0 means the namespace of the calling process (the agent
	// runs in the host's). The Overlay does not close it.
	NetNS int
	// Device names the VXLAN device. Default: DefaultDevice.
	Device string
	// VNI is the VXLAN network identifier, the same on every node.
	// Default: DefaultVNI.
	VNI int
	// Port is the VXLAN UDP port, the same on every node. Default:
	// DefaultPort.
	Port int
	// MTU of the VXLAN device; 0 means the MTU of the interface that
	// holds the node's address, less 50 bytes of encapsulation (1450 on
	// an Ethernet of 1500). The pods' MTU (netstack/cni Config.MTU)
	// must not be larger.
	MTU int
	// Log receives one line per Sync that changes something; nil discards.
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Backend == "" {
		c.Backend = HostGW
	}
	if c.Device == "" {
		c.Device = DefaultDevice
	}
	if c.VNI == 0 {
		c.VNI = DefaultVNI
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first field of c that cannot work, naming the
// field and the fix. Zero values that have defaults are fine.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch c.Backend {
	case HostGW, VXLAN:
	default:
		return fmt.Errorf("overlay config: Backend %q: want %q or %q: %w", c.Backend, HostGW, VXLAN, errdefs.ErrInvalid)
	}
	if c.NetNS < 0 {
		return fmt.Errorf("overlay config: NetNS %d: want an open fd or 0 for the current namespace: %w", c.NetNS, errdefs.ErrInvalid)
	}
	if len(c.Device) > 15 || strings.ContainsAny(c.Device, "/: \t\n") {
		return fmt.Errorf("overlay config: Device %q: must be an interface name of at most 15 characters without '/', ':' or spaces: %w", c.Device, errdefs.ErrInvalid)
	}
	if c.VNI < 1 || c.VNI > 1<<24-1 {
		return fmt.Errorf("overlay config: VNI %d: must be between 1 and 16777215: %w", c.VNI, errdefs.ErrInvalid)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("overlay config: Port %d: must be between 1 and 65535: %w", c.Port, errdefs.ErrInvalid)
	}
	if c.MTU != 0 && (c.MTU < 1280 || c.MTU > 65535) {
		return fmt.Errorf("overlay config: MTU %d: must be 0 (underlay less 50) or between 1280 and 65535: %w", c.MTU, errdefs.ErrInvalid)
	}
	return nil
}
