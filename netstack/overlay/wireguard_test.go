package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The WireGuard tests run on the real kernel: its WireGuard if it has
// one, else the real wireguard-go (which must be installed). Their
// namespaces are skiff-ovl-wg-<pid>-<n>-<role>, and each host's device
// has a name of its own (wg<pid>-<n>-<i>), since wireguard-go's sockets
// in /var/run/wireguard are one directory for all namespaces. Whatever
// wireguard-go runs in a test's namespaces when it ends is killed (by
// PID) and its socket removed.

// wgCluster is a cluster whose hosts run the WireGuard backend.
type wgCluster struct {
	*cluster
	dev  map[*host]string // device name
	keys map[*host]string // key file
	ovl  map[*host]*Overlay
}

func requireWireGuard(t testing.TB) {
	t.Helper()
	requireRoot(t)
	if kernelHasWireGuard(t) {
		return
	}
	if _, err := exec.LookPath(DefaultWireGuardUserspace); err != nil {
		t.Skip("needs WireGuard: the kernel has none and wireguard-go is not installed (apt-get install wireguard-go)")
	}
}

var kernelWG struct {
	once sync.Once
	ok   bool
}

// kernelHasWireGuard reports whether the kernel can make WireGuard devices.
func kernelHasWireGuard(t testing.TB) bool {
	kernelWG.once.Do(func() {
		name := fmt.Sprintf("skiff-ovl-wg-%d-probe", os.Getpid())
		if exec.Command("ip", "netns", "add", name).Run() != nil {
			return
		}
		defer exec.Command("ip", "netns", "del", name).Run()
		kernelWG.ok = exec.Command("ip", "-n", name, "link", "add", "wg0", "type", "wireguard").Run() == nil
	})
	return kernelWG.ok
}

func newWGCluster(t *testing.T, n int, routed bool) *wgCluster {
	t.Helper()
	requireWireGuard(t)
	seq := clusterSeq.Add(1)
	c := &wgCluster{
		cluster: newClusterNamed(t, fmt.Sprintf("skiff-ovl-wg-%d-%d", os.Getpid(), seq), n, routed),
		dev:     map[*host]string{},
		keys:    map[*host]string{},
		ovl:     map[*host]*Overlay{},
	}
	dir := t.TempDir()
	for i, h := range c.hosts {
		c.dev[h] = fmt.Sprintf("wg%d-%d-%d", os.Getpid(), seq, i+1)
		c.keys[h] = filepath.Join(dir, h.name, "wireguard.key")
		c.ovl[h] = c.overlay(h, Config{})
		key, err := c.ovl[h].LocalPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		h.wgKey = key
		h := h
		// Runs before the namespaces are deleted (t.Cleanup is LIFO).
		t.Cleanup(func() { c.killUserspace(h) })
	}
	return c
}

// overlay returns a WireGuard Overlay for h, cfg filled with h's
// namespace, device and key file.
func (c *wgCluster) overlay(h *host, cfg Config) *Overlay {
	c.t.Helper()
	cfg.Backend, cfg.NetNS, cfg.Device, cfg.WireGuardKeyFile = WireGuard, int(h.fd.Fd()), c.dev[h], c.keys[h]
	if cfg.Log == nil {
		cfg.Log = testLog(c.t)
	}
	o, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return o
}

// userspacePIDs returns the wireguard-go processes in h's namespace.
func (c *wgCluster) userspacePIDs(h *host) []int {
	var st syscall.Stat_t
	if err := syscall.Stat("/var/run/netns/"+h.ns, &st); err != nil {
		c.t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if ns == want && strings.TrimSpace(string(comm)) == "wireguard-go" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killUserspace kills the wireguard-go processes a test left in h's
// namespace and removes the socket of h's device.
func (c *wgCluster) killUserspace(h *host) {
	for _, pid := range c.userspacePIDs(h) {
		c.t.Logf("%s: killing wireguard-go %d", h.name, pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	os.Remove(uapiSocket(c.dev[h]))
}

// device reads h's WireGuard device through wgctrl, in h's namespace.
func (c *wgCluster) device(h *host) *wgtypes.Device {
	c.t.Helper()
	var d *wgtypes.Device
	err := in(h.ns, func() error {
		wg, err := wgctrl.New()
		if err != nil {
			return err
		}
		defer wg.Close()
		d, err = wg.Device(c.dev[h])
		return err
	})
	if err != nil {
		c.t.Fatalf("%s: read %s: %v", h.name, c.dev[h], err)
	}
	return d
}

func (c *wgCluster) configure(h *host, cfg wgtypes.Config) {
	c.t.Helper()
	err := in(h.ns, func() error {
		wg, err := wgctrl.New()
		if err != nil {
			return err
		}
		defer wg.Close()
		return wg.ConfigureDevice(c.dev[h], cfg)
	})
	if err != nil {
		c.t.Fatalf("%s: configure %s: %v", h.name, c.dev[h], err)
	}
}

// peers returns h's device's peers as "node endpoint allowed-ips
// keepalive", sorted.
func (c *wgCluster) peers(h *host) []string {
	c.t.Helper()
	byKey := map[string]string{}
	for _, o := range c.hosts {
		byKey[o.wgKey] = o.name
	}
	var ps []string
	for _, p := range c.device(h).Peers {
		name := byKey[p.PublicKey.String()]
		if name == "" {
			name = p.PublicKey.String()
		}
		var allowed []string
		for _, a := range p.AllowedIPs {
			allowed = append(allowed, a.String())
		}
		ps = append(ps, fmt.Sprintf("%s %s %s %s", name, p.Endpoint, strings.Join(allowed, ","), p.PersistentKeepaliveInterval))
	}
	slices.Sort(ps)
	return ps
}

// wantWireGuard checks h's peers and routes for the given remotes.
func (c *wgCluster) wantWireGuard(t *testing.T, h *host, remotes ...*host) {
	t.Helper()
	var peers, routes []string
	for _, r := range remotes {
		peers = append(peers, fmt.Sprintf("%s %s:%d %s 25s", r.name, r.ip, DefaultWireGuardPort, r.cidr))
		routes = append(routes, fmt.Sprintf("%s dev %s scope link", r.cidr, c.dev[h]))
	}
	wantLines(t, h.name+" peers", c.peers(h), peers)
	wantLines(t, h.name+" routes", c.routes(h), routes)
}

func (c *wgCluster) hasLink(h *host, name string) bool {
	return exec.Command("ip", "-n", h.ns, "link", "show", name).Run() == nil
}

// frame is one packet seen on the router: its IPv4 addresses and, for
// UDP, its ports, and all its bytes.
type frame struct {
	src, dst         netip.Addr
	udp              bool
	srcPort, dstPort int
	raw              []byte
}

// capture returns the IPv4 packets that crossed the router of a routed
// cluster while fn ran.
func (c *cluster) capture(fn func()) []frame {
	c.t.Helper()
	var fd int
	err := in(c.prefix+"-router", func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		return err
	})
	if err != nil {
		c.t.Fatalf("packet socket: %v", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		c.t.Fatal(err)
	}
	var frames []frame
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			select {
			case <-stop:
				return
			default:
			}
			if err != nil || n < 34 {
				continue
			}
			// Each packet is seen twice, going into and out of the
			// router; keep the incoming copy.
			if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING || buf[12] != 0x08 || buf[13] != 0x00 {
				continue
			}
			ip := buf[14:n]
			f := frame{raw: slices.Clone(buf[:n])}
			f.src, _ = netip.AddrFromSlice(ip[12:16])
			f.dst, _ = netip.AddrFromSlice(ip[16:20])
			if hl := int(ip[0]&0x0f) * 4; ip[9] == unix.IPPROTO_UDP && len(ip) >= hl+8 {
				f.udp = true
				f.srcPort = int(ip[hl])<<8 | int(ip[hl+1])
				f.dstPort = int(ip[hl+2])<<8 | int(ip[hl+3])
			}
			frames = append(frames, f)
		}
	}()
	fn()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	<-done
	return frames
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func TestWireGuard(t *testing.T) {
	c := newWGCluster(t, 3, true)
	h1, h2, h3 := c.hosts[0], c.hosts[1], c.hosts[2]
	if c.reaches(h1, h2) {
		t.Fatal("pod h1 reached pod h2 before any Sync; the test network is wrong")
	}
	for _, h := range c.hosts {
		// device, key, port, address, up, then 2 × (peer, route)
		wantChanges(t, syncOK(t, c.ovl[h], c.state(h)), 9, 2)
	}
	c.wantWireGuard(t, h1, h2, h3)

	frames := c.capture(c.dialAll)
	tunnel := 0
	pods := netip.MustParsePrefix("10.42.0.0/16")
	for _, f := range frames {
		if f.udp && (f.srcPort == DefaultWireGuardPort && f.dstPort == DefaultWireGuardPort) {
			tunnel++
		}
		if pods.Contains(f.src) || pods.Contains(f.dst) {
			t.Errorf("a packet %s → %s crossed the router in the clear", f.src, f.dst)
		}
		for _, h := range c.hosts {
			// what the pod servers answer: "<host> <peer address>"
			if bytes.Contains(f.raw, []byte(h.podIP().String()+":")) {
				t.Errorf("a pod server's answer crossed the router readable, in %s → %s", f.src, f.dst)
			}
		}
	}
	if tunnel == 0 {
		t.Errorf("no WireGuard packets (UDP %d) crossed the router among %d packets", DefaultWireGuardPort, len(frames))
	}
	t.Logf("%d packets crossed the router during the dials, %d of them WireGuard's", len(frames), tunnel)

	dev := c.device(h1)
	key, err := readKeyFile(c.keys[h1])
	if err != nil {
		t.Fatal(err)
	}
	if dev.PrivateKey != key || dev.ListenPort != DefaultWireGuardPort {
		t.Errorf("h1 device: private key from the key file %v, listen port %d; want true and %d", dev.PrivateKey == key, dev.ListenPort, DefaultWireGuardPort)
	}
	for _, p := range dev.Peers {
		if p.LastHandshakeTime.IsZero() || p.ReceiveBytes == 0 || p.TransmitBytes == 0 {
			t.Errorf("h1 peer %s: last handshake %v, %d bytes received, %d sent; want a handshake and traffic both ways", p.Endpoint, p.LastHandshakeTime, p.ReceiveBytes, p.TransmitBytes)
		}
	}
	link := strings.Join(c.lines("ip", "-n", h1.ns, "link", "show", c.dev[h1]), " ")
	for _, want := range []string{"mtu 1420", "UP"} {
		if !strings.Contains(link, want) {
			t.Errorf("ip link show %s: no %q in %s", c.dev[h1], want, link)
		}
	}
	addr := strings.Fields(strings.Join(c.lines("ip", "-n", h1.ns, "-br", "-4", "addr", "show", "dev", c.dev[h1]), " "))
	if len(addr) != 3 || addr[2] != "10.42.1.0/32" {
		t.Errorf("h1 %s addresses: got %q, want 10.42.1.0/32", c.dev[h1], addr)
	}
	// The node itself reaches a remote pod from its device's address,
	// which is within its peers' allowed IPs.
	err = in(h1.ns, func() error {
		conn, err := net.DialTimeout("tcp4", netip.AddrPortFrom(h2.podIP(), podPort).String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		if src := conn.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); src != h1.cidr.Addr() {
			return fmt.Errorf("from %s, want %s", src, h1.cidr.Addr())
		}
		return nil
	})
	if err != nil {
		t.Errorf("host h1 → pod h2: %v", err)
	}

	t.Run("unchanged", func(t *testing.T) {
		for _, h := range c.hosts {
			wantChanges(t, syncOK(t, c.ovl[h], c.state(h)), 0, 2)
		}
	})

	t.Run("agent restart adopts the running device", func(t *testing.T) {
		before := c.userspacePIDs(h1)
		o := c.overlay(h1, Config{})
		wantChanges(t, syncOK(t, o, c.state(h1)), 0, 2)
		if after := c.userspacePIDs(h1); !slices.Equal(before, after) {
			t.Errorf("wireguard-go of h1: %v before, %v after", before, after)
		}
		if err := c.dial(h1, h2); err != nil {
			t.Error(err)
		}
	})

	t.Run("node leaves and returns", func(t *testing.T) {
		wantChanges(t, syncOK(t, c.ovl[h1], c.state(h1, "h3")), 2, 1) // peer, route
		c.wantWireGuard(t, h1, h2)
		if c.reaches(h1, h3) {
			t.Error("pod h1 reached pod h3 after h3 left")
		}
		wantChanges(t, syncOK(t, c.ovl[h1], c.state(h1)), 2, 2)
		c.wantWireGuard(t, h1, h2, h3)
		if err := c.dial(h1, h3); err != nil {
			t.Error(err)
		}
	})

	t.Run("hand-deleted peer and route restored", func(t *testing.T) {
		k, _ := wgtypes.ParseKey(h2.wgKey)
		c.configure(h1, wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: k, Remove: true}}})
		c.ip("-n", h1.ns, "route", "del", h3.cidr.String())
		wantChanges(t, syncOK(t, c.ovl[h1], c.state(h1)), 2, 2)
		c.wantWireGuard(t, h1, h2, h3)
		c.dialAll()
	})

	t.Run("stray peer and wrong settings put right", func(t *testing.T) {
		stray, _ := wgtypes.GeneratePrivateKey()
		k2, _ := wgtypes.ParseKey(h2.wgKey)
		port, keepalive := 51999, 5*time.Second
		c.configure(h1, wgtypes.Config{ListenPort: &port, Peers: []wgtypes.PeerConfig{
			{PublicKey: stray.PublicKey(), AllowedIPs: []net.IPNet{*prefixNet(netip.MustParsePrefix("10.42.77.0/24"))}},
			{PublicKey: k2, UpdateOnly: true, PersistentKeepaliveInterval: &keepalive},
		}})
		c.ip("-n", h1.ns, "link", "set", c.dev[h1], "mtu", "1300")
		// port, stray peer out, h2's peer put right, mtu
		wantChanges(t, syncOK(t, c.ovl[h1], c.state(h1)), 4, 2)
		c.wantWireGuard(t, h1, h2, h3)
		c.dialAll()
	})

	t.Run("node without a key reported, others programmed", func(t *testing.T) {
		st := c.state(h1)
		st.Remotes[1].WireGuardKey = "" // h3
		res, err := c.ovl[h1].Sync(st)
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), `"h3"`) || !strings.Contains(err.Error(), WireGuardKeyAnnotation) {
			t.Errorf("Sync with a node without a key: got error %v, want ErrInvalid naming h3 and %s", err, WireGuardKeyAnnotation)
		}
		wantChanges(t, res, 2, 1)
		c.wantWireGuard(t, h1, h2)
		if err := c.dial(h1, h2); err != nil {
			t.Error(err)
		}
		st.Remotes[1].WireGuardKey = "bm90IGEga2V5"
		if _, err := c.ovl[h1].Sync(st); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), `"h3"`) {
			t.Errorf("Sync with a node with a bad key: got error %v, want ErrInvalid naming h3", err)
		}
		st.Remotes[1].WireGuardKey = h1.wgKey
		if _, err := c.ovl[h1].Sync(st); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "this node's own") {
			t.Errorf("Sync with a node with this node's key: got error %v, want ErrInvalid saying so", err)
		}
		wantChanges(t, syncOK(t, c.ovl[h1], c.state(h1)), 2, 2)
	})

	t.Run("device deleted by hand recreated", func(t *testing.T) {
		c.ip("-n", h2.ns, "link", "del", c.dev[h2])
		wantChanges(t, syncOK(t, c.ovl[h2], c.state(h2)), 9, 2)
		c.wantWireGuard(t, h2, h1, h3)
		c.dialAll()
	})

	if !kernelHasWireGuard(t) {
		t.Run("wireguard-go killed, restarted", func(t *testing.T) {
			pids := c.userspacePIDs(h3)
			if len(pids) != 1 {
				t.Fatalf("h3: wireguard-go processes %v, want one", pids)
			}
			syscall.Kill(pids[0], syscall.SIGKILL)
			for c.hasLink(h3, c.dev[h3]) {
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := os.Stat(uapiSocket(c.dev[h3])); err != nil {
				t.Logf("no stale socket left: %v", err)
			}
			wantChanges(t, syncOK(t, c.ovl[h3], c.state(h3)), 9, 2)
			c.dialAll()
		})
	}

	t.Run("cleanup", func(t *testing.T) {
		for _, h := range c.hosts {
			if err := c.ovl[h].Cleanup(); err != nil {
				t.Fatal(err)
			}
			if c.hasLink(h, c.dev[h]) {
				t.Errorf("%s: %s still there after Cleanup", h.name, c.dev[h])
			}
			wantLines(t, h.name+" routes after Cleanup", c.routes(h), nil)
			if pids := c.userspacePIDs(h); len(pids) > 0 {
				t.Errorf("%s: wireguard-go %v still running after Cleanup", h.name, pids)
			}
			if _, err := os.Stat(uapiSocket(c.dev[h])); err == nil {
				t.Errorf("%s: %s still there after Cleanup", h.name, uapiSocket(c.dev[h]))
			}
			if _, err := readKeyFile(c.keys[h]); err != nil {
				t.Errorf("%s: key file after Cleanup: %v", h.name, err)
			}
		}
		if c.reaches(h1, h2) {
			t.Error("pod h1 reached pod h2 after Cleanup")
		}
		if err := c.ovl[h1].Cleanup(); err != nil {
			t.Errorf("second Cleanup: %v", err)
		}
	})
}

// Switching a node between backends leaves only the new backend's
// device: a host-gw or vxlan Sync deletes the WireGuard device (and its
// wireguard-go), a WireGuard Sync deletes the VXLAN device, under the
// default names and under Config.Device, the same name for both.
func TestSwitchWireGuard(t *testing.T) {
	c := newWGCluster(t, 2, false)
	h1, h2 := c.hosts[0], c.hosts[1]
	other := func(b Backend, device bool) func(*host) *Overlay {
		return func(h *host) *Overlay {
			cfg := Config{Backend: b, NetNS: int(h.fd.Fd()), Log: testLog(t)}
			if device {
				cfg.Device = c.dev[h]
			}
			o, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return o
		}
	}
	wireguard := func(h *host) *Overlay { return c.ovl[h] }
	for _, step := range []struct {
		name    string
		backend func(*host) *Overlay
		kind    string // of h1's device c.dev[h1], "" for none
		vxlan   bool   // whether h1 has DefaultDevice
	}{
		{"wireguard", wireguard, "wireguard", false},
		{"host-gw", other(HostGW, true), "", false},
		{"wireguard again", wireguard, "wireguard", false},
		{"vxlan under the same name", other(VXLAN, true), "vxlan", false},
		{"wireguard under the same name", wireguard, "wireguard", false},
		{"host-gw", other(HostGW, true), "", false},
		{"vxlan under its default name", other(VXLAN, false), "", true},
		{"wireguard after vxlan", wireguard, "wireguard", false},
	} {
		t.Run(step.name, func(t *testing.T) {
			for _, h := range c.hosts {
				syncOK(t, step.backend(h), c.state(h))
			}
			c.dialAll()
			kind := ""
			if c.hasLink(h1, c.dev[h1]) {
				kind = "wireguard"
				if strings.Contains(strings.Join(c.lines("ip", "-d", "-n", h1.ns, "link", "show", c.dev[h1]), " "), "vxlan id") {
					kind = "vxlan"
				}
			}
			if kind != step.kind {
				t.Errorf("h1: %s is %q, want %q", c.dev[h1], kind, step.kind)
			}
			if pids := c.userspacePIDs(h1); kind != "wireguard" && len(pids) > 0 {
				t.Errorf("h1: wireguard-go %v still running", pids)
			}
			if c.hasDevice(h1) != step.vxlan {
				t.Errorf("h1: %s there: %v, want %v", DefaultDevice, c.hasDevice(h1), step.vxlan)
			}
		})
	}
	c.wantWireGuard(t, h1, h2)
}

// A peer's endpoint is put back to its node IP unless the peer is
// connected from elsewhere (a node behind NAT, seen at its router's
// address): then it is left where WireGuard found it.
func TestWireGuardConfigEndpoint(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	priv, _ := wgtypes.GeneratePrivateKey()
	n := withKey(node("pi", "192.168.1.20", "10.42.2.0/24"), key1)
	k1, _ := wgtypes.ParseKey(key1)
	udp := func(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	for _, tc := range []struct {
		name      string
		endpoint  *net.UDPAddr
		handshake time.Duration // ago; 0 for never
		want      *net.UDPAddr  // the endpoint set; nil for none
	}{
		{"right", udp("192.168.1.20:51820"), 0, nil},
		{"right, as IPv4-mapped IPv6", udp("[::ffff:192.168.1.20]:51820"), 0, nil},
		{"none", nil, 0, udp("192.168.1.20:51820")},
		{"roamed, connected", udp("203.0.113.7:40123"), time.Minute, nil},
		{"roamed, connection gone", udp("203.0.113.7:40123"), 4 * time.Minute, udp("192.168.1.20:51820")},
		{"other, never connected", udp("192.168.1.99:51820"), 0, udp("192.168.1.20:51820")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := wgtypes.Peer{PublicKey: k1, Endpoint: tc.endpoint, PersistentKeepaliveInterval: persistentKeepalive,
				AllowedIPs: []net.IPNet{*prefixNet(n.PodCIDR)}}
			if tc.handshake != 0 {
				p.LastHandshakeTime = now.Add(-tc.handshake)
			}
			dev := &wgtypes.Device{PrivateKey: priv, ListenPort: DefaultWireGuardPort, Peers: []wgtypes.Peer{p}}
			cfg, changes := wireguardConfig(dev, priv, DefaultWireGuardPort, []Node{n}, now)
			if tc.want == nil {
				if changes != 0 {
					t.Errorf("got %d changes (%+v), want none", changes, cfg.Peers)
				}
				return
			}
			if changes != 1 || len(cfg.Peers) != 1 || cfg.Peers[0].Endpoint.String() != tc.want.String() || !cfg.Peers[0].UpdateOnly {
				t.Errorf("got %d changes %+v, want the peer's endpoint set to %s", changes, cfg.Peers, tc.want)
			}
		})
	}
}

// With userspace WireGuard the device name is the machine's, not the
// namespace's: a second namespace asking for a name another already runs
// is told so, and the first's device is left alone.
func TestWireGuardDeviceNameClash(t *testing.T) {
	c := newWGCluster(t, 2, true)
	if kernelHasWireGuard(t) {
		t.Skip("kernel WireGuard devices are per namespace; only wireguard-go's sockets clash")
	}
	h1, h2 := c.hosts[0], c.hosts[1]
	syncOK(t, c.ovl[h1], c.state(h1))
	c.dev[h2] = c.dev[h1]
	_, err := c.overlay(h2, Config{}).Sync(c.state(h2))
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "unique on this machine") {
		t.Errorf("Sync of a second namespace under the same device name: got error %v, want ErrConflict saying to pick a unique name", err)
	}
	if c.hasLink(h2, c.dev[h1]) {
		t.Errorf("h2 has a %s", c.dev[h1])
	}
	if err := c.overlay(h2, Config{}).Cleanup(); err != nil {
		t.Errorf("Cleanup of h2: %v", err)
	}
	if !c.hasLink(h1, c.dev[h1]) || len(c.userspacePIDs(h1)) != 1 {
		t.Errorf("h1's device or wireguard-go went with h2's Sync or Cleanup")
	}
	wantChanges(t, syncOK(t, c.ovl[h1], c.state(h1)), 0, 1)
}

// On a kernel without WireGuard and without the userspace binary, Sync
// says what to install, and writes nothing.
func TestWireGuardUnavailable(t *testing.T) {
	c := newWGCluster(t, 2, true)
	if kernelHasWireGuard(t) {
		t.Skip("the kernel has WireGuard; wireguard-go is not needed")
	}
	h1 := c.hosts[0]
	res, err := c.overlay(h1, Config{WireGuardUserspace: "/nonexistent/wireguard-go"}).Sync(c.state(h1))
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "wireguard module") || !strings.Contains(err.Error(), "install wireguard-go") {
		t.Errorf("Sync without WireGuard: got error %v, want ErrUnavailable saying to load the wireguard module or install wireguard-go", err)
	}
	t.Logf("the error reads:\n%v", err)
	wantChanges(t, res, 0, 0)
	wantLines(t, "h1 routes", c.routes(h1), nil)
	if c.hasLink(h1, c.dev[h1]) {
		t.Errorf("h1 has a %s", c.dev[h1])
	}
}

// A key file that holds no key stops an agent's first Sync before
// anything is written. (A running Overlay keeps the key it started with:
// TestWireGuardKeyKeptWhileRunning.)
func TestWireGuardBadKeyFile(t *testing.T) {
	c := newWGCluster(t, 2, true)
	h1 := c.hosts[0]
	if err := os.WriteFile(c.keys[h1], []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := c.overlay(h1, Config{}).Sync(c.state(h1))
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), c.keys[h1]) {
		t.Errorf("Sync with a bad key file: got error %v, want ErrInvalid naming the file", err)
	}
	wantChanges(t, res, 0, 0)
	if c.hasLink(h1, c.dev[h1]) {
		t.Errorf("h1 has a %s", c.dev[h1])
	}
}

// The device's MTU follows Config.MTU, else the underlay's less 80.
func TestWireGuardMTU(t *testing.T) {
	c := newWGCluster(t, 2, true)
	h1, h2 := c.hosts[0], c.hosts[1]
	c.ip("-n", h1.ns, "link", "set", "eth0", "mtu", "9000")
	syncOK(t, c.ovl[h1], c.state(h1))
	syncOK(t, c.overlay(h2, Config{MTU: 1400}), c.state(h2))
	for h, want := range map[*host]string{h1: "mtu 8920", h2: "mtu 1400"} {
		if dev := strings.Join(c.lines("ip", "-n", h.ns, "link", "show", c.dev[h]), " "); !strings.Contains(dev, want) {
			t.Errorf("%s: %s: want %s", h.name, dev, want)
		}
	}
	c.dialAll()
}
