package hollow

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/skiffhq/skiff/netstack/cni"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestNetworkAddresses(t *testing.T) {
	ctx := context.Background()
	n := NewNetwork()
	if _, err := n.Setup(ctx, cni.PodNetwork{UID: "a"}); !errdefs.IsUnavailable(err) {
		t.Errorf("setup before a cidr: %v", err)
	}
	select {
	case <-n.CIDRSet():
		t.Fatal("cidr set before SetPodCIDR")
	default:
	}
	for _, bad := range []string{"10.42.0.1/24", "10.42.0.0", "10.42.0.0/31"} {
		if err := n.SetPodCIDR(bad); !errdefs.IsInvalid(err) {
			t.Errorf("SetPodCIDR(%q): %v", bad, err)
		}
	}
	if err := n.SetPodCIDR("10.42.7.0/29"); err != nil {
		t.Fatal(err)
	}
	<-n.CIDRSet()
	// /29: .0 network, .1 gateway, .7 broadcast: five pods.
	var got []string
	for i := range 5 {
		sb, err := n.Setup(ctx, cni.PodNetwork{UID: fmt.Sprint("p", i)})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, sb.IP.String())
		if sb.Gateway.String() != "10.42.7.1" || sb.CIDR.String() != "10.42.7.0/29" || sb.NetNSPath != "" {
			t.Errorf("sandbox %+v", sb)
		}
	}
	if want := "[10.42.7.2 10.42.7.3 10.42.7.4 10.42.7.5 10.42.7.6]"; fmt.Sprint(got) != want {
		t.Errorf("addresses %v, want %s", got, want)
	}
	if _, err := n.Setup(ctx, cni.PodNetwork{UID: "full"}); !errdefs.IsUnavailable(err) {
		t.Errorf("setup in a full subnet: %v", err)
	}
	again, _ := n.Setup(ctx, cni.PodNetwork{UID: "p2"})
	if again.IP.String() != "10.42.7.4" {
		t.Errorf("setup again gave %s, want the same 10.42.7.4", again.IP)
	}
	if err := n.Teardown(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	if err := n.Teardown(ctx, "p2"); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if _, ok := n.Get("p2"); ok {
		t.Error("a torn-down pod has a sandbox")
	}
	sb, err := n.Setup(ctx, cni.PodNetwork{UID: "new"})
	if err != nil || sb.IP.String() != "10.42.7.4" {
		t.Errorf("freed address not given again: %v %v", sb.IP, err)
	}
	removed, _ := n.CleanupOrphans(ctx, func(uid string) bool { return uid != "p0" && uid != "new" })
	if fmt.Sprint(removed) != "[sandbox new sandbox p0]" || fmt.Sprint(n.List()) != "[p1 p3 p4]" {
		t.Errorf("cleanup removed %v, left %v", removed, n.List())
	}
	if n.PodCIDR() != "10.42.7.0/29" {
		t.Errorf("PodCIDR %q", n.PodCIDR())
	}
}

func TestNetworkIPv6(t *testing.T) {
	n := NewNetwork()
	if err := n.SetPodCIDR("fd00:42::/64"); err != nil {
		t.Fatal(err)
	}
	sb, err := n.Setup(context.Background(), cni.PodNetwork{UID: "a"})
	if err != nil || !netip.MustParsePrefix("fd00:42::/64").Contains(netip.MustParseAddr(sb.IP.String())) || sb.IP.String() != "fd00:42::2" {
		t.Errorf("v6 sandbox %+v, %v", sb, err)
	}
}
