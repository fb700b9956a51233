package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// syncVXLAN makes the VXLAN device match the config and the local node,
// then programs per remote node one FDB entry (its MAC → its node IP),
// one neighbour entry (its VTEP address → its MAC) and one route (its
// pod subnet via its VTEP address, onlink).
func (o *Overlay) syncVXLAN(h *netlink.Handle, local Node, remotes []Node) (Result, error) {
	var res Result
	var errs []error
	c, err := o.deleteTunnels(h, VXLAN)
	res.Changes += c
	errs = append(errs, err)
	dev, c, err := o.ensureDevice(h, local)
	res.Changes += c
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	idx := dev.Attrs().Index
	c, err = syncFDB(h, idx, remotes)
	res.Changes += c
	errs = append(errs, err)
	c, err = syncNeighbours(h, idx, remotes)
	res.Changes += c
	errs = append(errs, err)
	want := make(map[netip.Prefix]route, len(remotes))
	for _, n := range remotes {
		want[n.PodCIDR] = route{node: n.Name, dst: n.PodCIDR, gw: n.vtep(), link: idx, onlink: true}
	}
	c, res.Routes, err = syncRoutes(h, want)
	res.Changes += c
	return res, errors.Join(append(errs, err)...)
}

// ensureDevice creates the VXLAN device or brings the one there in line:
// recreated when its VNI, port, local address, underlay or learning
// differ; MAC, MTU, address and up state fixed in place.
func (o *Overlay) ensureDevice(h *netlink.Handle, local Node) (netlink.Link, int, error) {
	changes := 0
	name := o.cfg.device(VXLAN)
	under, err := linkWithAddr(h, local.IP)
	if err != nil {
		return nil, 0, err
	}
	mtu := o.cfg.MTU
	if mtu == 0 {
		mtu = under.Attrs().MTU - vxlanOverhead
	}
	mac := MACFor(local.IP)
	want := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: name, MTU: mtu, HardwareAddr: mac},
		VxlanId:      o.cfg.VNI,
		VtepDevIndex: under.Attrs().Index,
		SrcAddr:      local.IP.AsSlice(),
		Port:         o.cfg.Port,
		Learning:     false,
	}
	link, err := h.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		link = nil
	case err != nil:
		return nil, 0, fmt.Errorf("overlay: look up %s: %w", name, err)
	}
	if link != nil {
		vx, ok := link.(*netlink.Vxlan)
		if !ok {
			return nil, 0, fmt.Errorf("overlay: %s is a %s device, not skiff's vxlan; remove it or set Device: %w", name, link.Type(), errdefs.ErrConflict)
		}
		if vx.VxlanId != want.VxlanId || vx.Port != want.Port || !vx.SrcAddr.Equal(want.SrcAddr) ||
			vx.VtepDevIndex != want.VtepDevIndex || vx.Learning {
			if err := h.LinkDel(link); err != nil {
				return nil, 0, fmt.Errorf("overlay: delete %s to recreate it: %w", name, err)
			}
			changes++
			link = nil
		}
	}
	if link == nil {
		if err := h.LinkAdd(want); err != nil {
			return nil, changes, fmt.Errorf("overlay: create vxlan %s (vni %d, port %d, local %s): %w", name, o.cfg.VNI, o.cfg.Port, local.IP, err)
		}
		changes++
		if link, err = h.LinkByName(name); err != nil {
			return nil, changes, fmt.Errorf("overlay: look up %s: %w", name, err)
		}
	}
	if !bytes.Equal(link.Attrs().HardwareAddr, mac) {
		if err := h.LinkSetHardwareAddr(link, mac); err != nil {
			return nil, changes, fmt.Errorf("overlay: set %s address %s: %w", name, mac, err)
		}
		changes++
	}
	c, err := syncLink(h, link, mtu, local.vtep())
	changes += c
	if err != nil {
		return nil, changes, err
	}
	return link, changes, nil
}

// syncDeviceAddr gives the device exactly the IPv4 address vtep/32, the
// source of what the node itself sends to remote pods.
func syncDeviceAddr(h *netlink.Handle, link netlink.Link, vtep netip.Addr) (int, error) {
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return 0, fmt.Errorf("overlay: list addresses of %s: %w", link.Attrs().Name, err)
	}
	changes, found := 0, false
	for _, a := range addrs {
		if ones, _ := a.Mask.Size(); ones == 32 && a.IP.Equal(vtep.AsSlice()) {
			found = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil {
			return changes, fmt.Errorf("overlay: delete address %s of %s: %w", a.IPNet, link.Attrs().Name, err)
		}
		changes++
	}
	if !found {
		addr := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(vtep, 32))}
		if err := h.AddrAdd(link, addr); err != nil {
			return changes, fmt.Errorf("overlay: add address %s/32 to %s: %w", vtep, link.Attrs().Name, err)
		}
		changes++
	}
	return changes, nil
}

// linkWithAddr returns the interface that holds ip, the VXLAN underlay.
func linkWithAddr(h *netlink.Handle, ip netip.Addr) (netlink.Link, error) {
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("overlay: list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.Equal(ip.AsSlice()) {
			link, err := h.LinkByIndex(a.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("overlay: look up interface %d of %s: %w", a.LinkIndex, ip, err)
			}
			return link, nil
		}
	}
	return nil, fmt.Errorf("overlay: local node IP %s is on no interface of this node: %w", ip, errdefs.ErrInvalid)
}

// underlayMTU is the MTU of the interface that holds ip or, when none
// does (a node known by an address NAT gives it), of the interface of
// the default route; 1500 when neither is found.
func underlayMTU(h *netlink.Handle, ip netip.Addr) int {
	if link, err := linkWithAddr(h, ip); err == nil {
		return link.Attrs().MTU
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err == nil {
		for _, r := range routes {
			if r.Dst == nil || isDefaultDst(r.Dst) {
				if link, err := h.LinkByIndex(r.LinkIndex); err == nil {
					return link.Attrs().MTU
				}
			}
		}
	}
	return 1500
}

func isDefaultDst(dst *net.IPNet) bool {
	ones, _ := dst.Mask.Size()
	return ones == 0
}

// UnderlayMTU is, in the caller's network namespace, the MTU of the
// interface that holds ip, else of the default route's, else 1500: what
// an agent gives its pods, less TunnelOverhead, so that they fit the
// tunnel's device.
func UnderlayMTU(ip netip.Addr) int {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return 1500
	}
	defer h.Close()
	return underlayMTU(h, ip)
}

// syncFDB keeps one permanent FDB entry per remote node on the device:
// its VTEP MAC → its node IP, and no other.
func syncFDB(h *netlink.Handle, idx int, remotes []Node) (int, error) {
	want := make(map[string]net.IP, len(remotes))
	for _, n := range remotes {
		want[n.VTEPMAC.String()] = n.IP.AsSlice()
	}
	have, err := h.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return 0, fmt.Errorf("overlay: list fdb: %w", err)
	}
	var errs []error
	changes := 0
	kept := map[string]bool{}
	for _, e := range have {
		mac := e.HardwareAddr.String()
		if ip, ok := want[mac]; ok && !kept[mac] && ip.Equal(e.IP) && e.State&netlink.NUD_PERMANENT != 0 {
			kept[mac] = true
			continue
		}
		if err := h.NeighDel(&e); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("overlay: delete fdb %s dst %s: %w", mac, e.IP, err))
			continue
		}
		changes++
	}
	for _, n := range remotes {
		if kept[n.VTEPMAC.String()] {
			continue
		}
		e := &netlink.Neigh{
			LinkIndex:    idx,
			Family:       unix.AF_BRIDGE,
			State:        netlink.NUD_PERMANENT,
			Flags:        netlink.NTF_SELF,
			IP:           n.IP.AsSlice(),
			HardwareAddr: n.VTEPMAC,
		}
		if err := h.NeighSet(e); err != nil {
			errs = append(errs, fmt.Errorf("overlay: %s: fdb %s dst %s: %w", n, n.VTEPMAC, n.IP, err))
			continue
		}
		changes++
	}
	return changes, errors.Join(errs...)
}

// syncNeighbours keeps one permanent neighbour entry per remote node on
// the device: its VTEP address → its VTEP MAC, and no other.
func syncNeighbours(h *netlink.Handle, idx int, remotes []Node) (int, error) {
	want := make(map[netip.Addr]net.HardwareAddr, len(remotes))
	for _, n := range remotes {
		want[n.vtep()] = n.VTEPMAC
	}
	have, err := h.NeighList(idx, unix.AF_INET)
	if err != nil {
		return 0, fmt.Errorf("overlay: list neighbours: %w", err)
	}
	var errs []error
	changes := 0
	kept := map[netip.Addr]bool{}
	for _, e := range have {
		ip, _ := netip.AddrFromSlice(e.IP.To4())
		if mac, ok := want[ip]; ok && !kept[ip] && bytes.Equal(mac, e.HardwareAddr) && e.State&netlink.NUD_PERMANENT != 0 {
			kept[ip] = true
			continue
		}
		if err := h.NeighDel(&e); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("overlay: delete neighbour %s: %w", e.IP, err))
			continue
		}
		changes++
	}
	for _, n := range remotes {
		if kept[n.vtep()] {
			continue
		}
		e := &netlink.Neigh{
			LinkIndex:    idx,
			Family:       unix.AF_INET,
			State:        netlink.NUD_PERMANENT,
			IP:           n.vtep().AsSlice(),
			HardwareAddr: n.VTEPMAC,
		}
		if err := h.NeighSet(e); err != nil {
			errs = append(errs, fmt.Errorf("overlay: %s: neighbour %s lladdr %s: %w", n, n.vtep(), n.VTEPMAC, err))
			continue
		}
		changes++
	}
	return changes, errors.Join(errs...)
}
