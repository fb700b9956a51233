package overlay

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// vxlanEntries returns what h's VXLAN backend should hold for the given
// remote hosts: routes, neighbour entries and FDB entries as ip and
// bridge print them.
func vxlanEntries(remotes ...*host) (routes, neigh, fdb []string) {
	for _, r := range remotes {
		mac := MACFor(r.ip)
		routes = append(routes, fmt.Sprintf("%s via %s dev %s onlink", r.cidr, r.cidr.Addr(), DefaultDevice))
		neigh = append(neigh, fmt.Sprintf("%s lladdr %s PERMANENT", r.cidr.Addr(), mac))
		fdb = append(fdb, fmt.Sprintf("%s dst %s self permanent", mac, r.ip))
	}
	return routes, neigh, fdb
}

func (c *cluster) wantVXLAN(t *testing.T, h *host, remotes ...*host) {
	t.Helper()
	routes, neigh, fdb := vxlanEntries(remotes...)
	wantLines(t, h.name+" routes", c.routes(h), routes)
	wantLines(t, h.name+" neighbours", c.neighbours(h), neigh)
	wantLines(t, h.name+" fdb", c.fdb(h), fdb)
}

func TestVXLAN(t *testing.T) {
	c := newCluster(t, 3, true)
	h1, h2, h3 := c.hosts[0], c.hosts[1], c.hosts[2]
	ovl := map[*host]*Overlay{}
	for _, h := range c.hosts {
		ovl[h] = c.overlay(h, VXLAN)
		// device, address, up, then 2 × (fdb, neighbour, route)
		wantChanges(t, syncOK(t, ovl[h], c.state(h)), 9, 2)
	}
	c.dialAll()
	c.wantVXLAN(t, h1, h2, h3)
	dev := strings.Join(c.lines("ip", "-d", "-n", h1.ns, "link", "show", DefaultDevice), " ")
	for _, want := range []string{"mtu 1450", "link/ether " + MACFor(h1.ip).String(), "vxlan id 1 local 10.251.1.2 dev eth0", "dstport 8472", "nolearning", "state UNKNOWN"} {
		if !strings.Contains(dev, want) {
			t.Errorf("ip -d link show %s: no %q in %s", DefaultDevice, want, dev)
		}
	}
	addr := strings.Fields(strings.Join(c.lines("ip", "-n", h1.ns, "-br", "-4", "addr", "show", "dev", DefaultDevice), " "))
	if want := []string{DefaultDevice, "UNKNOWN", "10.42.1.0/32"}; !slices.Equal(addr, want) {
		t.Errorf("h1 %s addresses: got %q, want %q", DefaultDevice, addr, want)
	}

	t.Run("unchanged", func(t *testing.T) {
		for _, h := range c.hosts {
			wantChanges(t, syncOK(t, ovl[h], c.state(h)), 0, 2)
		}
	})

	t.Run("node leaves and returns", func(t *testing.T) {
		wantChanges(t, syncOK(t, ovl[h1], c.state(h1, "h3")), 3, 1)
		c.wantVXLAN(t, h1, h2)
		if c.reaches(h1, h3) {
			t.Error("pod h1 reached pod h3 after h3 left")
		}
		wantChanges(t, syncOK(t, ovl[h1], c.state(h1)), 3, 2)
		c.wantVXLAN(t, h1, h2, h3)
		if err := c.dial(h1, h3); err != nil {
			t.Error(err)
		}
	})

	t.Run("hand-deleted entries restored", func(t *testing.T) {
		mac := MACFor(h2.ip).String()
		c.ip("-n", h1.ns, "route", "del", "10.42.2.0/24")
		c.ip("-n", h1.ns, "neigh", "del", "10.42.2.0", "dev", DefaultDevice)
		c.run("bridge", "-n", h1.ns, "fdb", "del", mac, "dev", DefaultDevice, "dst", h2.ip.String())
		wantChanges(t, syncOK(t, ovl[h1], c.state(h1)), 3, 2)
		c.wantVXLAN(t, h1, h2, h3)
		if err := c.dial(h1, h2); err != nil {
			t.Error(err)
		}
	})

	t.Run("stray and wrong entries replaced", func(t *testing.T) {
		c.run("bridge", "-n", h1.ns, "fdb", "replace", MACFor(h2.ip).String(), "dev", DefaultDevice, "dst", h3.ip.String(), "self", "permanent")
		c.run("bridge", "-n", h1.ns, "fdb", "append", "02:5a:00:00:00:01", "dev", DefaultDevice, "dst", "10.251.9.9", "self", "permanent")
		c.ip("-n", h1.ns, "neigh", "replace", "10.42.3.0", "lladdr", "02:5a:00:00:00:02", "dev", DefaultDevice, "nud", "permanent")
		c.ip("-n", h1.ns, "link", "set", DefaultDevice, "mtu", "1400")
		// mtu; fdb: wrong one out and in, stray out; neighbour out and in
		wantChanges(t, syncOK(t, ovl[h1], c.state(h1)), 6, 2)
		c.wantVXLAN(t, h1, h2, h3)
		c.dialAll()
	})

	t.Run("device deleted by hand recreated", func(t *testing.T) {
		c.ip("-n", h2.ns, "link", "del", DefaultDevice)
		wantChanges(t, syncOK(t, ovl[h2], c.state(h2)), 9, 2)
		c.wantVXLAN(t, h2, h1, h3)
		c.dialAll()
	})

	t.Run("node without a MAC reported, others programmed", func(t *testing.T) {
		st := c.state(h1)
		st.Remotes[1].VTEPMAC = nil // h3
		res, err := ovl[h1].Sync(st)
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), `"h3"`) || !strings.Contains(err.Error(), VXLANMACAnnotation) {
			t.Errorf("Sync with a node without MAC: got error %v, want ErrInvalid naming h3 and %s", err, VXLANMACAnnotation)
		}
		wantChanges(t, res, 3, 1)
		c.wantVXLAN(t, h1, h2)
		if err := c.dial(h1, h2); err != nil {
			t.Error(err)
		}
		syncOK(t, ovl[h1], c.state(h1))
	})

	t.Run("cleanup", func(t *testing.T) {
		for _, h := range c.hosts {
			if err := ovl[h].Cleanup(); err != nil {
				t.Fatal(err)
			}
			if c.hasDevice(h) {
				t.Errorf("%s: %s still there after Cleanup", h.name, DefaultDevice)
			}
			wantLines(t, h.name+" routes after Cleanup", c.routes(h), nil)
		}
		if c.reaches(h1, h2) {
			t.Error("pod h1 reached pod h2 after Cleanup")
		}
		if err := ovl[h1].Cleanup(); err != nil {
			t.Errorf("second Cleanup: %v", err)
		}
	})
}

// A node switched from vxlan to host-gw loses its VXLAN device on the
// first host-gw Sync, and the vxlan routes with it.
func TestSwitchVXLANToHostGW(t *testing.T) {
	c := newCluster(t, 2, false)
	h1 := c.hosts[0]
	for _, h := range c.hosts {
		syncOK(t, c.overlay(h, VXLAN), c.state(h))
	}
	c.dialAll()
	res := syncOK(t, c.overlay(h1, HostGW), c.state(h1))
	wantChanges(t, res, 2, 1) // device gone (its route with it), host-gw route added
	if c.hasDevice(h1) {
		t.Errorf("%s still there after a host-gw Sync", DefaultDevice)
	}
	wantLines(t, "h1 routes", c.routes(h1), []string{"10.42.2.0/24 via 10.251.0.2 dev eth0"})
}

// A device of another kind under skiff's device name is not skiff's:
// Sync and Cleanup report it and leave it alone.
func TestVXLANForeignDevice(t *testing.T) {
	c := newCluster(t, 2, true)
	h1 := c.hosts[0]
	c.ip("-n", h1.ns, "link", "add", DefaultDevice, "type", "bridge")
	o := c.overlay(h1, VXLAN)
	if _, err := o.Sync(c.state(h1)); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "bridge") {
		t.Errorf("Sync with a bridge named %s: got error %v, want ErrConflict naming the bridge", DefaultDevice, err)
	}
	if err := o.Cleanup(); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Cleanup with a bridge named %s: got error %v, want ErrConflict", DefaultDevice, err)
	}
	if !c.hasDevice(h1) {
		t.Errorf("the bridge %s was deleted", DefaultDevice)
	}
	wantLines(t, "h1 routes", c.routes(h1), nil)
}

// The device's MTU follows Config.MTU, else the underlay's less 50.
func TestVXLANMTU(t *testing.T) {
	c := newCluster(t, 2, true)
	h1, h2 := c.hosts[0], c.hosts[1]
	c.ip("-n", h1.ns, "link", "set", "eth0", "mtu", "9000")
	syncOK(t, c.overlay(h1, VXLAN), c.state(h1))
	o, err := New(Config{Backend: VXLAN, NetNS: int(h2.fd.Fd()), MTU: 1400})
	if err != nil {
		t.Fatal(err)
	}
	syncOK(t, o, c.state(h2))
	for h, want := range map[*host]string{h1: "mtu 8950", h2: "mtu 1400"} {
		if dev := strings.Join(c.lines("ip", "-n", h.ns, "link", "show", DefaultDevice), " "); !strings.Contains(dev, want) {
			t.Errorf("%s: %s: want %s", h.name, dev, want)
		}
	}
	c.dialAll()
}
