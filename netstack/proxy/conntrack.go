package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// UDP has no connection to end: a client that keeps its source port
// (a resolver, a game, a VPN) stays on the conntrack entry of its first
// packet, and so on its endpoint, as long as it keeps sending, even when
// that endpoint is gone from the table. After a Sync that removes UDP
// endpoints, their translated flows are deleted from conntrack, so the
// next packet is a new connection and picks a live endpoint. TCP needs
// none of this: a gone endpoint resets or times out, and the client
// reconnects.

// staleUDP is one removed UDP endpoint of a service port and the
// frontends its flows came in on.
type staleUDP struct {
	endpoint  netip.AddrPort
	frontends []netip.AddrPort // VIP and LoadBalancer addresses, with the service port
	nodePort  uint16
}

// staleUDPEndpoints returns the UDP endpoints that old has and new (nil
// for a removed service) has not, port by port.
func staleUDPEndpoints(old, new *fragment) []staleUDP {
	var out []staleUDP
	for _, p := range old.svc.Ports {
		if p.Protocol != UDP {
			continue
		}
		var keep []netip.AddrPort
		if new != nil {
			for _, np := range new.svc.Ports {
				if np.Protocol == UDP && np.Port == p.Port {
					keep = np.Endpoints
				}
			}
		}
		frontends := []netip.AddrPort{netip.AddrPortFrom(old.svc.ClusterIP, p.Port)}
		for _, a := range old.addrs {
			frontends = append(frontends, netip.AddrPortFrom(a, p.Port))
		}
		for _, ep := range p.Endpoints {
			if !slices.Contains(keep, ep) {
				out = append(out, staleUDP{endpoint: ep, frontends: frontends, nodePort: p.NodePort})
			}
		}
	}
	return out
}

var _ netlink.CustomConntrackFilter = staleUDP{}

// MatchConntrackFlow reports whether flow is a UDP flow that came in on
// one of s's frontends and was translated to s's endpoint.
func (s staleUDP) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	ep, ok := addrPort(flow.Reverse.SrcIP, flow.Reverse.SrcPort)
	if !ok || ep != s.endpoint {
		return false
	}
	dst, ok := addrPort(flow.Forward.DstIP, flow.Forward.DstPort)
	if !ok || dst == s.endpoint {
		return false // not translated: a client talking to the pod directly
	}
	return slices.Contains(s.frontends, dst) || (s.nodePort != 0 && dst.Port() == s.nodePort)
}

func addrPort(ip net.IP, port uint16) (netip.AddrPort, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port), ok
}

// flushConntrack deletes the flows of stale from conntrack in netns (0:
// the caller's) and returns how many it deleted.
func flushConntrack(netnsFd int, stale []staleUDP) (uint, error) {
	if len(stale) == 0 {
		return 0, nil
	}
	var h *netlink.Handle
	var err error
	if netnsFd == 0 {
		h, err = netlink.NewHandle(unix.NETLINK_NETFILTER)
	} else {
		h, err = netlink.NewHandleAt(netns.NsHandle(netnsFd), unix.NETLINK_NETFILTER)
	}
	if err != nil {
		return 0, fmt.Errorf("conntrack: open netlink: %w", err)
	}
	defer h.Close()
	filters := make([]netlink.CustomConntrackFilter, len(stale))
	for i, s := range stale {
		filters[i] = s
	}
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil {
		return n, fmt.Errorf("conntrack: delete flows of %d removed UDP endpoints: %w", len(stale), err)
	}
	return n, nil
}
