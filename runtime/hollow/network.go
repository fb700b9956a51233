package hollow

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"

	"github.com/skiffhq/skiff/netstack/cni"
	"github.com/skiffhq/skiff/runtime/agent"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Network is the agent's pod network without a network: it hands out
// addresses of the node's pod CIDR (the first after the gateway, as
// host-local does) and remembers them by pod UID. It makes no namespace
// and changes nothing on the host; a sandbox's NetNSPath is empty. Its
// methods are safe to call from any goroutine.
type Network struct {
	mu     sync.Mutex
	prefix netip.Prefix
	gw     netip.Addr
	next   netip.Addr // where the search for a free address starts
	pods   map[string]cni.Sandbox
	used   map[netip.Addr]string // address → pod UID

	cidrOnce sync.Once
	cidrSet  chan struct{}
}

var _ agent.Network = (*Network)(nil)

// NewNetwork returns a Network without a pod CIDR yet.
func NewNetwork() *Network {
	return &Network{pods: map[string]cni.Sandbox{}, used: map[netip.Addr]string{}, cidrSet: make(chan struct{})}
}

// SetPodCIDR sets the subnet pods get addresses from. Addresses already
// given keep their sandboxes, as with CNI.
func (n *Network) SetPodCIDR(cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || p.Masked() != p || p.Addr().Is4In6() {
		return fmt.Errorf("hollow: pod cidr %q: not a CIDR such as 10.42.3.0/24: %w", cidr, errdefs.ErrInvalid)
	}
	if max := p.Addr().BitLen() - 2; p.Bits() > max {
		return fmt.Errorf("hollow: pod cidr %q: too small, the prefix must be /%d or shorter: %w", cidr, max, errdefs.ErrInvalid)
	}
	n.mu.Lock()
	if n.prefix != p {
		n.prefix, n.gw = p, p.Addr().Next()
		n.next = n.gw.Next()
	}
	n.mu.Unlock()
	n.cidrOnce.Do(func() { close(n.cidrSet) })
	return nil
}

// PodCIDR is the subnet set last, "" before SetPodCIDR.
func (n *Network) PodCIDR() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.prefix.IsValid() {
		return ""
	}
	return n.prefix.String()
}

// CIDRSet is closed once SetPodCIDR has been called: the agent has
// registered its node and got its subnet.
func (n *Network) CIDRSet() <-chan struct{} { return n.cidrSet }

// Setup gives the pod an address, or returns the one it has.
func (n *Network) Setup(_ context.Context, pod cni.PodNetwork) (cni.Sandbox, error) {
	if pod.UID == "" {
		return cni.Sandbox{}, fmt.Errorf("hollow: setup pod %s/%s: empty uid: %w", pod.Namespace, pod.Name, errdefs.ErrInvalid)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if sb, ok := n.pods[pod.UID]; ok {
		return sb, nil
	}
	if !n.prefix.IsValid() {
		return cni.Sandbox{}, fmt.Errorf("hollow: setup pod %s/%s: no pod cidr yet, call SetPodCIDR first: %w", pod.Namespace, pod.Name, errdefs.ErrUnavailable)
	}
	addr, ok := n.freeLocked()
	if !ok {
		return cni.Sandbox{}, fmt.Errorf("hollow: setup pod %s/%s: pod subnet %s is full: %w", pod.Namespace, pod.Name, n.prefix, errdefs.ErrUnavailable)
	}
	n.used[addr] = pod.UID
	n.next = addr.Next()
	bits := n.prefix.Addr().BitLen()
	sb := cni.Sandbox{
		UID:     pod.UID,
		IP:      net.IP(addr.AsSlice()),
		Gateway: net.IP(n.gw.AsSlice()),
		CIDR:    &net.IPNet{IP: net.IP(n.prefix.Addr().AsSlice()), Mask: net.CIDRMask(n.prefix.Bits(), bits)},
	}
	n.pods[pod.UID] = sb
	return sb, nil
}

// freeLocked finds an unused address after the gateway, searching from
// next and wrapping once; the last address (broadcast) is never given.
func (n *Network) freeLocked() (netip.Addr, bool) {
	first := n.gw.Next()
	last := lastAddr(n.prefix).Prev()
	if !n.prefix.Contains(n.next) || n.next.Compare(first) < 0 || n.next.Compare(last) > 0 {
		n.next = first
	}
	a := n.next
	for {
		if _, taken := n.used[a]; !taken {
			return a, true
		}
		a = a.Next()
		if a.Compare(last) > 0 {
			a = first
		}
		if a == n.next {
			return netip.Addr{}, false
		}
	}
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Get returns the pod's sandbox.
func (n *Network) Get(uid string) (cni.Sandbox, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sb, ok := n.pods[uid]
	return sb, ok
}

// Teardown frees the pod's address; a pod without one is fine.
func (n *Network) Teardown(_ context.Context, uid string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.teardownLocked(uid)
	return nil
}

func (n *Network) teardownLocked(uid string) {
	sb, ok := n.pods[uid]
	if !ok {
		return
	}
	if a, ok := netip.AddrFromSlice(sb.IP); ok {
		delete(n.used, a.Unmap())
	}
	delete(n.pods, uid)
}

// List returns the UIDs of the pods with an address, sorted.
func (n *Network) List() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.pods))
	for uid := range n.pods {
		out = append(out, uid)
	}
	sort.Strings(out)
	return out
}

// CleanupOrphans frees the address of every pod keep rejects.
func (n *Network) CleanupOrphans(_ context.Context, keep func(uid string) bool) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var removed []string
	for uid := range n.pods {
		if !keep(uid) {
			n.teardownLocked(uid)
			removed = append(removed, "sandbox "+uid)
		}
	}
	sort.Strings(removed)
	return removed, nil
}
