package dns

import (
	"net"
	"strings"

	"github.com/skiffhq/skiff/server/api"
)

// rrset is what one name answers. It is built once per change and never
// modified afterwards, so a query may read it without a lock.
type rrset struct {
	a    []net.IP // 4-byte form
	aaaa []net.IP
	srv  []srvRecord
}

// srvRecord is one SRV answer; target is a lowercased FQDN in the zone.
type srvRecord struct {
	port   uint16
	weight uint16
	target string
}

// serviceRecords computes every name a service owns and what each
// answers. ep may be nil (no endpoints yet). zone is a lowercased FQDN
// ("skiff.local.").
func serviceRecords(zone string, svc *api.Service, ep *api.Endpoints) map[string]*rrset {
	base := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + zone)
	b := newRecordBuilder()
	b.name(base)
	if svc.Spec.ClusterIP == api.ClusterIPNone {
		headlessRecords(b, base, svc, ep)
	} else {
		clusterIPRecords(b, base, svc)
	}
	return b.done()
}

// clusterIPRecords: the service name answers the clusterIPs; SRV records
// point at the service name with the service's ports.
func clusterIPRecords(b *recordBuilder, base string, svc *api.Service) {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil {
			b.addIP(base, ip)
		}
	}
	for _, p := range svc.Spec.Ports {
		b.addSRV(base, p.Name, p.Protocol, p.Port, base)
	}
}

// headlessRecords: the service name answers every ready endpoint (and the
// not-ready ones if the service publishes them), each endpoint has a name
// of its own, and SRV records point at the endpoints' names with the
// endpoints' ports.
func headlessRecords(b *recordBuilder, base string, svc *api.Service, ep *api.Endpoints) {
	if ep == nil {
		return
	}
	for _, sub := range ep.Subsets {
		addrs := sub.Addresses
		if svc.Spec.PublishNotReadyAddresses {
			addrs = append(addrs[:len(addrs):len(addrs)], sub.NotReadyAddresses...)
		}
		for _, addr := range addrs {
			ip := net.ParseIP(addr.IP)
			if ip == nil {
				continue
			}
			host := endpointHost(addr, ip)
			if host == "" {
				continue
			}
			target := host + "." + base
			b.name(target)
			b.addIP(target, ip)
			b.addIP(base, ip)
			for _, p := range sub.Ports {
				b.addSRV(base, p.Name, p.Protocol, p.Port, target)
			}
		}
	}
}

// endpointHost is an endpoint's label under its service: its hostname,
// or, as CoreDNS does, its IP with dashes for dots and colons.
func endpointHost(addr api.EndpointAddress, ip net.IP) string {
	if addr.Hostname != "" {
		h := strings.ToLower(addr.Hostname)
		if strings.ContainsAny(h, ". ") {
			return "" // not one label: it would shadow other names
		}
		return h
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
}

// recordBuilder collects a service's names without duplicates.
type recordBuilder struct {
	sets map[string]*rrset
	ips  map[string]map[string]bool    // name → IPs added
	srvs map[string]map[srvRecord]bool // name → records added
}

func newRecordBuilder() *recordBuilder {
	return &recordBuilder{sets: map[string]*rrset{}, ips: map[string]map[string]bool{}, srvs: map[string]map[srvRecord]bool{}}
}

func (b *recordBuilder) name(n string) *rrset {
	rs := b.sets[n]
	if rs == nil {
		rs = &rrset{}
		b.sets[n] = rs
	}
	return rs
}

func (b *recordBuilder) addIP(n string, ip net.IP) {
	seen := b.ips[n]
	if seen == nil {
		seen = map[string]bool{}
		b.ips[n] = seen
	}
	k := string(ip.To16())
	if seen[k] {
		return
	}
	seen[k] = true
	rs := b.name(n)
	if v4 := ip.To4(); v4 != nil {
		rs.a = append(rs.a, v4)
	} else {
		rs.aaaa = append(rs.aaaa, ip.To16())
	}
}

// addSRV files a port under the service name and, when the port is named,
// under _<port>._<proto>.<base>.
func (b *recordBuilder) addSRV(base, portName string, proto api.Protocol, port int32, target string) {
	if port <= 0 || port > 65535 {
		return
	}
	r := srvRecord{port: uint16(port), target: target}
	b.srv(base, r)
	if portName == "" {
		return
	}
	if proto == "" {
		proto = api.ProtocolTCP
	}
	b.srv("_"+strings.ToLower(portName)+"._"+strings.ToLower(string(proto))+"."+base, r)
}

func (b *recordBuilder) srv(n string, r srvRecord) {
	seen := b.srvs[n]
	if seen == nil {
		seen = map[srvRecord]bool{}
		b.srvs[n] = seen
	}
	if seen[r] {
		return
	}
	seen[r] = true
	rs := b.name(n)
	rs.srv = append(rs.srv, r)
}

// done sets SRV weights so that every target of a name is equally
// likely (RFC 2782), as CoreDNS does, and returns the names.
func (b *recordBuilder) done() map[string]*rrset {
	for _, rs := range b.sets {
		if n := len(rs.srv); n > 0 {
			w := uint16(max(1, 100/n))
			for i := range rs.srv {
				rs.srv[i].weight = w
			}
		}
	}
	return b.sets
}
