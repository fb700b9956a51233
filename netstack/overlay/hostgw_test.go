package overlay

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func syncOK(t *testing.T, o *Overlay, st State) Result {
	t.Helper()
	res, err := o.Sync(st)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

func wantChanges(t *testing.T, res Result, changes, routes int) {
	t.Helper()
	if res.Changes != changes || res.Routes != routes {
		t.Errorf("Sync: got %d changes and %d routes, want %d and %d", res.Changes, res.Routes, changes, routes)
	}
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func TestHostGW(t *testing.T) {
	c := newCluster(t, 3, false)
	h1, h2, h3 := c.hosts[0], c.hosts[1], c.hosts[2]
	if c.reaches(h1, h2) {
		t.Fatal("pod h1 reached pod h2 before any Sync; the test network is wrong")
	}
	ovl := map[*host]*Overlay{}
	for _, h := range c.hosts {
		ovl[h] = c.overlay(h, HostGW)
		wantChanges(t, syncOK(t, ovl[h], c.state(h)), 2, 2)
	}
	c.dialAll()
	allRoutes := []string{
		"10.42.2.0/24 via 10.251.0.2 dev eth0",
		"10.42.3.0/24 via 10.251.0.3 dev eth0",
	}
	wantLines(t, "h1 routes", c.routes(h1), allRoutes)

	t.Run("unchanged", func(t *testing.T) {
		for _, h := range c.hosts {
			wantChanges(t, syncOK(t, ovl[h], c.state(h)), 0, 2)
		}
	})

	t.Run("node leaves and returns", func(t *testing.T) {
		wantChanges(t, syncOK(t, ovl[h1], c.state(h1, "h3")), 1, 1)
		wantLines(t, "h1 routes without h3", c.routes(h1), allRoutes[:1])
		if c.reaches(h1, h3) {
			t.Error("pod h1 reached pod h3 after h3 left")
		}
		wantChanges(t, syncOK(t, ovl[h1], c.state(h1)), 1, 2)
		wantLines(t, "h1 routes with h3 back", c.routes(h1), allRoutes)
		if err := c.dial(h1, h3); err != nil {
			t.Error(err)
		}
	})

	t.Run("hand-deleted route restored", func(t *testing.T) {
		c.ip("-n", h1.ns, "route", "del", "10.42.2.0/24")
		wantChanges(t, syncOK(t, ovl[h1], c.state(h1)), 1, 2)
		wantLines(t, "h1 routes", c.routes(h1), allRoutes)
		if err := c.dial(h1, h2); err != nil {
			t.Error(err)
		}
	})

	t.Run("changed route put right", func(t *testing.T) {
		c.ip("-n", h1.ns, "route", "replace", "10.42.2.0/24", "via", "10.251.0.3", "proto", "0x5a")
		c.ip("-n", h1.ns, "route", "add", "10.42.77.0/24", "via", "10.251.0.3", "proto", "0x5a")
		wantChanges(t, syncOK(t, ovl[h1], c.state(h1)), 3, 2) // delete the wrong route and the stray one, add the right one
		wantLines(t, "h1 routes", c.routes(h1), allRoutes)
	})

	// A route of another protocol is not skiff's; neither Sync nor
	// Cleanup touches it.
	c.ip("-n", h1.ns, "route", "add", "10.99.0.0/24", "via", "10.251.0.2", "proto", "static")

	t.Run("node off the segment reported, others programmed", func(t *testing.T) {
		st := c.state(h1)
		st.Remotes = append(st.Remotes, Node{Name: "far", IP: netip.MustParseAddr("192.0.2.9"), PodCIDR: netip.MustParsePrefix("10.42.9.0/24")})
		res, err := ovl[h1].Sync(st)
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), `"far"`) || !strings.Contains(err.Error(), "use vxlan") {
			t.Errorf("Sync with a node off the segment: got error %v, want ErrInvalid naming node \"far\" and saying use vxlan", err)
		}
		if strings.Contains(err.Error(), `"h2"`) || strings.Contains(err.Error(), `"h3"`) {
			t.Errorf("Sync error names reachable nodes: %v", err)
		}
		wantChanges(t, res, 0, 2)
		wantLines(t, "h1 routes", c.routes(h1), allRoutes)
		c.dialAll()
	})

	t.Run("cleanup", func(t *testing.T) {
		for _, h := range c.hosts {
			if err := ovl[h].Cleanup(); err != nil {
				t.Fatal(err)
			}
			wantLines(t, h.name+" routes after Cleanup", c.routes(h), nil)
		}
		got := c.lines("ip", "-n", h1.ns, "route", "show", "10.99.0.0/24")
		wantLines(t, "foreign route after Cleanup", got, []string{"10.99.0.0/24 via 10.251.0.2 dev eth0 proto static"})
		if c.reaches(h1, h2) {
			t.Error("pod h1 reached pod h2 after Cleanup")
		}
		if err := ovl[h1].Cleanup(); err != nil {
			t.Errorf("second Cleanup: %v", err)
		}
	})
}

func TestHostGWNeedsOneSegment(t *testing.T) {
	c := newCluster(t, 3, true)
	h1 := c.hosts[0]
	res, err := c.overlay(h1, HostGW).Sync(c.state(h1))
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("host-gw Sync across a router: got error %v, want ErrInvalid", err)
	}
	for _, name := range []string{`"h2"`, `"h3"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name node %s: %v", name, err)
		}
	}
	if !strings.Contains(err.Error(), "use vxlan") {
		t.Errorf("error does not say use vxlan: %v", err)
	}
	t.Logf("the error reads:\n%v", err)
	wantChanges(t, res, 0, 0)
	wantLines(t, "h1 routes", c.routes(h1), nil)
}

// Syncs and Cleanups from several goroutines run one at a time and end
// where the last one leaves the kernel.
func TestConcurrentSyncs(t *testing.T) {
	c := newCluster(t, 3, false)
	h1 := c.hosts[0]
	o := c.overlay(h1, HostGW)
	done := make(chan error)
	for i := range 8 {
		go func() {
			st := c.state(h1)
			if i%2 == 1 {
				st = c.state(h1, "h3")
			}
			_, err := o.Sync(st)
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	syncOK(t, o, c.state(h1))
	wantLines(t, "h1 routes", c.routes(h1), []string{
		"10.42.2.0/24 via 10.251.0.2 dev eth0",
		"10.42.3.0/24 via 10.251.0.3 dev eth0",
	})
	for _, h := range c.hosts[1:] {
		syncOK(t, c.overlay(h, HostGW), c.state(h))
	}
	c.dialAll()
}
