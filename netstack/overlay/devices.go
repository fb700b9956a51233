package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// tunnelKind says what is under one of the names of skiff's tunnel
// devices (Config.tunnelDevices).
type tunnelKind int

const (
	noTunnel tunnelKind = iota
	// vxlanTunnel is a VXLAN device: skiff's.
	vxlanTunnel
	// kernelWireGuard is a kernel WireGuard device: skiff's.
	kernelWireGuard
	// userWireGuard is a TUN device whose wireguard-go serves
	// /var/run/wireguard/<name>.sock from this namespace: skiff's.
	userWireGuard
	// foreignDevice is anything else: not skiff's, never deleted.
	foreignDevice
)

// backend returns the backend whose device k is.
func (k tunnelKind) backend() Backend {
	switch k {
	case vxlanTunnel:
		return VXLAN
	case kernelWireGuard, userWireGuard:
		return WireGuard
	}
	return ""
}

// lookupTunnel returns the device called name and what it is; a nil
// link and noTunnel when there is none.
func (o *Overlay) lookupTunnel(h *netlink.Handle, name string) (netlink.Link, tunnelKind, error) {
	link, err := h.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil, noTunnel, nil
	}
	if err != nil {
		return nil, noTunnel, fmt.Errorf("overlay: look up %s: %w", name, err)
	}
	switch link.(type) {
	case *netlink.Vxlan:
		return link, vxlanTunnel, nil
	case *netlink.Wireguard:
		return link, kernelWireGuard, nil
	case *netlink.Tuntap:
		ours, err := o.servesUAPI(name)
		if err != nil {
			return nil, noTunnel, err
		}
		if ours {
			return link, userWireGuard, nil
		}
	}
	return link, foreignDevice, nil
}

// deleteTunnels deletes the tunnel devices of skiff's that backend b
// (or "" for Cleanup) does not use, and returns how many: every VXLAN
// or WireGuard device under a name of Config.tunnelDevices other than
// b's own device, and under b's own name one of the other backend's
// kind. A device of another kind is not skiff's: under b's own name it
// is left for b to report, under another it is reported (ErrConflict);
// it is never deleted.
func (o *Overlay) deleteTunnels(h *netlink.Handle, b Backend) (int, error) {
	own := o.cfg.device(b)
	changes := 0
	var errs []error
	for _, name := range o.cfg.tunnelDevices() {
		link, kind, err := o.lookupTunnel(h, name)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case kind == noTunnel:
			continue
		case name == own && (kind == foreignDevice || kind.backend() == b):
			continue
		case kind == foreignDevice:
			errs = append(errs, fmt.Errorf("overlay: %s is a %s device, not skiff's; not deleting it: %w", name, link.Type(), errdefs.ErrConflict))
			continue
		}
		if err := o.deleteTunnel(h, link, kind); err != nil {
			errs = append(errs, err)
			continue
		}
		changes++
	}
	return changes, errors.Join(errs...)
}

// deleteTunnel deletes one device of skiff's; for userspace WireGuard
// it also waits for wireguard-go to have gone.
func (o *Overlay) deleteTunnel(h *netlink.Handle, link netlink.Link, kind tunnelKind) error {
	if kind == userWireGuard {
		return o.deleteUserspace(h, link)
	}
	if err := h.LinkDel(link); err != nil {
		return fmt.Errorf("overlay: delete %s: %w", link.Attrs().Name, err)
	}
	return nil
}

// syncLink gives a tunnel device the MTU mtu, exactly the address
// vtep/32 and the up state, and returns how many it changed.
func syncLink(h *netlink.Handle, link netlink.Link, mtu int, vtep netip.Addr) (int, error) {
	changes := 0
	a := link.Attrs()
	if a.MTU != mtu {
		if err := h.LinkSetMTU(link, mtu); err != nil {
			return changes, fmt.Errorf("overlay: set %s mtu %d: %w", a.Name, mtu, err)
		}
		changes++
	}
	c, err := syncDeviceAddr(h, link, vtep)
	changes += c
	if err != nil {
		return changes, err
	}
	if a.Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(link); err != nil {
			return changes, fmt.Errorf("overlay: set %s up: %w", a.Name, err)
		}
		changes++
	}
	return changes, nil
}
