package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

const (
	// persistentKeepalive is how often a peer is sent an empty packet
	// when nothing else goes to it, so that the mapping of a node
	// behind NAT stays open and the node stays reachable.
	persistentKeepalive = 25 * time.Second
	// rejectAfter is WireGuard's Reject-After-Time: no session outlives
	// its handshake by more, so a peer whose last handshake is younger
	// is connected, at the endpoint the device last heard it from.
	rejectAfter = 180 * time.Second
)

// syncWireGuard makes the WireGuard device match the config and the
// local node (created, in the kernel or else by wireguard-go, when it is
// missing), gives it one peer per remote node (its public key, its node
// IP and WireGuardPort as endpoint, its pod subnet as allowed IPs) and
// no other, and routes each remote pod subnet into the device.
func (o *Overlay) syncWireGuard(h *netlink.Handle, local Node, remotes []Node) (Result, error) {
	var res Result
	key, err := o.privateKey()
	if err != nil {
		return res, err
	}
	var errs []error
	own := key.PublicKey().String()
	remotes = slices.DeleteFunc(slices.Clone(remotes), func(n Node) bool {
		if n.WireGuardKey != own {
			return false
		}
		errs = append(errs, fmt.Errorf("overlay: %s: WireGuardKey is this node's own: two nodes share a key file: %w", n, errdefs.ErrInvalid))
		return true
	})
	c, err := o.deleteTunnels(h, WireGuard)
	res.Changes += c
	errs = append(errs, err)
	mtu := o.cfg.MTU
	if mtu == 0 {
		// WireGuard binds no address: the node IP may be one NAT
		// gives it (a VPS's public address).
		mtu = underlayMTU(h, local.IP) - wireguardOverhead
	}
	link, c, err := o.ensureWireGuardLink(h)
	res.Changes += c
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	c, err = syncLink(h, link, mtu, local.vtep())
	res.Changes += c
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	c, err = o.configureWireGuard(link.Attrs().Name, key, remotes)
	res.Changes += c
	errs = append(errs, err)
	want := make(map[netip.Prefix]route, len(remotes))
	for _, n := range remotes {
		want[n.PodCIDR] = route{node: n.Name, dst: n.PodCIDR, link: link.Attrs().Index}
	}
	c, res.Routes, err = syncRoutes(h, want)
	res.Changes += c
	return res, errors.Join(append(errs, err)...)
}

// ensureWireGuardLink returns the WireGuard device, adopting the one
// there (a kernel device, or a TUN device of a running wireguard-go)
// as it is, else creating a kernel device, else, when the kernel has no
// WireGuard, starting wireguard-go.
func (o *Overlay) ensureWireGuardLink(h *netlink.Handle) (netlink.Link, int, error) {
	name := o.cfg.device(WireGuard)
	link, kind, err := o.lookupTunnel(h, name)
	switch {
	case err != nil:
		return nil, 0, err
	case kind == kernelWireGuard || kind == userWireGuard:
		return link, 0, nil
	case kind == foreignDevice:
		hint := ""
		if _, ok := link.(*netlink.Tuntap); ok {
			hint = fmt.Sprintf(" (no wireguard-go of this network namespace serves %s)", uapiSocket(name))
		}
		return nil, 0, fmt.Errorf("overlay: %s is a %s device, not skiff's wireguard%s; remove it or set Device: %w", name, link.Type(), hint, errdefs.ErrConflict)
	}
	err = h.LinkAdd(&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: name}})
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		// "Unknown device type": no WireGuard in this kernel, and
		// none it could load.
		if err := o.startUserspace(name); err != nil {
			return nil, 0, err
		}
		o.log.Info("the kernel has no WireGuard; started userspace WireGuard", "device", name, "binary", o.cfg.WireGuardUserspace)
	case err != nil:
		return nil, 0, fmt.Errorf("overlay: create wireguard %s: %w", name, err)
	}
	if link, err = h.LinkByName(name); err != nil {
		return nil, 1, fmt.Errorf("overlay: look up %s: %w", name, err)
	}
	return link, 1, nil
}

// configureWireGuard gives device name the private key, listen port and
// peers it should have, writing only what differs, and returns how many
// things it changed (the key, the port, each peer added, changed or
// removed).
func (o *Overlay) configureWireGuard(name string, key wgtypes.Key, remotes []Node) (int, error) {
	var wg *wgctrl.Client
	// The client's netlink socket (kernel devices) must be made in the
	// namespace; wireguard-go's socket is a file, reached from anywhere.
	err := o.inNetNS(func() (err error) {
		wg, err = wgctrl.New()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("overlay: open wireguard control: %w", err)
	}
	defer wg.Close()
	dev, err := wg.Device(name)
	if err != nil {
		return 0, fmt.Errorf("overlay: read wireguard %s: %w", name, err)
	}
	cfg, changes := wireguardConfig(dev, key, o.cfg.WireGuardPort, remotes, time.Now())
	if changes == 0 {
		return 0, nil
	}
	if err := wg.ConfigureDevice(name, cfg); err != nil {
		if errors.Is(err, unix.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
			return 0, fmt.Errorf("overlay: configure wireguard %s: UDP port %d is taken on this node (another WireGuard?): give the cluster another with the server's --wireguard-port: %w",
				name, o.cfg.WireGuardPort, errdefs.ErrConflict)
		}
		return 0, fmt.Errorf("overlay: configure wireguard %s: %w", name, err)
	}
	return changes, nil
}

// wireguardConfig returns what turns dev into the wanted device, and how
// many changes that is. A peer whose endpoint differs from the wanted
// one keeps it while it is connected (a handshake within rejectAfter):
// WireGuard learnt it from the peer's own packets, e.g. the address a
// node behind NAT is seen at, which its node IP is not.
func wireguardConfig(dev *wgtypes.Device, key wgtypes.Key, port int, remotes []Node, now time.Time) (wgtypes.Config, int) {
	var cfg wgtypes.Config
	changes := 0
	if dev.PrivateKey != key {
		cfg.PrivateKey = &key
		changes++
	}
	if dev.ListenPort != port {
		cfg.ListenPort = &port
		changes++
	}
	want := make(map[wgtypes.Key]Node, len(remotes))
	for _, n := range remotes {
		k, _ := wgtypes.ParseKey(n.WireGuardKey) // checked by State.remotes
		want[k] = n
	}
	// Removals first, so that a pod subnet moving from a peer that
	// goes to one that comes is free when the new one takes it.
	var updates []wgtypes.PeerConfig
	have := map[wgtypes.Key]bool{}
	for _, p := range dev.Peers {
		n, ok := want[p.PublicKey]
		if !ok || have[p.PublicKey] {
			cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{PublicKey: p.PublicKey, Remove: true})
			changes++
			continue
		}
		have[p.PublicKey] = true
		if pc, changed := peerUpdate(p, n, port, now); changed {
			updates = append(updates, pc)
			changes++
		}
	}
	cfg.Peers = append(cfg.Peers, updates...)
	for _, n := range remotes {
		k, _ := wgtypes.ParseKey(n.WireGuardKey)
		if have[k] {
			continue
		}
		keepalive := persistentKeepalive
		cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{
			PublicKey:                   k,
			Endpoint:                    net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.IP, uint16(port))),
			PersistentKeepaliveInterval: &keepalive,
			ReplaceAllowedIPs:           true,
			AllowedIPs:                  []net.IPNet{*prefixNet(n.PodCIDR)},
		})
		changes++
	}
	return cfg, changes
}

// peerUpdate returns the change that makes peer p right for node n, and
// whether one is needed.
func peerUpdate(p wgtypes.Peer, n Node, port int, now time.Time) (wgtypes.PeerConfig, bool) {
	pc := wgtypes.PeerConfig{PublicKey: p.PublicKey, UpdateOnly: true}
	changed := false
	endpoint := netip.AddrPortFrom(n.IP, uint16(port))
	connected := !p.LastHandshakeTime.IsZero() && now.Sub(p.LastHandshakeTime) < rejectAfter
	if p.Endpoint == nil || (!connected && unmapped(p.Endpoint) != endpoint) {
		pc.Endpoint = net.UDPAddrFromAddrPort(endpoint)
		changed = true
	}
	if len(p.AllowedIPs) != 1 || p.AllowedIPs[0].String() != n.PodCIDR.String() {
		pc.ReplaceAllowedIPs = true
		pc.AllowedIPs = []net.IPNet{*prefixNet(n.PodCIDR)}
		changed = true
	}
	if p.PersistentKeepaliveInterval != persistentKeepalive {
		keepalive := persistentKeepalive
		pc.PersistentKeepaliveInterval = &keepalive
		changed = true
	}
	if p.PresharedKey != (wgtypes.Key{}) {
		pc.PresharedKey = &wgtypes.Key{}
		changed = true
	}
	return pc, changed
}

func unmapped(a *net.UDPAddr) netip.AddrPort {
	ap := a.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
