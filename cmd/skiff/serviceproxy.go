package main

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/skiffhq/skiff/netstack/proxy"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// proxyResync is how often the service rules are checked even when
// nothing changed, so rules someone deleted come back.
const proxyResync = 30 * time.Second

// proxySettle is how long a burst of service or endpoint changes is let
// run before one Sync programs them all.
const proxySettle = 50 * time.Millisecond

// runServiceProxy programs the node's service rules (netstack/proxy)
// from informers of services and endpoints until ctx ends: once per
// burst of changes and every proxyResync. The rules stay when it stops
// (a restarted agent's first Sync repairs them in place, and running
// connections keep their way); skip is the cluster DNS address, which
// the node serves itself.
func runServiceProxy(ctx context.Context, inf *client.Informers, nodeIP, skip string, log *slog.Logger) error {
	enableForwarding(log)
	p, err := proxy.New(proxy.Config{Log: log})
	if err != nil {
		return err
	}
	services := client.Shared[*api.Service](inf, "", api.ListOptions{})
	endpoints := client.Shared[*api.Endpoints](inf, "", api.ListOptions{})
	kick := make(chan struct{}, 1)
	client.KickOnChange(ctx, services, kick)
	client.KickOnChange(ctx, endpoints, kick)
	go services.Run(ctx)
	go endpoints.Run(ctx)
	if !services.WaitForSync(ctx) || !endpoints.WaitForSync(ctx) {
		return nil
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(nodeIP); err == nil && a.Is4() {
		addrs = append(addrs, a)
	}
	skipIP, _ := netip.ParseAddr(skip)
	tick := time.NewTicker(proxyResync)
	defer tick.Stop()
	for {
		st := proxyState(services.List(), endpoints, addrs, skipIP)
		if res, err := p.Sync(st); err != nil {
			log.Warn("service rules", "err", err)
		} else if res.Changes > 0 {
			log.Debug("service rules written", "changes", res.Changes, "rebuilt", res.Rebuilt)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			time.Sleep(proxySettle)
		case <-tick.C:
		}
	}
}

// proxyState is the proxy's input: every service with a cluster IP, and
// for each of its ports the ready addresses of its Endpoints with the
// port of the same name.
func proxyState(svcs []*api.Service, eps *client.Informer[*api.Endpoints], addrs []netip.Addr, skip netip.Addr) proxy.State {
	st := proxy.State{NodeAddresses: addrs}
	for _, s := range svcs {
		vip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil || vip == skip {
			continue // headless, or the cluster DNS address
		}
		ps := proxy.Service{Namespace: s.Namespace, Name: s.Name, ClusterIP: vip, Type: proxy.ServiceType(s.Spec.Type)}
		if s.Spec.SessionAffinity == api.ServiceAffinityClientIP {
			ps.AffinityTimeout = 3 * time.Hour // Kubernetes' default
			if c := s.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
				ps.AffinityTimeout = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
			}
		}
		e, _ := eps.Get(s.Namespace, s.Name)
		for _, sp := range s.Spec.Ports {
			port := proxy.Port{Name: sp.Name, Protocol: proxy.Protocol(sp.Protocol), Port: uint16(sp.Port), NodePort: uint16(sp.NodePort)}
			if e != nil {
				for _, sub := range e.Subsets {
					for _, ep := range sub.Ports {
						if ep.Name != sp.Name || ep.Protocol != sp.Protocol {
							continue
						}
						for _, a := range sub.Addresses {
							if ip, err := netip.ParseAddr(a.IP); err == nil {
								port.Endpoints = append(port.Endpoints, netip.AddrPortFrom(ip, uint16(ep.Port)))
							}
						}
					}
				}
			}
			ps.Ports = append(ps.Ports, port)
		}
		st.Services = append(st.Services, ps)
	}
	return st
}

// enableForwarding turns on what service traffic needs: IPv4 forwarding,
// and bridged traffic through the IP hooks (a pod reaching a service
// whose endpoint is on its own bridge is DNATed on the way in, and the
// reply must come back through conntrack, not straight across the
// bridge). A missing br_netfilter is said once: same-node services then
// fail.
func enableForwarding(log *slog.Logger) {
	for _, f := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/bridge/bridge-nf-call-iptables"} {
		if err := os.WriteFile(f, []byte("1"), 0o644); err != nil {
			log.Warn("service traffic: cannot set "+f, "err", err)
		}
	}
}
