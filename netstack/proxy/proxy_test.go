package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var (
	vipWeb   = netip.MustParseAddr("10.250.100.1")
	vipDNS   = netip.MustParseAddr("10.250.100.2")
	vipOne   = netip.MustParseAddr("10.250.100.3")
	vipEmpty = netip.MustParseAddr("10.250.100.4")
	nodeAddr = netip.MustParseAddr("10.250.0.1")
)

// webState is a TCP service web (port 80, NodePort 30080) and a UDP
// service dns (port 53) on the given endpoints.
func webState(eps ...int) State {
	return State{
		NodeAddresses: []netip.Addr{nodeAddr},
		Services: []Service{
			{
				Namespace: "default", Name: "web", ClusterIP: vipWeb, Type: NodePort,
				Ports: []Port{{Name: "http", Protocol: TCP, Port: 80, NodePort: 30080, Endpoints: endpoints(tcpPort, eps...)}},
			},
			{
				Namespace: "kube", Name: "dns", ClusterIP: vipDNS,
				Ports: []Port{{Name: "dns", Protocol: UDP, Port: 53, Endpoints: endpoints(udpPort, eps...)}},
			},
		},
	}
}

func mustSync(t *testing.T, p *Proxy, st State) Result {
	t.Helper()
	res, err := p.Sync(st)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

// TestSpread: new connections to a VIP spread over all endpoints, for TCP
// and UDP, and the endpoint sees the client's own address.
func TestSpread(t *testing.T) {
	tp := newTopo(t, 3)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	mustSync(t, p, webState(1, 2, 3))

	for _, tt := range []struct {
		network, addr string
	}{
		{"tcp4", netip.AddrPortFrom(vipWeb, 80).String()},
		{"udp4", netip.AddrPortFrom(vipDNS, 53).String()},
	} {
		as, err := tp.dial(tp.client, tt.network, tt.addr, 200)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.network, tt.addr, err)
		}
		got := count(as)
		for _, ep := range []string{"ep1", "ep2", "ep3"} {
			if got[ep] < 20 {
				t.Errorf("%s %s: 200 connections hit %v; want each of ep1..ep3 hit at least 20 times", tt.network, tt.addr, got)
				break
			}
		}
		if want := netip.MustParseAddr("10.250.0.2"); as[0].peer.Addr() != want {
			t.Errorf("%s %s: endpoint saw peer %s, want the client %s (no masquerade)", tt.network, tt.addr, as[0].peer, want)
		}
		t.Logf("%s %s: %v", tt.network, tt.addr, got)
	}
}

// TestEndpointRemoved: after a Sync without an endpoint, no new
// connection reaches it, and one Sync touches only what changed.
func TestEndpointRemoved(t *testing.T) {
	tp := newTopo(t, 3)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	mustSync(t, p, webState(1, 2, 3))
	res := mustSync(t, p, webState(1, 2))
	if res.Rebuilt || res.ReadBack || res.Changes > 6 {
		t.Errorf("Sync after an endpoint change: %+v, want an incremental write of a few objects without a read-back", res)
	}
	for _, tt := range []struct{ network, addr string }{
		{"tcp4", netip.AddrPortFrom(vipWeb, 80).String()},
		{"udp4", netip.AddrPortFrom(vipDNS, 53).String()},
	} {
		as, err := tp.dial(tp.client, tt.network, tt.addr, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := count(as)
		if got["ep3"] != 0 || got["ep1"] == 0 || got["ep2"] == 0 {
			t.Errorf("%s after removing ep3: %v, want ep1 and ep2 only", tt.network, got)
		}
	}
	// Back to all three: ep3 gets traffic again.
	mustSync(t, p, webState(1, 2, 3))
	as, err := tp.dial(tp.client, "tcp4", netip.AddrPortFrom(vipWeb, 80).String(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := count(as); got["ep3"] == 0 {
		t.Errorf("after adding ep3 back: %v, want ep3 hit", got)
	}

	// A restarted agent with a new Proxy and another state: the table
	// is read back and corrected in place.
	restarted := tp.proxy()
	res = mustSync(t, restarted, webState(2, 3))
	if !res.ReadBack || res.Rebuilt || res.Changes == 0 {
		t.Errorf("first Sync of a new Proxy with ep1 gone: %+v, want a read-back and an in-place write", res)
	}
	as, err = tp.dial(tp.client, "tcp4", netip.AddrPortFrom(vipWeb, 80).String(), 60)
	if err != nil {
		t.Fatal(err)
	}
	if got := count(as); got["ep1"] != 0 || got["ep2"] == 0 || got["ep3"] == 0 {
		t.Errorf("after the restarted Proxy removed ep1: %v, want ep2 and ep3 only", got)
	}
}

// TestSessionAffinity: with ClientIP affinity one client stays on one
// endpoint, across an unrelated Sync too, and moves when its endpoint
// goes.
func TestSessionAffinity(t *testing.T) {
	tp := newTopo(t, 3)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	st := webState(1, 2, 3)
	st.Services[0].AffinityTimeout = time.Minute
	st.Services[1].AffinityTimeout = time.Minute
	mustSync(t, p, st)

	web := netip.AddrPortFrom(vipWeb, 80).String()
	as, err := tp.dial(tp.client, "tcp4", web, 50)
	if err != nil {
		t.Fatal(err)
	}
	got := count(as)
	if len(got) != 1 {
		t.Fatalf("50 connections with affinity hit %v, want one endpoint", got)
	}
	first := as[0].ep
	if as, err := tp.dial(tp.client, "udp4", netip.AddrPortFrom(vipDNS, 53).String(), 30); err != nil {
		t.Fatal(err)
	} else if got := count(as); len(got) != 1 {
		t.Errorf("30 UDP flows with affinity hit %v, want one endpoint", got)
	}

	// Another service changes: the client keeps its endpoint.
	st.Services[1].Ports[0].Endpoints = endpoints(udpPort, 1, 2)
	mustSync(t, p, st)
	if as, err := tp.dial(tp.client, "tcp4", web, 20); err != nil {
		t.Fatal(err)
	} else if got := count(as); len(got) != 1 || got[first] != 20 {
		t.Errorf("after an unrelated Sync: %v, want all on %s", got, first)
	}

	// Its endpoint goes: the client moves to one other endpoint.
	var rest []int
	for i := 1; i <= 3; i++ {
		if fmt.Sprintf("ep%d", i) != first {
			rest = append(rest, i)
		}
	}
	st.Services[0].Ports[0].Endpoints = endpoints(tcpPort, rest...)
	mustSync(t, p, st)
	as, err = tp.dial(tp.client, "tcp4", web, 20)
	if err != nil {
		t.Fatal(err)
	}
	if got := count(as); len(got) != 1 || got[first] != 0 {
		t.Errorf("after removing %s: %v, want one other endpoint", first, got)
	}

	// Without affinity the same client spreads again.
	st.Services[0].AffinityTimeout = 0
	st.Services[0].Ports[0].Endpoints = endpoints(tcpPort, 1, 2, 3)
	mustSync(t, p, st)
	as, err = tp.dial(tp.client, "tcp4", web, 60)
	if err != nil {
		t.Fatal(err)
	}
	if got := count(as); len(got) != 3 {
		t.Errorf("affinity off: %v, want all three endpoints", got)
	}
}

// TestNodePortAndLoadBalancer: a NodePort answers on the node's address,
// from outside (prerouting) and from the node itself (output); a
// LoadBalancer service answers on its own port at the node's address.
func TestNodePortAndLoadBalancer(t *testing.T) {
	tp := newTopo(t, 2)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	st := webState(1, 2)
	st.Services = append(st.Services, Service{
		Namespace: "default", Name: "lb", ClusterIP: vipOne, Type: LoadBalancer,
		Ports: []Port{{Protocol: TCP, Port: 8443, NodePort: 30443, Endpoints: endpoints(tcpPort, 2)}},
	})
	mustSync(t, p, st)

	for _, tt := range []struct {
		name, from, addr string
		want             string // the endpoint; "" for any
	}{
		{"nodePort from the client", tp.client, "10.250.0.1:30080", ""},
		{"nodePort on another node address", tp.client, "10.250.2.1:30080", ""},
		{"nodePort from the node", tp.node, "10.250.0.1:30080", ""},
		{"loadBalancer port", tp.client, "10.250.0.1:8443", "ep2"},
		{"loadBalancer nodePort", tp.client, "10.250.0.1:30443", "ep2"},
		{"loadBalancer VIP", tp.client, "10.250.100.3:8443", "ep2"},
	} {
		as, err := tp.dial(tt.from, "tcp4", tt.addr, 20)
		if err != nil {
			t.Errorf("%s (%s): %v", tt.name, tt.addr, err)
			continue
		}
		got := count(as)
		if tt.want != "" && got[tt.want] != 20 {
			t.Errorf("%s (%s): %v, want all on %s", tt.name, tt.addr, got, tt.want)
		}
	}
	// The LoadBalancer port is not opened on addresses that are not in
	// NodeAddresses: 10.250.2.1:8443 has nothing.
	if _, err := tp.dial(tp.client, "tcp4", "10.250.2.1:8443", 1); !isRefused(err) {
		t.Errorf("loadBalancer port on an address not listed: %v, want connection refused by the node's stack", err)
	}
}

// TestHairpin: an endpoint reaching its own service through the VIP gets
// an answer from itself, masqueraded to the node's address; reaching
// another endpoint is not masqueraded.
func TestHairpin(t *testing.T) {
	tp := newTopo(t, 2)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	st := webState(1, 2)
	st.Services = append(st.Services, Service{
		Namespace: "default", Name: "self", ClusterIP: vipOne,
		Ports: []Port{{Protocol: TCP, Port: 80, Endpoints: endpoints(tcpPort, 1)}},
	})
	mustSync(t, p, st)

	as, err := tp.dial(tp.eps[0], "tcp4", netip.AddrPortFrom(vipOne, 80).String(), 10)
	if err != nil {
		t.Fatalf("ep1 to its own service: %v", err)
	}
	if as[0].ep != "ep1" || as[0].peer.Addr() != netip.MustParseAddr("10.250.1.1") {
		t.Errorf("ep1 to its own service: answered by %s seeing %s, want ep1 seeing the node's 10.250.1.1", as[0].ep, as[0].peer)
	}
	if as, err := tp.dial(tp.eps[1], "udp4", netip.AddrPortFrom(vipDNS, 53).String(), 20); err != nil {
		t.Fatalf("ep2 to dns: %v", err)
	} else {
		for _, a := range as {
			want := "10.250.2.2" // ep2 itself, not masqueraded
			if a.ep == "ep2" {
				want = "10.250.2.1"
			}
			if a.peer.Addr().String() != want {
				t.Errorf("ep2 to dns answered by %s seeing %s, want %s", a.ep, a.peer.Addr(), want)
			}
		}
	}
}

// TestNoEndpointsRefused: a service without endpoints refuses new
// connections at once, over TCP (reset) and UDP (port unreachable), on
// its VIP and its NodePort.
func TestNoEndpointsRefused(t *testing.T) {
	tp := newTopo(t, 1)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	st := webState()
	st.Services = append(st.Services, Service{
		Namespace: "default", Name: "empty", ClusterIP: vipEmpty, Type: NodePort,
		Ports: []Port{{Protocol: TCP, Port: 80, NodePort: 30081}},
	})
	mustSync(t, p, st)
	for _, tt := range []struct{ from, network, addr string }{
		{tp.client, "tcp4", "10.250.100.1:80"},
		{tp.client, "udp4", "10.250.100.2:53"},
		{tp.client, "tcp4", "10.250.100.4:80"},
		{tp.client, "tcp4", "10.250.0.1:30080"},
		{tp.client, "tcp4", "10.250.0.1:30081"},
		{tp.node, "tcp4", "10.250.100.1:80"},
		{tp.node, "tcp4", "10.250.0.1:30080"},
		{tp.eps[0], "udp4", "10.250.100.2:53"},
	} {
		start := time.Now()
		_, err := tp.dial(tt.from, tt.network, tt.addr, 1)
		took := time.Since(start)
		if !isRefused(err) || took > time.Second {
			t.Errorf("%s to %s without endpoints: %v after %s, want connection refused at once", tt.network, tt.addr, err, took)
		}
	}
}

// TestIdempotent: a Sync of the same state writes nothing and reads
// nothing back; a Proxy that restarts finds the table in place.
func TestIdempotent(t *testing.T) {
	tp := newTopo(t, 2)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	st := webState(1, 2)
	st.Services[0].AffinityTimeout = time.Hour
	if res := mustSync(t, p, st); !res.Rebuilt || res.Changes == 0 {
		t.Errorf("first Sync: %+v, want the table built", res)
	}
	before, err := tp.nft("list", "table", "ip", TableName)
	if err != nil {
		t.Fatal(err)
	}
	if res := mustSync(t, p, st); res != (Result{}) {
		t.Errorf("second Sync of the same state: %+v, want nothing read or written", res)
	}
	restarted := tp.proxy()
	if res := mustSync(t, restarted, st); !res.ReadBack || res.Changes != 0 || res.Rebuilt {
		t.Errorf("Sync of a new Proxy over the same table: %+v, want a read-back and nothing written", res)
	}
	after, err := tp.nft("list", "table", "ip", TableName)
	if err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Errorf("table changed by Syncs of the same state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestRestoresHandEdits: whatever someone does to the table by hand, the
// next Sync puts it back, and the Sync after that writes nothing.
func TestRestoresHandEdits(t *testing.T) {
	tp := newTopo(t, 2)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	st := webState(1, 2)
	st.Services[0].AffinityTimeout = time.Hour
	mustSync(t, p, st)
	want, err := tp.nft("list", "table", "ip", TableName)
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range []struct {
		name    string
		nft     string
		rebuilt bool
	}{
		{"table deleted", "delete table ip skiff-proxy", true},
		{"chain flushed", "flush chain ip skiff-proxy services", false},
		{"endpoint chain flushed", "flush chain ip skiff-proxy ep-default/web/tcp/80/10.250.1.2/8080", false},
		{"element deleted", "delete element ip skiff-proxy service-ips { 10.250.100.1 . tcp . 80 }", false},
		{"element added", "add element ip skiff-proxy no-endpoint-ips { 10.250.100.9 . tcp . 80 }", false},
		{"rule added", "add rule ip skiff-proxy nat-prerouting ip saddr 10.250.0.2 drop", false},
		{"chain added", "add chain ip skiff-proxy extra", false},
		{"set deleted", "delete set ip skiff-proxy aff-default/web/tcp/80/10.250.2.2/8080", false},
		{"base chain deleted", "delete chain ip skiff-proxy filter-output", false},
		{"other table changed", "add table ip skiff-proxytest-other", false},
	} {
		if strings.Contains(edit.nft, "aff-") {
			// A set in use cannot go: drop its users first.
			if _, err := tp.nft("flush chain ip skiff-proxy ep-default/web/tcp/80/10.250.2.2/8080; flush chain ip skiff-proxy svc-default/web/tcp/80"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tp.nft(edit.nft); err != nil {
			t.Fatalf("%s: %v", edit.name, err)
		}
		res := mustSync(t, p, st)
		if !res.ReadBack || res.Rebuilt != edit.rebuilt || (res.Changes == 0) != (edit.name == "other table changed") {
			t.Errorf("%s: Sync %+v, want a read-back, rebuilt %v, and a write if our table changed", edit.name, res, edit.rebuilt)
		}
		got, err := tp.nft("list", "table", "ip", TableName)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := withoutAffinity(got), withoutAffinity(want); got != want {
			t.Errorf("%s: after Sync the table reads\n%s\nwant\n%s", edit.name, got, want)
		}
		if res := mustSync(t, p, st); res != (Result{}) {
			t.Errorf("%s: second Sync %+v, want nothing to do", edit.name, res)
		}
		if as, err := tp.dial(tp.client, "tcp4", "10.250.100.1:80", 5); err != nil || len(as) != 5 {
			t.Errorf("%s: the VIP after Sync: %v", edit.name, err)
		}
	}
	tp.nft("delete table ip skiff-proxytest-other")
}

// TestCleanup: Cleanup leaves no table, from any state, and twice is fine.
func TestCleanup(t *testing.T) {
	tp := newTopo(t, 1)
	p := tp.proxy()
	mustSync(t, p, webState(1))
	for range 2 {
		if err := p.Cleanup(); err != nil {
			t.Fatal(err)
		}
		out, err := tp.nft("list", "ruleset")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, TableName) {
			t.Errorf("after Cleanup the ruleset still has %s:\n%s", TableName, out)
		}
	}
	// Sync after Cleanup builds it again.
	if res := mustSync(t, p, webState(1)); !res.Rebuilt {
		t.Errorf("Sync after Cleanup: %+v, want the table rebuilt", res)
	}
	if err := p.Cleanup(); err != nil {
		t.Fatal(err)
	}
}

// withoutAffinity drops from an nft listing the elements the data path
// added to affinity sets, and sorts its sets and chains: a chain or set
// that Sync re-added is listed last.
func withoutAffinity(listing string) string {
	var blocks []string
	var cur strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(listing), "\n") {
		if strings.Contains(l, " expires ") || l == "}" {
			continue
		}
		if strings.HasPrefix(l, "\tset ") || strings.HasPrefix(l, "\tmap ") || strings.HasPrefix(l, "\tchain ") {
			blocks = append(blocks, cur.String())
			cur.Reset()
		}
		if strings.TrimSpace(l) != "" {
			cur.WriteString(l + "\n")
		}
	}
	blocks = append(blocks, cur.String())
	slices.Sort(blocks)
	return strings.Join(blocks, "")
}

// TestKernelListGolden: what nft lists after a Sync of goldenState. (nft
// shows the numgen map keys 1, 2, … as 16777216, 33554432, …:
// google/nftables marks every anonymous set's keys big-endian, while
// numgen writes host order; the data path uses host order throughout, as
// TestSpread shows.)
func TestKernelListGolden(t *testing.T) {
	tp := newTopo(t, 0)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	mustSync(t, p, goldenState())
	out, err := tp.nft("list", "table", "ip", TableName)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "nft-list.golden", out)
}

// TestUDPFlowsMoveOffRemovedEndpoint: a UDP client that keeps its source
// port stays on one conntrack entry; when Sync removes its endpoint, the
// entry goes and the next datagram reaches a live endpoint (the removed
// one still runs here, so a stale entry would show).
func TestUDPFlowsMoveOffRemovedEndpoint(t *testing.T) {
	tp := newTopo(t, 3)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	mustSync(t, p, webState(1, 2, 3))

	var conn *net.UDPConn
	if err := tp.in(tp.client, func() (err error) {
		conn, err = net.DialUDP("udp4", &net.UDPAddr{Port: 40053}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(vipDNS, 53)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ask := func() string {
		t.Helper()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte("hi\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 128)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		ep, _, _ := strings.Cut(string(buf[:n]), " ")
		return ep
	}
	first := ask()
	for range 5 {
		if got := ask(); got != first {
			t.Fatalf("one UDP flow answered by %s, then %s; want one endpoint", first, got)
		}
	}
	var rest []int
	for i := 1; i <= 3; i++ {
		if fmt.Sprintf("ep%d", i) != first {
			rest = append(rest, i)
		}
	}
	res := mustSync(t, p, webState(rest...))
	if res.FlushedFlows != 1 {
		t.Errorf("Sync removing %s: %+v, want 1 flushed flow", first, res)
	}
	if got := ask(); got == first {
		t.Errorf("after removing %s the same UDP flow still reaches it", first)
	}
}

// TestUDPFlowFindsFirstEndpoint: a UDP client that kept sending from one
// source port to a VIP without endpoints (refused) reaches the first
// endpoint as soon as it appears. The refusal happens before conntrack
// confirms the flow, so no entry is left to pin the flow to nothing, and
// no flush is needed (kube-proxy flushes here because iptables mode lets
// such packets through untranslated).
func TestUDPFlowFindsFirstEndpoint(t *testing.T) {
	tp := newTopo(t, 1)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	mustSync(t, p, webState())
	var conn *net.UDPConn
	if err := tp.in(tp.client, func() (err error) {
		conn, err = net.DialUDP("udp4", &net.UDPAddr{Port: 40054}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(vipDNS, 53)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ask := func() (string, error) {
		conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte("hi\n")); err != nil {
			return "", err
		}
		buf := make([]byte, 128)
		n, err := conn.Read(buf)
		if err != nil {
			return "", err
		}
		ep, _, _ := strings.Cut(string(buf[:n]), " ")
		return ep, nil
	}
	for range 3 {
		if ep, err := ask(); err == nil || !isRefused(err) {
			t.Fatalf("a VIP without endpoints: answered %q, %v; want refused", ep, err)
		}
	}
	res := mustSync(t, p, webState(1))
	if res.FlushedFlows != 0 {
		t.Errorf("first endpoints: %+v, want no flows flushed", res)
	}
	if ep, err := ask(); err != nil || ep != "ep1" {
		t.Errorf("the same UDP flow after the first endpoint appeared: %q, %v; want ep1", ep, err)
	}
}

// TestSessionAffinityTimeout: a client's affinity lasts the timeout
// after its last new connection, then the kernel forgets it.
func TestSessionAffinityTimeout(t *testing.T) {
	tp := newTopo(t, 2)
	p := tp.proxy()
	t.Cleanup(func() { p.Cleanup() })
	st := webState(1, 2)
	st.Services[0].AffinityTimeout = 2 * time.Second
	mustSync(t, p, st)
	if _, err := tp.dial(tp.client, "tcp4", netip.AddrPortFrom(vipWeb, 80).String(), 1); err != nil {
		t.Fatal(err)
	}
	remembered := func() string {
		out, err := tp.nft("list", "table", "ip", TableName)
		if err != nil {
			t.Fatal(err)
		}
		var sets []string
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "10.250.0.2") && strings.Contains(line, "expires") {
				sets = append(sets, strings.TrimSpace(line))
			}
		}
		return strings.Join(sets, "; ")
	}
	if got := remembered(); got == "" {
		t.Fatal("no affinity set holds the client after a connection")
	}
	time.Sleep(3 * time.Second)
	if got := remembered(); got != "" {
		t.Errorf("after its 2 s timeout the client is still remembered: %s", got)
	}
}
