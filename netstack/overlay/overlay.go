package overlay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Overlay programs one node's routes to the other nodes' pod subnets.
// Its methods may be called from several goroutines; they run one at a
// time. It keeps no state between calls but the WireGuard key: every
// Sync reads what the kernel holds and writes only the difference.
type Overlay struct {
	cfg Config
	log *slog.Logger
	mu  sync.Mutex
	// key is the WireGuard private key once read or made: the one the
	// Node annotation names for as long as this Overlay lives.
	key *wgtypes.Key
	// keyWarned: the key file's change under it has been said.
	keyWarned bool
}

// New returns an Overlay for cfg. It touches nothing until Sync or
// Cleanup.
func New(cfg Config) (*Overlay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Overlay{cfg: cfg, log: cfg.Log.With("component", "overlay", "backend", string(cfg.Backend))}, nil
}

// Result says what one Sync did.
type Result struct {
	// Changes counts the routes, neighbour and FDB entries, WireGuard
	// peers, keys and ports, addresses and devices written or deleted;
	// 0 means the kernel already held the desired state.
	Changes int
	// Routes is the number of remote pod subnets routed after the Sync.
	Routes int
}

// Sync makes the kernel route to every remote node's pod subnet of st
// and to nothing else: routes (and for VXLAN, FDB and neighbour entries;
// for WireGuard, peers) of nodes that are no longer listed are removed,
// ones deleted by hand are put back, and nothing is written when nothing
// changed. A remote node that cannot be programmed (bad input, for
// host-gw an address not on a local subnet, for WireGuard no key yet)
// is left out and reported in the returned error
// (errdefs.ErrInvalid, one line per node); the others are programmed all
// the same. A bad st.Local is an error and nothing is written.
func (o *Overlay) Sync(st State) (Result, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := st.Local.checkLocal(); err != nil {
		return Result{}, err
	}
	st.Local.PodCIDR = st.Local.PodCIDR.Masked()
	remotes, inputErr := st.remotes(o.cfg.Backend)
	h, err := o.handle()
	if err != nil {
		return Result{}, errors.Join(err, inputErr)
	}
	defer h.Close()
	var res Result
	switch o.cfg.Backend {
	case VXLAN:
		res, err = o.syncVXLAN(h, st.Local, remotes)
	case WireGuard:
		res, err = o.syncWireGuard(h, st.Local, remotes)
	default:
		res, err = o.syncHostGW(h, remotes)
	}
	if res.Changes > 0 || err != nil {
		o.log.Info("sync", "remotes", len(st.Remotes), "routes", res.Routes, "changes", res.Changes, "err", errors.Join(err, inputErr))
	}
	return res, errors.Join(err, inputErr)
}

// Cleanup removes every route of RouteProtocol from the main table and
// the VXLAN device (with its FDB and neighbour entries) and the
// WireGuard device (with its peers; a wireguard-go that ran it exits),
// whichever backend wrote them. It leaves WireGuardKeyFile alone.
func (o *Overlay) Cleanup() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	h, err := o.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	if _, err := o.deleteTunnels(h, ""); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := syncRoutes(h, nil); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (o *Overlay) handle() (*netlink.Handle, error) {
	var h *netlink.Handle
	var err error
	if o.cfg.NetNS == 0 {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandleAt(netns.NsHandle(o.cfg.NetNS), unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: open netlink: %w", err)
	}
	return h, nil
}

// inNetNS runs fn on an OS thread in the namespace of Config.NetNS (on
// the calling goroutine's thread, unmoved, when NetNS is 0), so that the
// sockets and TUN devices fn opens and the processes it starts are
// there. The thread is put back in its own namespace after; one that
// cannot be is left locked, so that the runtime ends it with the
// goroutine rather than run other code in the wrong namespace.
func (o *Overlay) inNetNS(fn func() error) error {
	if o.cfg.NetNS == 0 {
		return fn()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("overlay: open this thread's network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(netns.NsHandle(o.cfg.NetNS)); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("overlay: enter network namespace (fd %d): %w", o.cfg.NetNS, err)
	}
	defer func() {
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}

// route is one wanted route in the main table: via gw, or with no gw
// straight into link (a WireGuard device), scope link.
type route struct {
	node   string // for errors
	dst    netip.Prefix
	gw     netip.Addr
	link   int
	onlink bool
}

func (r route) scope() netlink.Scope {
	if r.gw.IsValid() {
		return netlink.SCOPE_UNIVERSE
	}
	return netlink.SCOPE_LINK
}

func (r route) matches(k netlink.Route) bool {
	gw, _ := netip.AddrFromSlice(k.Gw.To4())
	return k.Dst != nil && k.Dst.String() == r.dst.String() && gw == r.gw &&
		k.LinkIndex == r.link && (k.Flags&int(netlink.FLAG_ONLINK) != 0) == r.onlink &&
		k.Scope == r.scope() && len(k.MultiPath) == 0
}

func (r route) netlink() *netlink.Route {
	k := &netlink.Route{
		Dst:       prefixNet(r.dst),
		Gw:        r.gw.AsSlice(),
		LinkIndex: r.link,
		Protocol:  RouteProtocol,
		Table:     unix.RT_TABLE_MAIN,
		Scope:     r.scope(),
	}
	if r.onlink {
		k.Flags = int(netlink.FLAG_ONLINK)
	}
	return k
}

// syncRoutes makes the routes of RouteProtocol in the main table exactly
// want (by destination) and returns how many it wrote or deleted.
func syncRoutes(h *netlink.Handle, want map[netip.Prefix]route) (changes, n int, err error) {
	have, err := h.RouteListFiltered(unix.AF_INET,
		&netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: RouteProtocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return 0, 0, fmt.Errorf("overlay: list routes: %w", err)
	}
	var errs []error
	kept := map[netip.Prefix]bool{}
	for _, k := range have {
		var dst netip.Prefix
		if k.Dst != nil {
			dst, _ = netip.ParsePrefix(k.Dst.String())
		}
		if r, ok := want[dst]; ok && !kept[dst] && r.matches(k) {
			kept[dst] = true
			continue
		}
		if err := h.RouteDel(&k); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("overlay: delete route %s: %w", k.Dst, err))
			continue
		}
		changes++
	}
	for dst, r := range want {
		if kept[dst] {
			n++
			continue
		}
		if err := h.RouteReplace(r.netlink()); err != nil {
			errs = append(errs, fmt.Errorf("overlay: node %q: route %s via %s: %w", r.node, dst, r.gw, err))
			continue
		}
		changes++
		n++
	}
	return changes, n, errors.Join(errs...)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
