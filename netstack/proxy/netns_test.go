package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
)

// The kernel tests build a small network of their own out of named
// network namespaces (skiff-proxytest-<pid>-<n>-<role>), so that they
// never touch the host's ruleset or another test's namespaces:
//
//	 client 10.250.0.2 ──c0── 10.250.0.1 ┐
//	                                     │ node (runs Sync; forwards)
//	  ep1   10.250.1.2 ──e1── 10.250.1.1 ┤
//	  ep2   10.250.2.2 ──e2── 10.250.2.1 ┤
//	  ep3   10.250.3.2 ──e3── 10.250.3.1 ┘
//
// Every endpoint namespace runs a TCP server on :8080 and a UDP server on
// :8053 that answer with the endpoint's name and the peer address they
// saw. VIPs are in 10.250.100.0/24, which no namespace holds: the client
// and the endpoints route everything through the node. All namespaces
// (and with them the veths) are deleted by t.Cleanup, pass or fail.

const (
	tcpPort = 8080
	udpPort = 8053
)

var topoSeq atomic.Int32

type topo struct {
	t      testing.TB
	prefix string
	node   string // netns names
	client string
	eps    []string
	nodeFd *os.File
}

// requireRoot skips t unless it may create network namespaces.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and programs nftables")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
}

// newTopo builds the network drawn above with n endpoints (0 to 3).
func newTopo(t testing.TB, n int) *topo {
	t.Helper()
	requireRoot(t)
	tp := &topo{t: t, prefix: fmt.Sprintf("skiff-proxytest-%d-%d", os.Getpid(), topoSeq.Add(1))}
	tp.node = tp.prefix + "-node"
	tp.client = tp.prefix + "-client"
	for i := 1; i <= n; i++ {
		tp.eps = append(tp.eps, fmt.Sprintf("%s-ep%d", tp.prefix, i))
	}
	for _, name := range append([]string{tp.node, tp.client}, tp.eps...) {
		tp.ip("netns", "add", name)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", name, err, out)
			}
		})
		tp.ip("-n", name, "link", "set", "lo", "up")
	}
	tp.run("ip", "netns", "exec", tp.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	tp.link("c0", tp.client, 0)
	for i, ep := range tp.eps {
		tp.link(fmt.Sprintf("e%d", i+1), ep, i+1)
	}
	// Like a real node, the node has a default route (the client
	// plays its upstream), so that VIPs are routable from the node
	// itself.
	tp.ip("-n", tp.node, "route", "add", "default", "via", "10.250.0.2")
	f, err := os.Open("/var/run/netns/" + tp.node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tp.nodeFd = f
	for i, ep := range tp.eps {
		tp.serve(ep, fmt.Sprintf("ep%d", i+1))
	}
	return tp
}

// link joins peer to the node with a veth: node side dev in
// 10.250.<subnet>.1/24, peer side eth0 with .2 and a default route
// through the node.
func (tp *topo) link(dev, peer string, subnet int) {
	tp.ip("-n", tp.node, "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", peer)
	tp.ip("-n", tp.node, "addr", "add", fmt.Sprintf("10.250.%d.1/24", subnet), "dev", dev)
	tp.ip("-n", peer, "addr", "add", fmt.Sprintf("10.250.%d.2/24", subnet), "dev", "eth0")
	tp.ip("-n", tp.node, "link", "set", dev, "up")
	tp.ip("-n", peer, "link", "set", "eth0", "up")
	tp.ip("-n", peer, "route", "add", "default", "via", fmt.Sprintf("10.250.%d.1", subnet))
}

func (tp *topo) ip(args ...string) { tp.t.Helper(); tp.run("ip", args...) }

func (tp *topo) run(name string, args ...string) {
	tp.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tp.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// nft runs nft in the node namespace and returns its output.
func (tp *topo) nft(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", tp.node, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// proxy returns a Proxy for the node namespace.
func (tp *topo) proxy() *Proxy {
	tp.t.Helper()
	p, err := New(Config{NetNS: int(tp.nodeFd.Fd()), Log: testLog(tp.t)})
	if err != nil {
		tp.t.Fatal(err)
	}
	return p
}

// in runs fn on a thread in netns name; sockets fn opens belong there.
func (tp *topo) in(name string, fn func() error) error {
	netns, err := ns.GetNS("/var/run/netns/" + name)
	if err != nil {
		return err
	}
	defer netns.Close()
	return netns.Do(func(ns.NetNS) error { return fn() })
}

// serve starts the TCP and UDP servers of endpoint netns name, closed by
// t.Cleanup.
func (tp *topo) serve(netnsName, label string) {
	var tl net.Listener
	var uc net.PacketConn
	err := tp.in(netnsName, func() (err error) {
		if tl, err = net.Listen("tcp4", fmt.Sprintf(":%d", tcpPort)); err != nil {
			return err
		}
		uc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", udpPort))
		return err
	})
	if err != nil {
		tp.t.Fatalf("listen in %s: %v", netnsName, err)
	}
	tp.t.Cleanup(func() { tl.Close(); uc.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s\n", label, c.RemoteAddr())
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			_ = n
			uc.WriteTo(fmt.Appendf(nil, "%s %s\n", label, from), from)
		}
	}()
}

// answer is what an endpoint server said: its name and the peer it saw.
type answer struct {
	ep   string
	peer netip.AddrPort
}

// dial connects from netns to addr over network ("tcp4" or "udp4") n
// times and returns the answers, stopping at the first error.
func (tp *topo) dial(netnsName, network, addr string, n int) ([]answer, error) {
	var out []answer
	err := tp.in(netnsName, func() error {
		for range n {
			a, err := dialOnce(network, addr)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

func dialOnce(network, addr string) (answer, error) {
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if network == "udp4" {
		if _, err := c.Write([]byte("hello\n")); err != nil {
			return answer{}, err
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return answer{}, fmt.Errorf("read from %s: %w", addr, err)
	}
	ep, peer, ok := strings.Cut(strings.TrimSpace(line), " ")
	if !ok {
		return answer{}, fmt.Errorf("answer %q from %s", line, addr)
	}
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return answer{}, fmt.Errorf("answer %q from %s: %w", line, addr, err)
	}
	return answer{ep: ep, peer: ap}, nil
}

// count tallies answers by endpoint.
func count(as []answer) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.ep]++
	}
	return m
}

// isRefused reports whether err is a connection refused (TCP reset or
// ICMP port unreachable), as opposed to a timeout.
func isRefused(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil && strings.Contains(err.Error(), "connection refused")
}

// endpoints returns ep<i>'s address at port for each i.
func endpoints(port uint16, is ...int) []netip.AddrPort {
	var out []netip.AddrPort
	for _, i := range is {
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 250, byte(i), 2}), port))
	}
	return out
}
