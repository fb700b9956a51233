package nodeipam

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

func TestAssignsDistinctSubnets(t *testing.T) {
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := client.For[*api.Node](reg, "")
	// One node already holds the first subnet, as after a restart.
	if _, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "old"}, Spec: api.NodeSpec{PodCIDR: "10.42.0.0/24"}}); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Backend: reg, ClusterCIDR: "10.42.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	for len(got) < 4 && ctx.Err() == nil {
		list, _, _, err := nodes.List(ctx, api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]string{}
		for _, n := range list {
			if n.Spec.PodCIDR != "" {
				got[n.Name] = n.Spec.PodCIDR
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := map[string]string{}
	for name, cidr := range got {
		p, err := netip.ParsePrefix(cidr)
		if err != nil || p.Bits() != 24 || !netip.MustParsePrefix("10.42.0.0/16").Contains(p.Addr()) {
			t.Errorf("node %s: podCIDR %q, want a /24 of 10.42.0.0/16", name, cidr)
		}
		if other, dup := seen[cidr]; dup {
			t.Errorf("nodes %s and %s share %s", name, other, cidr)
		}
		seen[cidr] = name
	}
	if got["old"] != "10.42.0.0/24" {
		t.Errorf("old node's subnet changed to %q", got["old"])
	}
	if len(got) != 4 {
		t.Errorf("assigned %v, want 4 nodes", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cidr := range []string{"", "10.42.0.0", "10.42.0.0/25"} {
		if _, err := New(Config{Backend: &registry.Registry{}, ClusterCIDR: cidr}); err == nil {
			t.Errorf("cluster CIDR %q accepted", cidr)
		}
	}
}

func TestExhausted(t *testing.T) {
	c := &Controller{cfg: Config{NodeMaskSize: 24}, cluster: netip.MustParsePrefix("10.0.0.0/23")}
	used := map[netip.Prefix]bool{netip.MustParsePrefix("10.0.0.0/24"): true, netip.MustParsePrefix("10.0.1.0/24"): true}
	if _, err := c.free(used); err == nil {
		t.Error("a full cluster CIDR gave a subnet")
	}
	delete(used, netip.MustParsePrefix("10.0.1.0/24"))
	if p, err := c.free(used); err != nil || p.String() != "10.0.1.0/24" {
		t.Errorf("free = %v, %v; want 10.0.1.0/24", p, err)
	}
}
