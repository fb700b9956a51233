package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Node is one node of the cluster as the overlay needs it, read by the
// agent from the Node object.
type Node struct {
	// Name is the Node's name; it only labels errors and logs.
	Name string
	// IP is the node's InternalIP, the address other nodes reach it at.
	IP netip.Addr
	// PodCIDR is the node's pod subnet, e.g. 10.42.3.0/24.
	PodCIDR netip.Prefix
	// VTEPMAC is the MAC of the node's VXLAN device, from the Node's
	// VXLANMACAnnotation. Needed for remote nodes with the VXLAN backend;
	// ignored for the local node and by host-gw.
	VTEPMAC net.HardwareAddr
	// WireGuardKey is the node's WireGuard public key (base64), from the
	// Node's WireGuardKeyAnnotation. Needed for remote nodes with the
	// WireGuard backend; ignored for the local node and by the others.
	WireGuardKey string
}

func (n Node) String() string { return fmt.Sprintf("node %q (%s, pods %s)", n.Name, n.IP, n.PodCIDR) }

// vtep is the address of n's VXLAN device: the network address (.0) of
// its pod subnet, which no pod gets.
func (n Node) vtep() netip.Addr { return n.PodCIDR.Masked().Addr() }

// State is everything an Overlay needs for one Sync: this node and all
// the others.
type State struct {
	// Local is this node: its name, InternalIP and pod CIDR.
	Local Node
	// Remotes are all other nodes that have an InternalIP and a pod
	// CIDR. A node missing here has its routes removed.
	Remotes []Node
}

// checkLocal reports a bad local node; nothing can be programmed without it.
func (n Node) checkLocal() error {
	if !n.IP.Is4() {
		return fmt.Errorf("overlay: local %s: IP must be an IPv4 address: %w", n, errdefs.ErrInvalid)
	}
	if !n.PodCIDR.IsValid() || !n.PodCIDR.Addr().Is4() || n.PodCIDR.Bits() > 30 {
		return fmt.Errorf("overlay: local %s: PodCIDR must be an IPv4 subnet such as 10.42.0.0/24: %w", n, errdefs.ErrInvalid)
	}
	return nil
}

// remotes returns the remote nodes of st that can be programmed and an
// error naming each that cannot (bad address or subnet, overlapping pod
// subnets, the same name or address twice, a missing MAC for VXLAN, a
// missing or bad or shared key for WireGuard).
func (st State) remotes(backend Backend) ([]Node, error) {
	var errs []error
	bad := func(n Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("overlay: %s: %s: %w", n, fmt.Sprintf(format, args...), errdefs.ErrInvalid))
	}
	var ok []Node
	byName := map[string]bool{}
	byIP := map[netip.Addr]bool{st.Local.IP: true}
	byKey := map[string]string{}
	for _, n := range st.Remotes {
		var key string // normalized
		var keyErr error
		if backend == WireGuard && n.WireGuardKey != "" {
			key, keyErr = parsePublicKey(n.WireGuardKey)
		}
		n.PodCIDR = n.PodCIDR.Masked()
		switch {
		case n.Name == "":
			bad(n, "Name is empty")
		case byName[n.Name] || n.Name == st.Local.Name:
			bad(n, "listed twice")
		case !n.IP.Is4():
			bad(n, "IP must be an IPv4 address")
		case byIP[n.IP]:
			bad(n, "IP %s is also another node's", n.IP)
		case !n.PodCIDR.IsValid() || !n.PodCIDR.Addr().Is4() || n.PodCIDR.Bits() > 30:
			bad(n, "PodCIDR must be an IPv4 subnet such as 10.42.1.0/24")
		case n.PodCIDR.Overlaps(st.Local.PodCIDR):
			bad(n, "PodCIDR overlaps this node's %s", st.Local.PodCIDR)
		case backend == VXLAN && len(n.VTEPMAC) != 6:
			bad(n, "no VTEP MAC: the node has not published annotation %s yet", VXLANMACAnnotation)
		case backend == WireGuard && n.WireGuardKey == "":
			bad(n, "no WireGuard public key: the node has not published annotation %s yet", WireGuardKeyAnnotation)
		case keyErr != nil:
			bad(n, "WireGuardKey (annotation %s): %v", WireGuardKeyAnnotation, keyErr)
		case backend == WireGuard && byKey[key] != "":
			bad(n, "WireGuardKey is also node %q's: two nodes share a key file", byKey[key])
		default:
			if i := overlapping(ok, n.PodCIDR); i >= 0 {
				bad(n, "PodCIDR overlaps that of node %q", ok[i].Name)
				continue
			}
			byName[n.Name], byIP[n.IP] = true, true
			if backend == WireGuard {
				byKey[key], n.WireGuardKey = n.Name, key
			}
			ok = append(ok, n)
		}
	}
	return ok, errors.Join(errs...)
}

func overlapping(nodes []Node, p netip.Prefix) int {
	for i, n := range nodes {
		if n.PodCIDR.Overlaps(p) {
			return i
		}
	}
	return -1
}

// MACFor returns the VTEP MAC an Overlay gives its VXLAN device on the
// node with address ip: locally administered (02:5a) followed by the
// four bytes of ip, so that a recreated device (after a reboot or a
// Cleanup) keeps its MAC and the other nodes' FDB entries stay right.
// It is nil for an address that is not IPv4.
func MACFor(ip netip.Addr) net.HardwareAddr {
	if !ip.Is4() {
		return nil
	}
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x5a, b[0], b[1], b[2], b[3]}
}

// LocalVTEPMAC returns the MAC the VXLAN device of node local has, which
// its agent publishes in its Node's VXLANMACAnnotation: MACFor its IP,
// known before the first Sync.
func LocalVTEPMAC(local Node) net.HardwareAddr { return MACFor(local.IP) }
