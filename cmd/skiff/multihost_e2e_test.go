package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// A multi-host cluster on this one machine: each host a network
// namespace with its own skiff (the first `skiff server`, the others
// `skiff agent`), all connected to a test LAN that lives in a namespace
// of its own. The LAN is one bridge (one L2 segment, what host-gw needs)
// or a router with a subnet per host (hosts that reach each other only
// by IP, what vxlan and wireguard are for; host-gw cannot work there).
// Each host keeps the veth to the test process that newTestNode gives it
// (the test reaches the API that way); the hosts reach each other only
// over the LAN.
type testCluster struct {
	t       *testing.T
	hosts   []*testNode
	lan     string // the LAN's namespace
	routed  bool
	lanIdx  int
	overlay string
	token   string
}

// lanAddr is host k's (0-based) address on the LAN; the router (routed)
// or the LAN namespace itself (bridged) has routerAddr.
func (c *testCluster) lanAddr(k int) string {
	if c.routed {
		return fmt.Sprintf("10.%d.%d.2", 241+k, c.lanIdx)
	}
	return fmt.Sprintf("10.250.%d.%d", c.lanIdx, k+1)
}

func (c *testCluster) routerAddr(k int) string {
	if c.routed {
		return fmt.Sprintf("10.%d.%d.1", 241+k, c.lanIdx)
	}
	return fmt.Sprintf("10.250.%d.100", c.lanIdx)
}

// newTestCluster starts len(idx) hosts with the overlay backend; idx are
// their newTestNode indexes, idx[0] names the LAN too.
func newTestCluster(t *testing.T, backend string, routed bool, idx ...int) *testCluster {
	c := &testCluster{t: t, routed: routed, lanIdx: idx[0], overlay: backend,
		lan: fmt.Sprintf("skifflan%d%d", os.Getpid()%100000, idx[0])}
	mustRun(t, "ip", "netns", "add", c.lan)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", c.lan).Run() })
	in := func(args ...string) { mustRun(t, "ip", append([]string{"-n", c.lan}, args...)...) }
	in("link", "set", "lo", "up")
	if routed {
		mustRun(t, "ip", "netns", "exec", c.lan, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	} else {
		in("link", "add", "br0", "type", "bridge")
		in("addr", "add", c.routerAddr(0)+"/24", "dev", "br0")
		in("link", "set", "br0", "up")
	}
	for k, i := range idx {
		h := newTestNode(t, i)
		c.hosts = append(c.hosts, h)
		port := fmt.Sprintf("h%d", k)
		mustRun(t, "ip", "-n", h.netns, "link", "add", "lan0", "type", "veth", "peer", "name", port, "netns", c.lan)
		mustRun(t, "ip", "-n", h.netns, "addr", "add", c.lanAddr(k)+"/24", "dev", "lan0")
		mustRun(t, "ip", "-n", h.netns, "link", "set", "lan0", "up")
		if routed {
			in("addr", "add", c.routerAddr(k)+"/24", "dev", port)
		} else {
			in("link", "set", port, "master", "br0")
		}
		in("link", "set", port, "up")
	}
	srv := c.hosts[0]
	if routed {
		// Every host reaches the others' subnets through the router.
		for k, h := range c.hosts {
			for j := range c.hosts {
				if j != k {
					mustRun(t, "ip", "-n", h.netns, "route", "add", fmt.Sprintf("10.%d.%d.0/24", 241+j, c.lanIdx), "via", c.routerAddr(k))
				}
			}
		}
		// The server listens on the address the test reaches it at.
		in("route", "add", srv.nodeIP+"/32", "via", c.lanAddr(0))
	}
	for k, h := range c.hosts[1:] {
		mustRun(t, "ip", "-n", h.netns, "route", "add", srv.nodeIP+"/32", "via", c.gatewayTo(k+1, 0))
	}
	srv.serverArgs = append([]string{"--node-ip", c.lanAddr(0), "--overlay", backend}, c.deviceArgs(0)...)
	if backend == "wireguard" {
		srv.serverArgs = append(srv.serverArgs, "--wireguard-port", strconv.Itoa(testWireGuardPort))
	}
	for k, h := range c.hosts[1:] {
		h.agentArgs = c.deviceArgs(k + 1)
	}
	// A userspace WireGuard outlives its agent (as it must: the pods
	// need it), and its namespace with it: stop the ones of the hosts.
	t.Cleanup(func() {
		for _, h := range c.hosts {
			killWireGuardGo(h.netns)
		}
	})
	srv.start()
	b, err := os.ReadFile(filepath.Join(srv.dataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	c.token = strings.TrimSpace(string(b))
	for k, h := range c.hosts[1:] {
		h.nodeIP = c.lanAddr(k + 1)
		h.client = srv.client
		if _, err := testimages.Build(filepath.Join(h.dataDir, "images")); err != nil {
			t.Fatal(err)
		}
		c.startAgent(h, c.token)
	}
	for _, h := range c.hosts[1:] {
		h.waitNodeReady()
	}
	return c
}

// testWireGuardPort is the wireguard suite's port: not the default, so
// that the server's --wireguard-port is seen to reach every node.
const testWireGuardPort = 51999

// deviceArgs names host k's tunnel device: with userspace WireGuard the
// name must be unique on the machine (wireguard-go's sockets are
// machine-wide), and here every host shares one.
func (c *testCluster) deviceArgs(k int) []string {
	if c.overlay != "wireguard" {
		return nil
	}
	return []string{"--overlay-device", c.device(k)}
}

// device is host k's tunnel device: the default, or with wireguard one
// named for this run and host (a run killed before its cleanup leaves a
// wireguard-go behind, whose name the next run must not take).
func (c *testCluster) device(k int) string {
	switch c.overlay {
	case "vxlan":
		return "skiff.vxlan"
	case "wireguard":
		return fmt.Sprintf("skwg%d.%d", os.Getpid()%100000, k)
	}
	return "lan0"
}

// killWireGuardGo kills the wireguard-go processes in netns name (by PID,
// matched by their network namespace).
func killWireGuardGo(name string) {
	var want unix.Stat_t
	if unix.Stat("/run/netns/"+name, &want) != nil {
		return
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range procs {
		if comm, _ := os.ReadFile(p); strings.TrimSpace(string(comm)) != "wireguard-go" {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join(filepath.Dir(p), "ns", "net"), &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
}

// gatewayTo is the next hop host `from` uses for host `to`'s LAN address.
func (c *testCluster) gatewayTo(from, to int) string {
	if c.routed {
		return c.routerAddr(from)
	}
	return c.lanAddr(to)
}

// startAgent starts `skiff agent` on h (token "" reuses the credentials
// it saved) and registers its cleanup once.
func (c *testCluster) startAgent(h *testNode, token string) {
	first := h.srv == nil
	h.srv = h.startAgent(c.hosts[0].srv.url, token)
	if first {
		c.t.Cleanup(h.cleanup)
	}
}

// inNetNS runs fn on an OS thread in the network namespace at path (a
// socket made there stays there). The thread is not reused after.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// dialIn connects from the namespace at path.
func dialIn(path, network, addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := inNetNS(path, func() (err error) {
		conn, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return conn, err
}

// getIn fetches http://addr/ from the namespace at path over a new
// connection and returns the body, trimmed.
func getIn(path, addr string) (string, error) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(_ context.Context, network, a string) (net.Conn, error) {
			return dialIn(path, network, a, time.Second)
		},
	}}
	resp, err := hc.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// lookupIn asks the cluster DNS (10.43.0.10) from the namespace at path
// for name's records of type qtype.
func lookupIn(path, name string, qtype uint16) (*dns.Msg, error) {
	conn, err := dialIn(path, "udp", "10.43.0.10:53", time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	co := &dns.Conn{Conn: conn}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if err := co.WriteMsg(m); err != nil {
		return nil, err
	}
	return co.ReadMsg()
}

// aRecords is the sorted addresses of the A records of r.
func aRecords(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

// podNetNS is the pinned network namespace of a pod on host h.
func podNetNS(h *testNode, p *api.Pod) string {
	return filepath.Join(h.dataDir, "run", "netns", string(p.UID))
}

// namedWeb is an HTTP server on 8080 whose page is its pod's name, Ready
// while /w/ready exists (probed every second).
func namedWeb(name string) api.Container {
	c := container("web", "busybox", "sh", "-c", "mkdir -p /w && echo $POD > /w/index.html && echo ok > /w/ready && exec httpd -f -v -p 8080 -h /w")
	c.Env = []api.EnvVar{{Name: "POD", Value: name}}
	c.ReadinessProbe = &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/ready", Port: api.FromInt(8080)}},
		PeriodSeconds: 1, FailureThreshold: 1}
	return c
}

// TestMultiHostHostGW, TestMultiHostVXLAN: the service networking
// acceptance suite on three hosts, with each overlay backend: host-gw
// on one LAN, VXLAN across a router.
func TestMultiHostHostGW(t *testing.T) {
	testMultiHost(t, newTestCluster(t, "host-gw", false, 22, 23, 24))
}

func TestMultiHostVXLAN(t *testing.T) {
	testMultiHost(t, newTestCluster(t, "vxlan", true, 25, 26, 27))
}

// TestMultiHostWireGuard: the same over WireGuard, with hosts on
// separate subnets. Where the kernel has no WireGuard (this CI's kernel
// has none, and no module to load), the agent runs the userspace
// wireguard-go that scripts/install-deps.sh installs.
func TestMultiHostWireGuard(t *testing.T) {
	testMultiHost(t, newTestCluster(t, "wireguard", true, 28, 29, 30))
}

func testMultiHost(t *testing.T, c *testCluster) {
	ctx := context.Background()
	srv := c.hosts[0]
	svcs := client.For[*api.Service](srv.client, "default")
	nodes := client.For[*api.Node](srv.client, "")
	grace := int64(5)
	one := int64(1)

	// A named web server and a client (a netns for the test) on every
	// host; an echo server on host 1.
	webs := map[string]*api.Pod{}
	clients := map[string]*api.Pod{}
	for _, h := range c.hosts {
		name := "web-" + h.name
		h.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
			Spec: api.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []api.Container{namedWeb(name)}}})
		h.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "client-" + h.name},
			Spec: api.PodSpec{TerminationGracePeriodSeconds: &one, Containers: []api.Container{container("c", "sleep")}}})
	}
	echo := container("echo", "busybox", "nc", "-ll", "-p", "9000", "-e", "cat")
	c.hosts[1].create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "echo", Labels: map[string]string{"app": "echo"}},
		Spec: api.PodSpec{TerminationGracePeriodSeconds: &one, Containers: []api.Container{echo}}})
	mkSvc := func(name string, spec api.ServiceSpec) *api.Service {
		t.Helper()
		if spec.Selector == nil {
			spec.Selector = map[string]string{"app": "web"}
		}
		if spec.Ports == nil {
			spec.Ports = []api.ServicePort{{Name: "http", Port: 80, TargetPort: api.FromInt(8080)}}
		}
		s, err := svcs.Create(ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: spec})
		if err != nil {
			t.Fatalf("create service %s: %v", name, err)
		}
		return s
	}
	web := mkSvc("web", api.ServiceSpec{})
	mkSvc("web-headless", api.ServiceSpec{ClusterIP: api.ClusterIPNone})
	np := mkSvc("web-np", api.ServiceSpec{Type: api.ServiceTypeNodePort})
	lb := mkSvc("web-lb", api.ServiceSpec{Type: api.ServiceTypeLoadBalancer,
		Ports: []api.ServicePort{{Name: "http", Port: 8081, TargetPort: api.FromInt(8080)}}})
	timeout := int32(60)
	sticky := mkSvc("web-sticky", api.ServiceSpec{SessionAffinity: api.ServiceAffinityClientIP,
		SessionAffinityConfig: &api.SessionAffinityConfig{ClientIP: &api.ClientIPConfig{TimeoutSeconds: &timeout}}})
	echoSvc := mkSvc("echo", api.ServiceSpec{Selector: map[string]string{"app": "echo"},
		Ports: []api.ServicePort{{Name: "echo", Port: 9000, TargetPort: api.FromInt(9000)}}})
	for _, h := range c.hosts {
		webs[h.name] = h.waitPod("web-"+h.name, 90*time.Second, "Ready", isReady)
		clients[h.name] = h.waitPod("client-"+h.name, 90*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	}
	c.hosts[1].waitPod("echo", 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	from := podNetNS(srv, clients[srv.name])
	debug := func() string { return c.debug() }

	// Every host's pod by IP from host 0's client: across the overlay.
	for _, h := range c.hosts {
		p := webs[h.name]
		srv.eventually(30*time.Second, "pod "+p.Name+" on "+h.name+" by IP from "+srv.name, func() (bool, string) {
			body, err := getIn(from, net.JoinHostPort(p.Status.PodIP, "8080"))
			return body == p.Name, fmt.Sprintf("%q %v\n%s", body, err, debug())
		})
	}

	// Across hosts a pod sees the other pod's own address (unmasqueraded
	// within the cluster CIDR, on agents too).
	far, near := webs[c.hosts[1].name], clients[c.hosts[2].name]
	if _, err := getIn(podNetNS(c.hosts[2], near), net.JoinHostPort(far.Status.PodIP, "8080")); err != nil {
		t.Errorf("%s's pod to %s's: %v", c.hosts[2].name, c.hosts[1].name, err)
	}
	srv.eventually(10*time.Second, far.Name+" logs "+near.Name+"'s address", func() (bool, string) {
		logs := runSkiff(t, []string{"SKIFF_CONFIG=" + srv.srv.config}, "", "logs", far.Name).out
		return strings.Contains(logs, near.Status.PodIP), logs
	})

	// Through the backend asked for: a route per other host on its
	// device, and pods whose MTU leaves room for the tunnel's headers.
	mtu := map[string]int{"host-gw": 1500, "vxlan": 1450, "wireguard": 1420}[c.overlay]
	for k, h := range c.hosts {
		if r, dev := c.routes(h), "dev "+c.device(k)+" "; strings.Count(r, dev) < len(c.hosts)-1 {
			t.Errorf("%s: want a route %s to each of the %d other hosts' pods:\n%s", h.name, dev, len(c.hosts)-1, r)
		}
		if c.overlay == "wireguard" {
			if out := mustRun(t, "ip", "netns", "exec", h.netns, "ss", "-Hlun"); !strings.Contains(out, ":"+strconv.Itoa(testWireGuardPort)+" ") {
				t.Errorf("%s: WireGuard not on the server's --wireguard-port %d:\n%s", h.name, testWireGuardPort, out)
			}
		}
		var got int
		inNetNS(podNetNS(h, clients[h.name]), func() error {
			i, err := net.InterfaceByName("eth0")
			if err == nil {
				got = i.MTU
			}
			return err
		})
		if got != mtu {
			t.Errorf("%s: a pod's MTU is %d, want %d with %s", h.name, got, mtu, c.overlay)
		}
	}

	// The ClusterIP service by DNS name, answering from every host.
	srv.eventually(30*time.Second, "web.default.svc.skiff.local resolves to the cluster IP", func() (bool, string) {
		r, err := lookupIn(from, "web.default.svc.skiff.local", dns.TypeA)
		if err != nil {
			return false, err.Error()
		}
		got := aRecords(r)
		return len(got) == 1 && got[0] == web.Spec.ClusterIP, fmt.Sprint(got)
	})
	seen := map[string]bool{}
	srv.eventually(30*time.Second, "the cluster IP answering from every host's pod", func() (bool, string) {
		body, err := getIn(from, net.JoinHostPort(web.Spec.ClusterIP, "80"))
		if err == nil {
			seen[body] = true
		}
		return len(seen) == len(c.hosts), fmt.Sprintf("answered: %v; last %v\n%s", seen, err, debug())
	})

	// The headless service's name gives every pod, each reachable.
	var podIPs []string
	for _, p := range webs {
		podIPs = append(podIPs, p.Status.PodIP)
	}
	slices.Sort(podIPs)
	srv.eventually(30*time.Second, "web-headless resolves to the pods", func() (bool, string) {
		r, err := lookupIn(from, "web-headless.default.svc.skiff.local", dns.TypeA)
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(aRecords(r), podIPs), fmt.Sprintf("%v, want %v", aRecords(r), podIPs)
	})
	for _, ip := range podIPs {
		if _, err := getIn(from, net.JoinHostPort(ip, "8080")); err != nil {
			t.Errorf("headless service's pod %s: %v", ip, err)
		}
	}

	// The node port on every host and the load balancer port on every
	// host's own address, from the LAN.
	lanNS := "/run/netns/" + c.lan
	for k, h := range c.hosts {
		for _, addr := range []string{
			net.JoinHostPort(c.lanAddr(k), strconv.Itoa(int(np.Spec.Ports[0].NodePort))),
			net.JoinHostPort(c.lanAddr(k), strconv.Itoa(int(lb.Spec.Ports[0].Port))),
		} {
			srv.eventually(30*time.Second, "from the LAN, "+addr+" on "+h.name, func() (bool, string) {
				body, err := getIn(lanNS, addr)
				return err == nil && strings.HasPrefix(body, "web-"), fmt.Sprintf("%q %v\n%s", body, err, debug())
			})
		}
	}

	// Session affinity: one client, one pod, connection after connection.
	stuck := map[string]int{}
	for range 20 {
		body, err := getIn(from, net.JoinHostPort(sticky.Spec.ClusterIP, "80"))
		if err != nil {
			t.Fatalf("web-sticky: %v", err)
		}
		stuck[body]++
	}
	if len(stuck) != 1 {
		t.Errorf("session affinity ClientIP: one client's 20 connections went to %v, want one pod", stuck)
	}

	// A connection held from host 2's client to the echo service (its pod
	// on host 1), kept across agent restarts below.
	echoConn, err := dialIn(podNetNS(c.hosts[2], clients[c.hosts[2].name]), "tcp", net.JoinHostPort(echoSvc.Spec.ClusterIP, "9000"), 5*time.Second)
	if err != nil {
		t.Fatalf("echo service: %v\n%s", err, debug())
	}
	defer echoConn.Close()
	roundTrip := func(msg string) error {
		echoConn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(echoConn, msg+"\n"); err != nil {
			return err
		}
		buf := make([]byte, len(msg)+1)
		if _, err := io.ReadFull(echoConn, buf); err != nil {
			return err
		}
		if string(buf) != msg+"\n" {
			return fmt.Errorf("echoed %q, want %q", buf, msg)
		}
		return nil
	}
	if err := roundTrip("before"); err != nil {
		t.Fatalf("echo through the service: %v", err)
	}

	// An endpoint that becomes unready, then one that is deleted: new
	// connections stop reaching it within 1 s.
	unready := "web-" + c.hosts[1].name
	stopsWithin(t, c, from, web.Spec.ClusterIP, unready, webs[c.hosts[1].name].Status.PodIP, func() time.Time {
		runSkiff(t, []string{"SKIFF_CONFIG=" + srv.srv.config}, "", "exec", unready, "--", "rm", "/w/ready").must(t, "exec rm")
		// From when the API says so (its transition times are in whole
		// seconds), polled every 100 ms.
		c.hosts[1].waitPod(unready, 10*time.Second, "not Ready", func(p *api.Pod) bool { return !isReady(p) })
		return time.Now()
	})
	deleted := "web-" + c.hosts[2].name
	deletedIP := webs[c.hosts[2].name].Status.PodIP
	for _, h := range c.hosts {
		if rules := c.nft(h); !mentions(rules, deletedIP) {
			t.Fatalf("%s: no rule names endpoint %s before it goes:\n%s", h.name, deletedIP, rules)
		}
	}
	stopsWithin(t, c, from, web.Spec.ClusterIP, deleted, deletedIP, func() time.Time {
		at := time.Now()
		if _, err := c.hosts[2].pods().Delete(ctx, deleted, api.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
			t.Fatal(err)
		}
		return at
	})
	srv.eventually(30*time.Second, "deleted pod "+deleted+" gone from the API", func() (bool, string) {
		_, err := c.hosts[2].pods().Get(ctx, deleted)
		return errdefs.IsNotFound(err), fmt.Sprint(err)
	})
	c.eventuallyEveryHost("no rule names the deleted pod's address "+deletedIP, func(h *testNode) (bool, string) {
		rules := c.nft(h)
		return !mentions(rules, deletedIP), rules
	})
	srv.eventually(10*time.Second, "web-headless without the deleted pod", func() (bool, string) {
		r, err := lookupIn(from, "web-headless.default.svc.skiff.local", dns.TypeA)
		return err == nil && !slices.Contains(aRecords(r), deletedIP), fmt.Sprint(err, r)
	})

	// Restarting agents (and the server's node) leaves the held
	// connection alone.
	for _, h := range c.hosts[1:] {
		h.srv.stop()
		c.startAgent(h, "")
	}
	srv.srv.stop()
	srv.srv = srv.startServer(srv.srv.port())
	for _, h := range c.hosts {
		h.waitNodeReady()
	}
	// A service made now is on every host: each restarted proxy has
	// synced (and a sync that broke connections would have).
	later := mkSvc("after-restarts", api.ServiceSpec{})
	c.eventuallyEveryHost("the restarted proxies' rules name "+later.Spec.ClusterIP, func(h *testNode) (bool, string) {
		rules := c.nft(h)
		return mentions(rules, later.Spec.ClusterIP), rules
	})
	if err := roundTrip("after restarts"); err != nil {
		t.Errorf("a connection through a service did not survive agent restarts: %v\n%s", err, debug())
	}

	// Bad input: a node port in use, a cluster IP in use — clear errors,
	// and the services that hold them go on answering.
	_, err = svcs.Create(ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: "clash-np", Namespace: "default"},
		Spec: api.ServiceSpec{Type: api.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
			Ports: []api.ServicePort{{Port: 80, TargetPort: api.FromInt(8080), NodePort: np.Spec.Ports[0].NodePort}}}})
	if err == nil || !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), "nodePort") {
		t.Errorf("a node port in use: %v, want invalid naming the nodePort", err)
	}
	_, err = svcs.Create(ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: "clash-ip", Namespace: "default"},
		Spec: api.ServiceSpec{ClusterIP: web.Spec.ClusterIP, Selector: map[string]string{"app": "web"},
			Ports: []api.ServicePort{{Port: 80, TargetPort: api.FromInt(8080)}}}})
	if err == nil || !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), "clusterIP") {
		t.Errorf("a cluster IP in use: %v, want invalid naming the clusterIP", err)
	}
	// A service selecting nothing: connections are refused at once.
	none := mkSvc("selects-nothing", api.ServiceSpec{Selector: map[string]string{"app": "nothing"}})
	srv.eventually(10*time.Second, "a service selecting nothing refuses at once", func() (bool, string) {
		start := time.Now()
		conn, err := dialIn(from, "tcp", net.JoinHostPort(none.Spec.ClusterIP, "80"), 2*time.Second)
		if err == nil {
			conn.Close()
			return false, "connected"
		}
		return strings.Contains(err.Error(), "refused") && time.Since(start) < time.Second, err.Error()
	})
	for _, addr := range []string{net.JoinHostPort(web.Spec.ClusterIP, "80"), net.JoinHostPort(c.lanAddr(1), strconv.Itoa(int(np.Spec.Ports[0].NodePort)))} {
		srv.eventually(10*time.Second, addr+" still answers after the bad input", func() (bool, string) {
			body, err := getIn(from, addr)
			return err == nil && strings.HasPrefix(body, "web-"), fmt.Sprint(body, err)
		})
	}

	// Deleting a service leaves no rule and no name.
	nodePort := "tcp . " + strconv.Itoa(int(np.Spec.Ports[0].NodePort))
	for _, h := range c.hosts {
		if rules := c.nft(h); !mentions(rules, np.Spec.ClusterIP) || !mentions(rules, nodePort) {
			t.Fatalf("%s: no rule of service web-np (%s, %s) before it goes:\n%s", h.name, np.Spec.ClusterIP, nodePort, rules)
		}
	}
	if _, err := svcs.Delete(ctx, "web-np", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventuallyEveryHost("no rule of deleted service web-np", func(h *testNode) (bool, string) {
		rules := c.nft(h)
		return !mentions(rules, np.Spec.ClusterIP) && !mentions(rules, nodePort), rules
	})
	srv.eventually(10*time.Second, "web-np.default.svc.skiff.local gone", func() (bool, string) {
		r, err := lookupIn(from, "web-np.default.svc.skiff.local", dns.TypeA)
		return err == nil && r.Rcode == dns.RcodeNameError, fmt.Sprint(err, r)
	})

	// The service selecting nothing says so to whoever looks.
	srv.eventually(20*time.Second, "skiff describe service selects-nothing warns", func() (bool, string) {
		out := runSkiff(t, []string{"SKIFF_CONFIG=" + srv.srv.config}, "", "describe", "service", "selects-nothing").out
		return strings.Contains(out, "NoPodsSelected") && strings.Contains(out, "selector app=nothing matches no pod"), out
	})

	// Deleting a node (its agent stopped) leaves no route to its pods.
	gone := c.hosts[2]
	n, err := nodes.Get(ctx, gone.name)
	if err != nil {
		t.Fatal(err)
	}
	cidr := n.Spec.PodCIDR
	for _, h := range c.hosts[:2] {
		if routes := c.routes(h); !strings.Contains(routes, cidr) {
			t.Errorf("%s has no route to %s's pods (%s) before it leaves:\n%s", h.name, gone.name, cidr, routes)
		}
	}
	// Its pods first (their containers stop with a live agent), then it.
	if list, _, _, err := gone.pods().List(ctx, api.ListOptions{}); err == nil {
		for _, p := range list {
			if p.Spec.NodeName == gone.name {
				gone.deletePod(p.Name, &one, 30*time.Second)
			}
		}
	}
	gone.srv.stop()
	if _, err := nodes.Delete(ctx, gone.name, api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventuallyEveryHost("no route to deleted node "+gone.name+"'s pods "+cidr, func(h *testNode) (bool, string) {
		if h == gone {
			return true, ""
		}
		r := c.routes(h)
		return !strings.Contains(r, cidr) && !strings.Contains(r, c.lanAddr(2)+" "), r
	})

	// The machine that left: `skiff cleanup-node` removes what its agent
	// kept for its pods across restarts — and refuses on a live node.
	cleanup := func(h *testNode) (string, error) {
		args := append([]string{"--net=/run/netns/" + h.netns, "--", skiffBin, "cleanup-node", "--data-dir", h.dataDir}, h.agentArgs...)
		out, err := exec.Command("nsenter", args...).CombinedOutput()
		return string(out), err
	}
	if out, err := cleanup(c.hosts[1]); err == nil || !strings.Contains(out, "still runs") {
		t.Errorf("cleanup-node with the agent running: %v\n%s", err, out)
	}
	if rules := c.nft(c.hosts[1]); !strings.Contains(rules, "table ip skiff-proxy") {
		t.Errorf("a refused cleanup-node touched the live node's rules:\n%s", rules)
	}
	if _, err := os.Stat(filepath.Join(gone.dataDir, agentNetworkFile)); err != nil {
		t.Errorf("the agent kept no copy of the cluster's network settings: %v", err)
	}
	if out, err := cleanup(gone); err != nil {
		t.Fatalf("cleanup-node: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(gone.dataDir, agentNetworkFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cleanup-node left the network settings' copy: %v", err)
	}
	tables := mustRun(t, "ip", "netns", "exec", gone.netns, "nft", "list", "tables")
	links := mustRun(t, "ip", "-n", gone.netns, "-o", "link")
	addrs := mustRun(t, "ip", "-n", gone.netns, "-o", "addr")
	switch {
	case strings.Contains(tables, "table ip skiff-proxy"):
		t.Errorf("service rules left after cleanup-node:\n%s", tables)
	case strings.TrimSpace(mustRun(t, "ip", "-n", gone.netns, "route", "show", "proto", "0x5a")) != "":
		t.Errorf("routes left after cleanup-node:\n%s", c.routes(gone))
	case strings.Contains(links, "skiff.vxlan") || strings.Contains(links, "skiff.wg") || (c.overlay != "host-gw" && strings.Contains(links, c.device(2))) || strings.Contains(links, dnsLink):
		t.Errorf("devices left after cleanup-node:\n%s", links)
	case strings.Contains(addrs, "10.43.0.10/32"):
		t.Errorf("the cluster DNS address left after cleanup-node:\n%s", addrs)
	}
}

// stopsWithin starts new connections to vip from the namespace at from
// (a pod's on host 0), back to back, while act makes pod (at podIP)
// leave the service. It checks that pod answered before; that no
// connection started after host 0's rules stopped naming podIP reached
// it; that none started more than 1 s after the time act returns did
// (the acceptance bound; typically it is tens of milliseconds); and that
// the service went on answering.
func stopsWithin(t *testing.T, c *testCluster, from, vip, pod, podIP string, act func() time.Time) {
	t.Helper()
	type answer struct {
		at   time.Time
		body string
	}
	var (
		mu      sync.Mutex
		answers []answer
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			at := time.Now()
			body, err := getIn(from, net.JoinHostPort(vip, "80"))
			if err == nil {
				mu.Lock()
				answers = append(answers, answer{at, body})
				mu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// pod answers before it leaves.
	c.hosts[0].eventually(20*time.Second, pod+" answers through "+vip, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range answers {
			if a.body == pod {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(answers), " answers")
	})
	left := act()
	var rulesGone time.Time
	c.hosts[0].eventually(10*time.Second, "host 0's rules without "+podIP, func() (bool, string) {
		rules := c.nft(c.hosts[0])
		rulesGone = time.Now()
		return !mentions(rules, podIP), rules
	})
	time.Sleep(left.Add(2 * time.Second).Sub(time.Now())) // a second of answers past the bound
	close(stop)
	<-done
	last := time.Time{}
	after := 0
	for _, a := range answers {
		if a.body == pod && a.at.After(last) {
			last = a.at
		}
		if a.body == pod && a.at.After(rulesGone) {
			t.Errorf("%s answered a connection started %v after host 0's rules stopped naming it", pod, a.at.Sub(rulesGone))
		}
		if a.at.After(left.Add(time.Second)) {
			after++
		}
	}
	t.Logf("%s: last new connection answered %v after it left the service; rules without it after %v (%d answers after 1 s)",
		pod, last.Sub(left).Round(time.Millisecond), rulesGone.Sub(left).Round(time.Millisecond), after)
	if last.After(left.Add(time.Second)) {
		t.Errorf("%s still got new connections %v after it left the service, want within 1 s", pod, last.Sub(left))
	}
	if after == 0 {
		t.Errorf("no connection through %s was answered after %s left: the service stopped working", vip, pod)
	}
}

// eventuallyEveryHost polls cond on every host until it holds on all.
func (c *testCluster) eventuallyEveryHost(what string, cond func(h *testNode) (bool, string)) {
	c.t.Helper()
	for _, h := range c.hosts {
		c.hosts[0].eventually(15*time.Second, what+" on "+h.name, func() (bool, string) { return cond(h) })
	}
}

// mentions says whether s holds word (an address, "tcp . 30080") not as
// part of a longer number.
func mentions(s, word string) bool {
	return regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(word) + `($|[^0-9])`).MatchString(s)
}

// nft is host h's service rules.
func (c *testCluster) nft(h *testNode) string {
	out, _ := exec.Command("ip", "netns", "exec", h.netns, "nft", "list", "table", "ip", "skiff-proxy").CombinedOutput()
	return string(out)
}

// routes is host h's routes to other nodes' pods (and, with VXLAN,
// its FDB).
func (c *testCluster) routes(h *testNode) string {
	out, _ := exec.Command("ip", "-n", h.netns, "route", "show", "proto", "0x5a").CombinedOutput()
	// (with host-gw, the LAN device lan0, and no FDB to show)
	fdb, _ := exec.Command("ip", "netns", "exec", h.netns, "bridge", "fdb", "show", "dev", "skiff.vxlan").CombinedOutput()
	return string(out) + string(fdb)
}

// debug is every host's routes, for a failure message.
func (c *testCluster) debug() string {
	var b strings.Builder
	for k, h := range c.hosts {
		fmt.Fprintf(&b, "%s routes:\n%s", h.name, c.routes(h))
		if k > 0 && h.srv != nil {
			fmt.Fprintf(&b, "%s agent log:\n%s\n", h.name, tail(h.srv.log.String(), 15))
		}
	}
	return b.String()
}
