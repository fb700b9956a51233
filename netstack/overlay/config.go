package overlay

import (
	"fmt"
	"log/slog"
	"slices"
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
	// WireGuard encrypts pod traffic in UDP between nodes, for nodes
	// joined over networks they do not trust (a home machine and a
	// rented server over the internet). It uses the kernel's WireGuard,
	// else the userspace wireguard-go.
	WireGuard Backend = "wireguard"
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
	// WireGuardKeyAnnotation is the Node annotation in which an agent
	// publishes its WireGuard public key (Overlay.LocalPublicKey, base64
	// as `wg pubkey` prints it), read by every other agent into
	// Node.WireGuardKey.
	WireGuardKeyAnnotation = "skiff.dev/wireguard-public-key"
	// DefaultDevice is the VXLAN device's name.
	DefaultDevice = "skiff.vxlan"
	// DefaultWireGuardDevice is the WireGuard device's name.
	DefaultWireGuardDevice = "skiff.wg"
	// DefaultWireGuardPort is the WireGuard UDP listen port, the same on
	// every node (WireGuard's usual 51820).
	DefaultWireGuardPort = 51820
	// DefaultWireGuardUserspace is the userspace WireGuard run when the
	// kernel has none, looked up in PATH.
	DefaultWireGuardUserspace = "wireguard-go"
	// DefaultVNI is the VXLAN network identifier.
	DefaultVNI = 1
	// DefaultPort is the VXLAN UDP port, the one flannel and Linux use
	// by default (not IANA's 4789).
	DefaultPort = 8472
	// vxlanOverhead is what VXLAN adds to an IPv4 packet: outer IPv4
	// (20) + UDP (8) + VXLAN (8) + inner Ethernet (14).
	vxlanOverhead = 50
	// wireguardOverhead is what WireGuard adds at most: outer IPv6 (40;
	// 20 for IPv4, but wg-quick and the kernel's default MTU of 1420
	// allow for either) + UDP (8) + WireGuard header (16) and tag (16).
	wireguardOverhead = 80
)

// TunnelOverhead returns how many bytes backend b adds to each pod
// packet: 0 for host-gw, 50 for vxlan, 80 for wireguard. The pods' MTU
// (netstack/cni Config.MTU) must be no more than the underlay's MTU less
// this, e.g. 1420 for wireguard on an Ethernet of 1500. It is 0 for an
// unknown backend.
func TunnelOverhead(b Backend) int {
	switch b {
	case VXLAN:
		return vxlanOverhead
	case WireGuard:
		return wireguardOverhead
	}
	return 0
}

// Config configures an Overlay.
type Config struct {
	// Backend is HostGW, VXLAN or WireGuard. Default: HostGW.
	Backend Backend
	// NetNS is an open file descriptor of the network namespace to
	// program; 0 means the namespace of the calling process (the agent
	// runs in the host's). The Overlay does not close it.
	NetNS int
	// Device names the tunnel device of the VXLAN or WireGuard backend.
	// Default: DefaultDevice for VXLAN, DefaultWireGuardDevice for
	// WireGuard. With userspace WireGuard the name must be unique on the
	// machine, across network namespaces: wireguard-go's control socket
	// is /var/run/wireguard/<Device>.sock.
	Device string
	// VNI is the VXLAN network identifier, the same on every node.
	// Default: DefaultVNI.
	VNI int
	// Port is the VXLAN UDP port, the same on every node. Default:
	// DefaultPort.
	Port int
	// MTU of the tunnel device; 0 means the MTU of the interface that
	// holds the node's address less TunnelOverhead (VXLAN 1450 and
	// WireGuard 1420 on an Ethernet of 1500). The pods' MTU
	// (netstack/cni Config.MTU) must not be larger.
	MTU int
	// WireGuardKeyFile is the path of this node's WireGuard private key
	// (one line of base64, as `wg genkey` writes it). Sync and
	// LocalPublicKey make it, mode 0600, with a fresh key when it is
	// missing, and reuse it after: the key must outlive agent restarts
	// and reboots, since the other nodes know this one by its public
	// key. Required with the WireGuard backend.
	WireGuardKeyFile string
	// WireGuardPort is the WireGuard UDP listen port, the same on every
	// node. Default: DefaultWireGuardPort.
	WireGuardPort int
	// WireGuardUserspace is the userspace WireGuard started (as
	// `<WireGuardUserspace> <Device>`, like wg-quick does) when the
	// kernel has no WireGuard: a name looked up in PATH or a path.
	// Default: DefaultWireGuardUserspace.
	WireGuardUserspace string
	// Log receives one line per Sync that changes something; nil discards.
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Backend == "" {
		c.Backend = HostGW
	}
	if c.VNI == 0 {
		c.VNI = DefaultVNI
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.WireGuardPort == 0 {
		c.WireGuardPort = DefaultWireGuardPort
	}
	if c.WireGuardUserspace == "" {
		c.WireGuardUserspace = DefaultWireGuardUserspace
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
	case HostGW, VXLAN, WireGuard:
	default:
		return fmt.Errorf("overlay config: Backend %q: want %q, %q or %q: %w", c.Backend, HostGW, VXLAN, WireGuard, errdefs.ErrInvalid)
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
		return fmt.Errorf("overlay config: MTU %d: must be 0 (underlay less the tunnel's overhead) or between 1280 and 65535: %w", c.MTU, errdefs.ErrInvalid)
	}
	if c.WireGuardPort < 1 || c.WireGuardPort > 65535 {
		return fmt.Errorf("overlay config: WireGuardPort %d: must be between 1 and 65535: %w", c.WireGuardPort, errdefs.ErrInvalid)
	}
	if c.Backend == WireGuard && c.WireGuardKeyFile == "" {
		return fmt.Errorf("overlay config: WireGuardKeyFile is empty: the wireguard backend needs the path of this node's private key, such as /var/lib/skiff/agent/wireguard.key (made if missing): %w", errdefs.ErrInvalid)
	}
	return nil
}

// device returns the name of backend b's tunnel device: Device, else
// b's default; "" for host-gw, which has none (and for "").
func (c Config) device(b Backend) string {
	switch {
	case b != VXLAN && b != WireGuard:
		return ""
	case c.Device != "":
		return c.Device
	case b == WireGuard:
		return DefaultWireGuardDevice
	}
	return DefaultDevice
}

// tunnelDevices are the names under which a tunnel device of skiff's
// may be found: the defaults of both tunnel backends and Device.
func (c Config) tunnelDevices() []string {
	names := []string{DefaultDevice, DefaultWireGuardDevice}
	if c.Device != "" && !slices.Contains(names, c.Device) {
		names = append(names, c.Device)
	}
	return names
}
