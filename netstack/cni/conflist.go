package cni

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/libcni"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// podSubnet is the node's pod subnet: the gateway (first address) sits on
// the bridge, pods get the addresses after it.
type podSubnet struct {
	prefix  netip.Prefix
	gateway netip.Addr
	first   netip.Addr // first pod address
}

// parsePodCIDR parses the node's pod subnet, e.g. "10.42.3.0/24". It must
// be the network address itself and leave room for a gateway and a pod.
func parsePodCIDR(cidr string) (podSubnet, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return podSubnet{}, fmt.Errorf("pod cidr %q: not a CIDR such as 10.42.3.0/24: %w", cidr, errdefs.ErrInvalid)
	}
	if p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return podSubnet{}, fmt.Errorf("pod cidr %q: must be plain IPv4 or IPv6: %w", cidr, errdefs.ErrInvalid)
	}
	if m := p.Masked(); m != p {
		return podSubnet{}, fmt.Errorf("pod cidr %q: host bits set, use %s: %w", cidr, m, errdefs.ErrInvalid)
	}
	maxBits := 30 // network, gateway, one pod, broadcast
	if p.Addr().Is6() {
		maxBits = 126
	}
	if p.Bits() > maxBits {
		return podSubnet{}, fmt.Errorf("pod cidr %q: too small, the prefix must be /%d or shorter: %w", cidr, maxBits, errdefs.ErrInvalid)
	}
	gw := p.Addr().Next()
	return podSubnet{prefix: p, gateway: gw, first: gw.Next()}, nil
}

// ipNet returns the subnet as a *net.IPNet.
func (s podSubnet) ipNet() *net.IPNet {
	bits := 32
	if s.prefix.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(s.prefix.Addr().AsSlice()), Mask: net.CIDRMask(s.prefix.Bits(), bits)}
}

// defaultRoute is the destination of the pods' default route.
func (s podSubnet) defaultRoute() string {
	if s.prefix.Addr().Is6() {
		return "::/0"
	}
	return "0.0.0.0/0"
}

// The conflist, as JSON. Field order here is the order in the file.
type (
	confList struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []any  `json:"plugins"`
	}
	bridgeConf struct {
		Type        string   `json:"type"`
		Bridge      string   `json:"bridge"`
		IsGateway   bool     `json:"isGateway"`
		IPMasq      bool     `json:"ipMasq"`
		HairpinMode bool     `json:"hairpinMode"`
		MTU         int      `json:"mtu,omitempty"`
		IPAM        ipamConf `json:"ipam"`
	}
	ipamConf struct {
		Type    string          `json:"type"`
		DataDir string          `json:"dataDir"`
		Ranges  [][]ipamRange   `json:"ranges"`
		Routes  []ipamRouteConf `json:"routes"`
	}
	ipamRange struct {
		Subnet     string `json:"subnet"`
		RangeStart string `json:"rangeStart"`
		Gateway    string `json:"gateway"`
	}
	ipamRouteConf struct {
		Dst string `json:"dst"`
	}
	portmapConf struct {
		Type         string          `json:"type"`
		Capabilities map[string]bool `json:"capabilities"`
		SNAT         bool            `json:"snat"`
	}
)

// renderConfList renders the node's conflist: the bridge plugin with
// host-local IPAM for the pod subnet, then portmap for hostPorts. The
// bridge does not masquerade (ipMasq false): the Manager keeps one
// nftables rule for the whole subnet instead (masquerade.go).
func renderConfList(c Config, s podSubnet) ([]byte, error) {
	list := confList{
		CNIVersion: CNIVersion,
		Name:       NetworkName,
		Plugins: []any{
			bridgeConf{
				Type:        "bridge",
				Bridge:      c.Bridge,
				IsGateway:   true,
				IPMasq:      false,
				HairpinMode: true,
				MTU:         c.MTU,
				IPAM: ipamConf{
					Type:    "host-local",
					DataDir: c.ipamDir(),
					Ranges: [][]ipamRange{{{
						Subnet:     s.prefix.String(),
						RangeStart: s.first.String(),
						Gateway:    s.gateway.String(),
					}}},
					Routes: []ipamRouteConf{{Dst: s.defaultRoute()}},
				},
			},
			portmapConf{
				Type:         "portmap",
				Capabilities: map[string]bool{"portMappings": true},
				SNAT:         true,
			},
		},
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render conflist for %s: %w", s.prefix, err)
	}
	return append(b, '\n'), nil
}

// bridgeMasquerades reports whether list's bridge plugin has ipMasq on:
// true only in conflists cached by earlier versions, whose pods each have
// an iptables masquerade chain.
func bridgeMasquerades(list *libcni.NetworkConfigList) bool {
	for _, p := range list.Plugins {
		var c struct {
			Type   string `json:"type"`
			IPMasq bool   `json:"ipMasq"`
		}
		if json.Unmarshal(p.Bytes, &c) == nil && c.Type == "bridge" && c.IPMasq {
			return true
		}
	}
	return false
}
