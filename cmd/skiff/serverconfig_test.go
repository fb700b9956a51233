package main

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/registry"
)

// TestServerConfigValidate: each bad setting is named, with what it
// should be; the defaults pass.
func TestServerConfigValidate(t *testing.T) {
	if err := defaultServerConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tt := range []struct {
		edit func(*ServerConfig)
		want string
	}{
		{func(c *ServerConfig) { c.Overlay = "flannel" }, `overlay: "flannel": want host-gw, vxlan or wireguard`},
		{func(c *ServerConfig) { c.Overlay = "" }, `overlay: "": want host-gw, vxlan or wireguard`},
		{func(c *ServerConfig) { c.ClusterCIDR = "10.42.0.0" }, `clusterCIDR: "10.42.0.0" is not a CIDR`},
		{func(c *ServerConfig) { c.ServiceCIDR = "10.43.0.0/8" }, `serviceCIDR/serviceNodePortRange:`},
		{func(c *ServerConfig) { c.NodeNotReadySeconds = 5 }, `nodeNotReadySeconds: 5 must be at least 10`},
		{func(c *ServerConfig) { c.Node.ClusterDNS = "10.44.0.10" }, `node.clusterDNS: "10.44.0.10" must be an IPv4 address in the service range 10.43.0.0/16`},
		{func(c *ServerConfig) { c.Node.ClusterDNS = "fd00::a" }, `node.clusterDNS: "fd00::a" must be an IPv4 address`},
	} {
		c := defaultServerConfig()
		tt.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want an error containing %q", err, tt.want)
		}
	}
	for _, o := range []string{"host-gw", "vxlan", "wireguard"} {
		c := defaultServerConfig()
		c.Overlay = o
		if err := c.Validate(); err != nil {
			t.Errorf("overlay %s: %v", o, err)
		}
	}
}

// TestServerClusterDNS: what the server tells the nodes: its node's
// address, or the range's tenth when its node serves none.
func TestServerClusterDNS(t *testing.T) {
	c := defaultServerConfig()
	c.ServiceCIDR = "10.96.0.0/12"
	for node, want := range map[string]string{"": "10.96.0.10", "none": "10.96.0.10", "10.96.0.53": "10.96.0.53"} {
		c.Node.ClusterDNS = node
		if got := c.clusterDNS(); got != want {
			t.Errorf("node %q: told %q, want %q", node, got, want)
		}
	}
}

// TestClusterDNSAddress: the service range's tenth address, in any range.
func TestClusterDNSAddress(t *testing.T) {
	for cidr, want := range map[string]string{"10.43.0.0/16": "10.43.0.10", "10.96.0.0/12": "10.96.0.10", "192.168.50.0/24": "192.168.50.10"} {
		got, err := registry.ClusterDNSAddress(cidr)
		if err != nil || got.String() != want {
			t.Errorf("%s: %v, %v; want %s", cidr, got, err, want)
		}
	}
	if _, err := registry.ClusterDNSAddress("nonsense"); err == nil {
		t.Error("a bad range gave an address")
	}
}
