package proxy

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"testing"
)

// A LAN client reaches a node port and a load-balancer port of node A
// whose only endpoint is a pod behind node B (host-gw route): A must
// masquerade the connection, or B's pod answers the client directly and
// the client drops the reply. (Found in review: both timed out.)
func TestNodePortToARemoteEndpoint(t *testing.T) {
	requireRoot(t)
	pfx := fmt.Sprintf("skiff-proxytest-%d-np", os.Getpid())
	lan, cli, a, b, pod := pfx+"-lan", pfx+"-cli", pfx+"-a", pfx+"-b", pfx+"-pod"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	for _, n := range []string{lan, cli, a, b, pod} {
		run("ip", "netns", "add", n)
		n := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		run("ip", "-n", n, "link", "set", "lo", "up")
		run("ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
		run("ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0")
	}
	run("ip", "-n", lan, "link", "add", "br0", "type", "bridge")
	run("ip", "-n", lan, "link", "set", "br0", "up")
	for i, n := range []string{cli, a, b} {
		dev := fmt.Sprintf("p%d", i)
		run("ip", "-n", lan, "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", n)
		run("ip", "-n", lan, "link", "set", dev, "master", "br0")
		run("ip", "-n", lan, "link", "set", dev, "up")
		run("ip", "-n", n, "addr", "add", fmt.Sprintf("10.251.0.%d/24", 2+i), "dev", "eth0")
		run("ip", "-n", n, "link", "set", "eth0", "up")
	}
	// pod behind B
	run("ip", "-n", b, "link", "add", "v0", "type", "veth", "peer", "name", "eth0", "netns", pod)
	run("ip", "-n", b, "addr", "add", "10.251.9.1/24", "dev", "v0")
	run("ip", "-n", b, "link", "set", "v0", "up")
	run("ip", "-n", pod, "addr", "add", "10.251.9.2/24", "dev", "eth0")
	run("ip", "-n", pod, "link", "set", "eth0", "up")
	run("ip", "-n", pod, "route", "add", "default", "via", "10.251.9.1")
	for _, n := range []string{a, b} {
		run("ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	run("ip", "-n", a, "route", "add", "10.251.9.0/24", "via", "10.251.0.4") // host-gw
	// cli knows nothing of pod subnets (a LAN client); B routes replies to it directly.

	tp := &topo{t: t}
	tp.serve(pod, "pod")
	f, err := os.Open("/var/run/netns/" + a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := New(Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	st := State{
		NodeAddresses: []netip.Addr{netip.MustParseAddr("10.251.0.3")},
		Services: []Service{{
			Namespace: "default", Name: "web", ClusterIP: netip.MustParseAddr("10.251.100.1"), Type: LoadBalancer,
			Ports: []Port{{Protocol: TCP, Port: 80, NodePort: 30080, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("10.251.9.2:8080")}}},
		}},
	}
	if _, err := p.Sync(st); err != nil {
		t.Fatal(err)
	}
	// Sanity: from node A itself (source is A's address) it works.
	if _, err := tp.dial(a, "tcp4", "10.251.9.2:8080", 1); err != nil {
		t.Fatalf("direct A->pod: %v", err)
	}
	for _, addr := range []string{"10.251.0.3:30080", "10.251.0.3:80"} {
		if _, err := tp.dial(cli, "tcp4", addr, 1); err != nil {
			t.Errorf("LAN client -> %s (endpoint on node B): %v", addr, err)
		}
	}
}
