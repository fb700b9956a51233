package overlay

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// syncHostGW routes each remote pod subnet via the remote node's address
// on the interface whose subnet holds that address. A VXLAN or
// WireGuard device left from an earlier backend is deleted.
func (o *Overlay) syncHostGW(h *netlink.Handle, remotes []Node) (Result, error) {
	var res Result
	var errs []error
	c, err := o.deleteTunnels(h, HostGW)
	res.Changes += c
	if err != nil {
		errs = append(errs, err)
	}
	subnets, err := localSubnets(h)
	if err != nil {
		return res, err
	}
	want := make(map[netip.Prefix]route, len(remotes))
	for _, n := range remotes {
		link, ok := subnets.linkFor(n.IP)
		if !ok {
			errs = append(errs, fmt.Errorf("overlay: %s: host-gw: %s is not on a subnet of any interface of this node, so it cannot be a next hop; host-gw needs all nodes on one L2 segment: use vxlan: %w", n, n.IP, errdefs.ErrInvalid))
			continue
		}
		want[n.PodCIDR] = route{node: n.Name, dst: n.PodCIDR, gw: n.IP, link: link}
	}
	c, routes, err := syncRoutes(h, want)
	res.Changes += c
	res.Routes = routes
	return res, errors.Join(append(errs, err)...)
}

// subnets are the IPv4 subnets of the node's interfaces, by link index.
type subnets []struct {
	p    netip.Prefix
	link int
}

func localSubnets(h *netlink.Handle) (subnets, error) {
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("overlay: list addresses: %w", err)
	}
	var s subnets
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if !ok || ones >= 31 || ip.IsLoopback() {
			continue
		}
		s = append(s, struct {
			p    netip.Prefix
			link int
		}{netip.PrefixFrom(ip, ones).Masked(), a.LinkIndex})
	}
	return s, nil
}

// linkFor returns the interface on whose subnet ip is, the longest match.
func (s subnets) linkFor(ip netip.Addr) (int, bool) {
	best, link := -1, 0
	for _, e := range s {
		if e.p.Contains(ip) && e.p.Bits() > best {
			best, link = e.p.Bits(), e.link
		}
	}
	return link, best >= 0
}
