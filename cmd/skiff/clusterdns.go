package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/netstack/dns"
	"github.com/skiffhq/skiff/server/client"
)

// dnsLink is the dummy interface that holds the cluster DNS address on
// every node: pods reach it through their default route to the node,
// and each node answers its own pods. A kernel without dummy interfaces
// gets the address on the loopback interface instead (Linux delivers to
// any local address, whatever interface holds it).
const dnsLink = "skiff-dns"

// runClusterDNS serves cluster DNS on addr:53 until ctx ends, from the
// set's informers of services and endpoints; names outside the zone go
// to the upstreams of resolvConf.
func runClusterDNS(ctx context.Context, addr, zone, resolvConf string, inf *client.Informers, log *slog.Logger) error {
	if err := ensureDNSAddress(addr); err != nil {
		return err
	}
	srv, err := dns.New(dns.Config{
		Addr:    net.JoinHostPort(addr, "53"),
		Zone:    zone,
		Source:  dns.NewInformerSource(inf),
		Forward: dns.ForwardConfig{ResolvConf: resolvConf},
		Log:     log,
	})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// ensureDNSAddress puts addr/32 on the dummy interface dnsLink, making
// the interface if it is missing. It changes nothing when both are there.
func ensureDNSAddress(addr string) error {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("cluster DNS address %q is not an IPv4 address", addr)
	}
	name := dnsLink
	link, err := netlink.LinkByName(name)
	if _, missing := err.(netlink.LinkNotFoundError); missing {
		if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
			if !errors.Is(err, unix.EOPNOTSUPP) {
				return fmt.Errorf("cluster DNS: make interface %s: %w", name, err)
			}
			name = "lo" // no dummy interfaces in this kernel
		}
		link, err = netlink.LinkByName(name)
	}
	if err != nil {
		return fmt.Errorf("cluster DNS: interface %s: %w", name, err)
	}
	want := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("cluster DNS: addresses of %s: %w", dnsLink, err)
	}
	has := false
	for _, a := range addrs {
		has = has || a.IP.Equal(want.IP)
	}
	if !has {
		if err := netlink.AddrAdd(link, want); err != nil {
			return fmt.Errorf("cluster DNS: put %s on %s: %w", addr, name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("cluster DNS: bring %s up: %w", name, err)
	}
	return nil
}
