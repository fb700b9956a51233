package overlay

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func node(name, ip, cidr string) Node {
	n := Node{Name: name, PodCIDR: netip.MustParsePrefix(cidr)}
	if ip != "" {
		n.IP = netip.MustParseAddr(ip)
	}
	n.VTEPMAC = MACFor(n.IP)
	return n
}

func withKey(n Node, key string) Node { n.WireGuardKey = key; return n }

// Two public keys, as `wg pubkey` prints them.
const (
	key1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
	key2 = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
)

func TestStateRemotes(t *testing.T) {
	local := node("a", "192.168.1.1", "10.42.0.0/24")
	noMAC := node("nomac", "192.168.1.9", "10.42.9.0/24")
	noMAC.VTEPMAC = nil
	for _, tc := range []struct {
		name    string
		backend Backend
		remotes []Node
		wantOK  []string // names programmed
		wantErr string   // substring; "" for none
	}{
		{"all good", HostGW, []Node{node("b", "192.168.1.2", "10.42.1.0/24"), node("c", "192.168.1.3", "10.42.2.0/24")}, []string{"b", "c"}, ""},
		{"host bits of a pod CIDR are dropped", HostGW, []Node{node("b", "192.168.1.2", "10.42.1.7/24")}, []string{"b"}, ""},
		{"no name", HostGW, []Node{node("", "192.168.1.2", "10.42.1.0/24")}, nil, "Name is empty"},
		{"same name twice", HostGW, []Node{node("b", "192.168.1.2", "10.42.1.0/24"), node("b", "192.168.1.3", "10.42.2.0/24")}, []string{"b"}, "listed twice"},
		{"local name", HostGW, []Node{node("a", "192.168.1.2", "10.42.1.0/24")}, nil, "listed twice"},
		{"no IP", HostGW, []Node{node("b", "", "10.42.1.0/24")}, nil, "IPv4 address"},
		{"IPv6", HostGW, []Node{node("b", "fd00::2", "10.42.1.0/24")}, nil, "IPv4 address"},
		{"local IP", HostGW, []Node{node("b", "192.168.1.1", "10.42.1.0/24")}, nil, "also another node's"},
		{"same IP twice", HostGW, []Node{node("b", "192.168.1.2", "10.42.1.0/24"), node("c", "192.168.1.2", "10.42.2.0/24")}, []string{"b"}, "also another node's"},
		{"overlaps local pods", HostGW, []Node{node("b", "192.168.1.2", "10.42.0.0/16")}, nil, "overlaps this node's"},
		{"overlaps another node's pods", HostGW, []Node{node("b", "192.168.1.2", "10.42.1.0/24"), node("c", "192.168.1.3", "10.42.1.128/25")}, []string{"b"}, `overlaps that of node "b"`},
		{"no PodCIDR", HostGW, []Node{{Name: "b", IP: netip.MustParseAddr("192.168.1.2")}}, nil, "PodCIDR must be"},
		{"/31 PodCIDR", HostGW, []Node{node("b", "192.168.1.2", "10.42.1.0/31")}, nil, "PodCIDR must be"},
		{"no MAC is fine for host-gw", HostGW, []Node{noMAC}, []string{"nomac"}, ""},
		{"no MAC for vxlan", VXLAN, []Node{noMAC, node("b", "192.168.1.2", "10.42.1.0/24")}, []string{"b"}, VXLANMACAnnotation},
		{"keys for wireguard", WireGuard, []Node{withKey(node("b", "192.168.1.2", "10.42.1.0/24"), key1), withKey(node("c", "192.168.1.3", "10.42.2.0/24"), key2)}, []string{"b", "c"}, ""},
		{"key with a newline for wireguard", WireGuard, []Node{withKey(node("b", "192.168.1.2", "10.42.1.0/24"), key1+"\n"), withKey(node("c", "192.168.1.3", "10.42.2.0/24"), key1)}, []string{"b"}, `also node "b"'s`},
		{"no key for wireguard", WireGuard, []Node{node("b", "192.168.1.2", "10.42.1.0/24"), withKey(node("c", "192.168.1.3", "10.42.2.0/24"), key2)}, []string{"c"}, WireGuardKeyAnnotation},
		{"bad key for wireguard", WireGuard, []Node{withKey(node("b", "192.168.1.2", "10.42.1.0/24"), "not-a-key")}, nil, `"not-a-key" is not a WireGuard public key`},
		{"zero key for wireguard", WireGuard, []Node{withKey(node("b", "192.168.1.2", "10.42.1.0/24"), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")}, nil, "is not a WireGuard public key"},
		{"shared key for wireguard", WireGuard, []Node{withKey(node("b", "192.168.1.2", "10.42.1.0/24"), key1), withKey(node("c", "192.168.1.3", "10.42.2.0/24"), key1)}, []string{"b"}, `also node "b"'s`},
		{"no key is fine for vxlan", VXLAN, []Node{node("b", "192.168.1.2", "10.42.1.0/24")}, []string{"b"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := State{Local: local, Remotes: tc.remotes}.remotes(tc.backend)
			var got []string
			for _, n := range ok {
				got = append(got, n.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.wantOK, ",") {
				t.Errorf("programmed: got %q, want %q", got, tc.wantOK)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errdefs.ErrInvalid)):
				t.Errorf("got error %v, want ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSyncBadLocal(t *testing.T) {
	o, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, local := range []Node{
		{Name: "a", PodCIDR: netip.MustParsePrefix("10.42.0.0/24")},
		{Name: "a", IP: netip.MustParseAddr("192.168.1.1")},
		{Name: "a", IP: netip.MustParseAddr("fd00::1"), PodCIDR: netip.MustParsePrefix("10.42.0.0/24")},
	} {
		if _, err := o.Sync(State{Local: local}); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Sync with local %v: got error %v, want ErrInvalid", local, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		wantErr string
	}{
		{Config{}, ""},
		{Config{Backend: VXLAN, MTU: 1400, VNI: 42, Port: 4789, Device: "ovl0"}, ""},
		{Config{Backend: WireGuard, WireGuardKeyFile: "/var/lib/skiff/agent/wireguard.key", WireGuardPort: 51821, Device: "wg0"}, ""},
		{Config{Backend: "wireguard-go"}, "Backend"},
		{Config{Backend: WireGuard}, "WireGuardKeyFile"},
		{Config{Backend: WireGuard, WireGuardKeyFile: "k", WireGuardPort: -1}, "WireGuardPort"},
		{Config{NetNS: -1}, "NetNS"},
		{Config{Device: "a-very-long-device-name"}, "Device"},
		{Config{VNI: 1 << 24}, "VNI"},
		{Config{Port: 70000}, "Port"},
		{Config{MTU: 500}, "MTU"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%+v: got error %v, want none", tc.cfg, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errdefs.ErrInvalid)):
			t.Errorf("%+v: got error %v, want ErrInvalid naming %s", tc.cfg, err, tc.wantErr)
		}
		if _, nerr := New(tc.cfg); (nerr == nil) != (err == nil) {
			t.Errorf("%+v: New and Validate disagree: %v, %v", tc.cfg, nerr, err)
		}
	}
}

func TestConfigDevice(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		backend Backend
		want    string
	}{
		{Config{}, HostGW, ""},
		{Config{}, VXLAN, DefaultDevice},
		{Config{}, WireGuard, DefaultWireGuardDevice},
		{Config{Device: "tun7"}, VXLAN, "tun7"},
		{Config{Device: "tun7"}, WireGuard, "tun7"},
		{Config{Device: "tun7"}, HostGW, ""},
	} {
		if got := tc.cfg.withDefaults().device(tc.backend); got != tc.want {
			t.Errorf("Device %q, backend %s: got device %q, want %q", tc.cfg.Device, tc.backend, got, tc.want)
		}
	}
}

func TestTunnelOverhead(t *testing.T) {
	for b, want := range map[Backend]int{HostGW: 0, VXLAN: 50, WireGuard: 80, "": 0} {
		if got := TunnelOverhead(b); got != want {
			t.Errorf("TunnelOverhead(%q): got %d, want %d", b, got, want)
		}
	}
}

func TestMACFor(t *testing.T) {
	got := MACFor(netip.MustParseAddr("192.168.1.20"))
	if want := (net.HardwareAddr{0x02, 0x5a, 192, 168, 1, 20}); got.String() != want.String() {
		t.Errorf("MACFor: got %s, want %s", got, want)
	}
	if got := MACFor(netip.MustParseAddr("fd00::1")); got != nil {
		t.Errorf("MACFor(fd00::1): got %s, want nil", got)
	}
	if got[0]&0x02 == 0 || got[0]&0x01 != 0 {
		t.Errorf("MACFor: %s is not a locally administered unicast address", got)
	}
	if got := LocalVTEPMAC(node("a", "192.168.1.20", "10.42.0.0/24")); got.String() != "02:5a:c0:a8:01:14" {
		t.Errorf("LocalVTEPMAC: got %s", got)
	}
}
