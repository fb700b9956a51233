package overlay

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// The kernel tests build small clusters of their own out of named network
// namespaces (skiff-ovl-<pid>-<n>-<role>; skiff-ovl-wg-… for WireGuard's,
// which also run wireguard-go), so that they never touch the
// host's routes or another test's namespaces. Each "host" hN has a pod:
// a namespace pN whose eth0 is 10.42.N.2/24, reached through a veth
// (pod0, 10.42.N.1/24) on the host, as a CNI bridge would. Every pod runs
// a TCP server on :9000 that answers with its host's name and the peer
// it saw. Two shapes join the hosts:
//
//	one segment (host-gw works):        routed (only vxlan works):
//
//	  h1 eth0 10.251.0.1/24 ─┐            h1 eth0 10.251.1.2/24 ── r1 10.251.1.1/24 ┐
//	  h2 eth0 10.251.0.2/24 ─┼─ br0       h2 eth0 10.251.2.2/24 ── r2 10.251.2.1/24 ┼ router
//	  h3 eth0 10.251.0.3/24 ─┘ (lan)      h3 eth0 10.251.3.2/24 ── r3 10.251.3.1/24 ┘
//
// In the routed shape each host's default route goes to the router,
// which forwards between the three subnets; no host is on another's
// subnet. All namespaces (and with them every link in them) are deleted
// by t.Cleanup, pass or fail.

const podPort = 9000

var clusterSeq atomic.Int32

type host struct {
	name string // node name, "h1"
	ns   string // netns of the host
	pod  string // netns of its pod
	ip   netip.Addr
	cidr netip.Prefix
	fd   *os.File
	// wgKey is the host's WireGuard public key, set by WireGuard tests.
	wgKey string
}

func (h *host) podIP() netip.Addr { return h.cidr.Addr().Next().Next() }

func (h *host) node() Node {
	return Node{Name: h.name, IP: h.ip, PodCIDR: h.cidr, VTEPMAC: MACFor(h.ip), WireGuardKey: h.wgKey}
}

type cluster struct {
	t      testing.TB
	prefix string
	hosts  []*host
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and programs routes")
	}
	for _, tool := range []string{"ip", "bridge"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs iproute2 (%s)", tool)
		}
	}
}

// newCluster builds n hosts (1 to 9) in one of the shapes drawn above.
func newCluster(t testing.TB, n int, routed bool) *cluster {
	t.Helper()
	return newClusterNamed(t, fmt.Sprintf("skiff-ovl-%d-%d", os.Getpid(), clusterSeq.Add(1)), n, routed)
}

// newClusterNamed is newCluster with namespaces named prefix-<role>.
func newClusterNamed(t testing.TB, prefix string, n int, routed bool) *cluster {
	t.Helper()
	requireRoot(t)
	c := &cluster{t: t, prefix: prefix}
	hub := c.prefix + "-lan"
	if routed {
		hub = c.prefix + "-router"
	}
	c.netns(hub)
	if routed {
		c.sysctl(hub, "net.ipv4.ip_forward=1")
	} else {
		c.ip("-n", hub, "link", "add", "br0", "type", "bridge")
		c.ip("-n", hub, "link", "set", "br0", "up")
	}
	for i := 1; i <= n; i++ {
		h := &host{
			name: fmt.Sprintf("h%d", i),
			ns:   fmt.Sprintf("%s-h%d", c.prefix, i),
			pod:  fmt.Sprintf("%s-p%d", c.prefix, i),
			cidr: netip.MustParsePrefix(fmt.Sprintf("10.42.%d.0/24", i)),
		}
		c.netns(h.ns)
		c.netns(h.pod)
		c.sysctl(h.ns, "net.ipv4.ip_forward=1")
		peer := fmt.Sprintf("h%d", i)
		if routed {
			peer = fmt.Sprintf("r%d", i)
		}
		c.ip("-n", hub, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
		if routed {
			h.ip = netip.MustParseAddr(fmt.Sprintf("10.251.%d.2", i))
			c.ip("-n", hub, "addr", "add", fmt.Sprintf("10.251.%d.1/24", i), "dev", peer)
			c.ip("-n", h.ns, "addr", "add", h.ip.String()+"/24", "dev", "eth0")
		} else {
			h.ip = netip.MustParseAddr(fmt.Sprintf("10.251.0.%d", i))
			c.ip("-n", hub, "link", "set", peer, "master", "br0")
			c.ip("-n", h.ns, "addr", "add", h.ip.String()+"/24", "dev", "eth0")
		}
		c.ip("-n", hub, "link", "set", peer, "up")
		c.ip("-n", h.ns, "link", "set", "eth0", "up")
		if routed {
			c.ip("-n", h.ns, "route", "add", "default", "via", fmt.Sprintf("10.251.%d.1", i))
		}
		c.ip("-n", h.ns, "link", "add", "pod0", "type", "veth", "peer", "name", "eth0", "netns", h.pod)
		c.ip("-n", h.ns, "addr", "add", fmt.Sprintf("10.42.%d.1/24", i), "dev", "pod0")
		c.ip("-n", h.ns, "link", "set", "pod0", "up")
		c.ip("-n", h.pod, "addr", "add", h.podIP().String()+"/24", "dev", "eth0")
		c.ip("-n", h.pod, "link", "set", "eth0", "up")
		c.ip("-n", h.pod, "route", "add", "default", "via", fmt.Sprintf("10.42.%d.1", i))
		f, err := os.Open("/var/run/netns/" + h.ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		h.fd = f
		c.serve(h)
		c.hosts = append(c.hosts, h)
	}
	return c
}

// netns adds a namespace with lo up, deleted by t.Cleanup.
func (c *cluster) netns(name string) {
	c.t.Helper()
	c.ip("netns", "add", name)
	c.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			c.t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	c.ip("-n", name, "link", "set", "lo", "up")
}

func (c *cluster) sysctl(netns, kv string) {
	c.t.Helper()
	c.run("ip", "netns", "exec", netns, "sysctl", "-qw", kv)
}

func (c *cluster) ip(args ...string) { c.t.Helper(); c.run("ip", args...) }

func (c *cluster) run(name string, args ...string) {
	c.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// lines runs a command and returns its non-empty output lines, sorted.
func (c *cluster) lines(name string, args ...string) []string {
	c.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	var ls []string
	for l := range strings.SplitSeq(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	slices.Sort(ls)
	return ls
}

// routes returns h's routes of RouteProtocol as ip prints them.
func (c *cluster) routes(h *host) []string {
	return c.lines("ip", "-n", h.ns, "route", "show", "proto", "0x5a")
}

// neighbours returns the permanent neighbour entries of h's VXLAN device.
func (c *cluster) neighbours(h *host) []string {
	return c.lines("ip", "-n", h.ns, "neigh", "show", "dev", DefaultDevice, "nud", "permanent")
}

// fdb returns the FDB entries of h's VXLAN device.
func (c *cluster) fdb(h *host) []string {
	return c.lines("bridge", "-n", h.ns, "fdb", "show", "dev", DefaultDevice)
}

func (c *cluster) hasDevice(h *host) bool {
	return exec.Command("ip", "-n", h.ns, "link", "show", DefaultDevice).Run() == nil
}

// overlay returns an Overlay for h's namespace.
func (c *cluster) overlay(h *host, backend Backend) *Overlay {
	c.t.Helper()
	o, err := New(Config{Backend: backend, NetNS: int(h.fd.Fd()), Log: testLog(c.t)})
	if err != nil {
		c.t.Fatal(err)
	}
	return o
}

// state is h's view of the cluster, without the hosts named in leave.
func (c *cluster) state(h *host, leave ...string) State {
	st := State{Local: h.node()}
	for _, o := range c.hosts {
		if o != h && !slices.Contains(leave, o.name) {
			st.Remotes = append(st.Remotes, o.node())
		}
	}
	return st
}

// in runs fn on a thread in netns name; sockets fn opens belong there.
func in(name string, fn func() error) error {
	netns, err := ns.GetNS("/var/run/netns/" + name)
	if err != nil {
		return err
	}
	defer netns.Close()
	return netns.Do(func(ns.NetNS) error { return fn() })
}

// serve starts h's pod server, closed by t.Cleanup.
func (c *cluster) serve(h *host) {
	var l net.Listener
	err := in(h.pod, func() (err error) {
		l, err = net.Listen("tcp4", fmt.Sprintf(":%d", podPort))
		return err
	})
	if err != nil {
		c.t.Fatalf("listen in %s: %v", h.pod, err)
	}
	c.t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(conn, "%s %s\n", h.name, conn.RemoteAddr())
			conn.Close()
		}
	}()
}

// dial connects from from's pod to to's pod and checks that to answered
// and saw from's pod address (no NAT on the way).
func (c *cluster) dial(from, to *host) error { return c.dialTimeout(from, to, 2*time.Second) }

// reaches reports whether from's pod can connect to to's pod within a
// short time, for checks that expect it cannot (the ICMP unreachable that
// would end the attempt early is rate-limited).
func (c *cluster) reaches(from, to *host) bool {
	return c.dialTimeout(from, to, 300*time.Millisecond) == nil
}

func (c *cluster) dialTimeout(from, to *host, timeout time.Duration) error {
	var line string
	err := in(from.pod, func() error {
		conn, err := net.DialTimeout("tcp4", netip.AddrPortFrom(to.podIP(), podPort).String(), timeout)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		line, err = bufio.NewReader(conn).ReadString('\n')
		return err
	})
	if err != nil {
		return fmt.Errorf("pod %s → pod %s: %w", from.podIP(), to.podIP(), err)
	}
	var name, peer string
	fmt.Sscan(line, &name, &peer)
	ap, _ := netip.ParseAddrPort(peer)
	if name != to.name || ap.Addr() != from.podIP() {
		return fmt.Errorf("pod %s → pod %s: got answer %q, want %s seeing %s", from.podIP(), to.podIP(), line, to.name, from.podIP())
	}
	return nil
}

// dialAll checks pod-to-pod TCP between every pair of hosts.
func (c *cluster) dialAll() {
	c.t.Helper()
	for _, a := range c.hosts {
		for _, b := range c.hosts {
			if a != b {
				if err := c.dial(a, b); err != nil {
					c.t.Error(err)
				}
			}
		}
	}
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
