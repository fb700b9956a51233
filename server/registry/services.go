package registry

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/store"
)

// This file is the registry's Service admission, as Kubernetes' service
// storage does it: a new service gets a cluster IP from the service range
// unless it is headless (clusterIP None), and a node port for each of its
// ports when it is of type NodePort or LoadBalancer; what a service asks
// for must be in its range and free; an update keeps what was allocated
// when it leaves it out, and a change of type from NodePort or
// LoadBalancer to ClusterIP gives the node ports back.
//
// What is in use is read from the stored services each time something is
// allocated, under Registry.serviceAlloc, which every service create and
// spec update holds from that read to its store write. There is no bitmap
// beside the services to get out of step with them: a service removed by
// any path (a delete, the garbage collector, the last finalizer going)
// frees its address and ports by no longer being stored, one being
// deleted keeps them until it is gone, and a restart needs no rebuilding.
// The price is a list of the services per allocation — a create among
// 1,000 services takes about 7 ms on a 2-core machine
// (BenchmarkServiceCreate); an update that allocates nothing and a
// delete list nothing — which fits clusters of skiff's size. (It
// serializes allocation within one server process; an HA control plane
// over a shared store would need the allocation in the store's
// transaction.)

// The default service ranges, as DESIGN.md and Kubernetes have them.
const (
	DefaultServiceCIDR   = "10.43.0.0/16"
	DefaultNodePortRange = "30000-32767"
)

// The offsets in the service range of the addresses kept for services
// that ask for them by spec.clusterIP: 10.43.0.1 for the API service (the
// first address, as in Kubernetes) and 10.43.0.10 for cluster DNS (as in
// k3s). Dynamic allocation never hands them out.
const (
	apiServiceOffset = 1
	clusterDNSOffset = 10
)

func reserved(off uint32) bool { return off == apiServiceOffset || off == clusterDNSOffset }

// ipRange is the service range: the addresses a cluster IP may be.
type ipRange struct {
	prefix netip.Prefix
	base   uint32 // the low 32 bits of the network address
	// first and last are the offsets of the first and last address a
	// service may have (not the network address; not the IPv4 broadcast
	// address).
	first, last uint32
	// static is where dynamic allocation's preferred band starts: below
	// it (but not only there) are the addresses people ask for by hand,
	// as Kubernetes' static subrange keeps them.
	static uint32
}

// maxRangeBits caps a service range at 2^20 addresses, as Kubernetes
// does (/12 for IPv4, /108 for IPv6); minRangeBits keeps room for the
// reserved addresses.
const maxRangeBits, minRangeBits = 20, 4

func parseIPRange(cidr string) (ipRange, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ipRange{}, fmt.Errorf("service CIDR %q is not a CIDR such as %s", cidr, DefaultServiceCIDR)
	}
	if p.Masked() != p {
		return ipRange{}, fmt.Errorf("service CIDR %q has host bits set; use %s", cidr, p.Masked())
	}
	bits := p.Addr().BitLen() - p.Bits()
	if bits > maxRangeBits || bits < minRangeBits {
		return ipRange{}, fmt.Errorf("service CIDR %q has %d host bits; it must have %d to %d (e.g. /%d to /%d for IPv4)",
			cidr, bits, minRangeBits, maxRangeBits, 32-maxRangeBits, 32-minRangeBits)
	}
	size := uint32(1) << bits
	r := ipRange{prefix: p, base: low32(p.Addr()), first: 1, last: size - 1}
	if p.Addr().Is4() {
		r.last = size - 2 // the broadcast address
	}
	// Kubernetes' calculateRangeOffset: size/16, within 16…256.
	r.static = min(max(size/16, 16), 256)
	return r, nil
}

func low32(a netip.Addr) uint32 {
	b := a.As16()
	return binary.BigEndian.Uint32(b[12:])
}

// offset returns where a is in the range, and whether it is in it at all.
func (r ipRange) offset(a netip.Addr) (uint32, bool) {
	if !r.prefix.Contains(a) {
		return 0, false
	}
	return low32(a) - r.base, true
}

// addr returns the address at offset off.
func (r ipRange) addr(off uint32) netip.Addr {
	b := r.prefix.Addr().As16()
	binary.BigEndian.PutUint32(b[12:], r.base+off)
	a := netip.AddrFrom16(b)
	if r.prefix.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// portRange is the node port range.
type portRange struct {
	lo, hi int32
	static int32 // dynamic allocation prefers ports from lo+static
}

func parsePortRange(s string) (portRange, error) {
	los, his, ok := strings.Cut(s, "-")
	lo, err1 := strconv.ParseInt(strings.TrimSpace(los), 10, 32)
	hi, err2 := strconv.ParseInt(strings.TrimSpace(his), 10, 32)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return portRange{}, fmt.Errorf("node port range %q is not a range of ports such as %s", s, DefaultNodePortRange)
	}
	// The API accepts node ports of the default range only (server/api),
	// so a range is a part of it.
	if lo < 30000 || hi > 32767 {
		return portRange{}, fmt.Errorf("node port range %q is not within %s, the node ports the API accepts", s, DefaultNodePortRange)
	}
	size := int32(hi - lo + 1)
	// Kubernetes' node port static band: size/32, within 16…128.
	return portRange{lo: int32(lo), hi: int32(hi), static: min(max(size/32, 16), 128)}, nil
}

func (r portRange) String() string { return fmt.Sprintf("%d-%d", r.lo, r.hi) }

func (r portRange) contains(p int32) bool { return p >= r.lo && p <= r.hi }

// pick returns a number in [lo, hi] for which taken is false, preferring
// [from, hi] and starting at a random place so that a number just freed
// is not handed out again at once.
func pick(lo, from, hi uint32, taken func(uint32) bool) (uint32, bool) {
	scan := func(lo, hi uint32) (uint32, bool) {
		if lo > hi {
			return 0, false
		}
		n := hi - lo + 1
		start := rand.Uint32N(n)
		for i := range n {
			if v := lo + (start+i)%n; !taken(v) {
				return v, true
			}
		}
		return 0, false
	}
	from = min(max(from, lo), hi+1)
	if v, ok := scan(from, hi); ok {
		return v, true
	}
	if from == lo {
		return 0, false
	}
	return scan(lo, from-1)
}

// serviceRanges is what services are given from.
type serviceRanges struct {
	ips   ipRange
	ports portRange
}

func parseServiceRanges(cidr, ports string) (serviceRanges, error) {
	if cidr == "" {
		cidr = DefaultServiceCIDR
	}
	if ports == "" {
		ports = DefaultNodePortRange
	}
	ips, err := parseIPRange(cidr)
	if err != nil {
		return serviceRanges{}, fmt.Errorf("registry: %w", err)
	}
	pr, err := parsePortRange(ports)
	if err != nil {
		return serviceRanges{}, fmt.Errorf("registry: %w", err)
	}
	return serviceRanges{ips: ips, ports: pr}, nil
}

// needsNodePorts reports whether a service of type t has node ports.
func needsNodePorts(t api.ServiceType) bool {
	return t == api.ServiceTypeNodePort || t == api.ServiceTypeLoadBalancer
}

// normalizeClusterIPs makes spec.clusterIP and spec.clusterIPs agree when
// only one is given, as Kubernetes does before validation.
func normalizeClusterIPs(s *api.ServiceSpec) {
	switch {
	case s.ClusterIP == "" && len(s.ClusterIPs) > 0:
		s.ClusterIP = s.ClusterIPs[0]
	case s.ClusterIP != "" && len(s.ClusterIPs) == 0:
		s.ClusterIPs = []string{s.ClusterIP}
	}
}

// keepServiceAllocations carries over an update what the service was
// given and the update leaves out, as Kubernetes does (a manifest applied
// again names no cluster IP or node port): the cluster IPs, and each
// port's node port by the port's name unless another port of the update
// uses it. A change of type to one without node ports that adds no node
// port of its own drops them, so they are freed.
func keepServiceAllocations(old, s *api.Service) {
	o, n := &old.Spec, &s.Spec
	if n.ClusterIP == "" && len(n.ClusterIPs) == 0 {
		n.ClusterIP, n.ClusterIPs = o.ClusterIP, append([]string(nil), o.ClusterIPs...)
	}
	normalizeClusterIPs(n)
	if !needsNodePorts(o.Type) {
		return
	}
	if !needsNodePorts(n.Type) {
		had := map[int32]bool{}
		for _, p := range o.Ports {
			had[p.NodePort] = true
		}
		for _, p := range n.Ports {
			if p.NodePort != 0 && !had[p.NodePort] {
				return // new node ports: validation says they are not allowed
			}
		}
		for i := range n.Ports {
			n.Ports[i].NodePort = 0
		}
		return
	}
	used := map[int32]bool{}
	for _, p := range n.Ports {
		used[p.NodePort] = true
	}
	byName := map[string]int32{}
	for _, p := range o.Ports {
		byName[p.Name] = p.NodePort
	}
	for i := range n.Ports {
		p := &n.Ports[i]
		if np := byName[p.Name]; p.NodePort == 0 && np != 0 && !used[np] {
			p.NodePort = np
			used[np] = true
		}
	}
}

// servicesInUse is what the stored services hold: cluster IPs and node
// ports, each with its holder's "namespace/name".
type servicesInUse struct {
	ips   map[netip.Addr]string
	ports map[int32]string
	// lb are the ports LoadBalancer services open on every node's own
	// addresses, by "protocol/port".
	lb map[string]string
}

func lbKey(p api.ServicePort) string { return fmt.Sprintf("%s/%d", p.Protocol, p.Port) }

// servicesInUse reads what the stored services other than skip
// ("namespace/name", or "") hold.
func (r *Registry) servicesInUse(ctx context.Context, skip string) (servicesInUse, error) {
	res, err := r.store.List(ctx, "services", store.ListOptions{})
	if err != nil {
		return servicesInUse{}, fmt.Errorf("list services to see which cluster IPs and node ports are in use: %w", err)
	}
	u := servicesInUse{ips: map[netip.Addr]string{}, ports: map[int32]string{}, lb: map[string]string{}}
	for _, o := range res.Items {
		s := o.(*api.Service)
		holder := s.Namespace + "/" + s.Name
		if holder == skip {
			continue
		}
		for _, ip := range append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...) {
			if a, err := netip.ParseAddr(ip); err == nil {
				u.ips[a] = holder
			}
		}
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				u.ports[p.NodePort] = holder
			}
			if s.Spec.Type == api.ServiceTypeLoadBalancer {
				u.lb[lbKey(p)] = holder
			}
		}
	}
	return u, nil
}

// allocateService gives s a cluster IP and node ports where it needs
// them and has none, and checks those it asks for: in range and held by
// no other service. old is the stored service on an update (whose own
// allocations stay its own), nil on a create. The caller holds
// r.serviceAlloc until s is stored. A refusal is an api.FieldErrors; a
// full range is a plain error (an internal one, as in Kubernetes: the
// request is not at fault).
func (r *Registry) allocateService(ctx context.Context, s, old *api.Service) error {
	if old != nil && holdsAll(old, s) && !newLoadBalancerPorts(old, s) {
		return nil // nothing new to give or check
	}
	skip := ""
	if old != nil {
		skip = old.Namespace + "/" + old.Name
	}
	inUse, err := r.servicesInUse(ctx, skip)
	if err != nil {
		return err
	}
	var errs api.FieldErrors
	if err := r.allocateClusterIP(&s.Spec, old, inUse, &errs); err != nil {
		return err
	}
	if err := r.allocateNodePorts(&s.Spec, old, inUse, &errs); err != nil {
		return err
	}
	if s.Spec.Type == api.ServiceTypeLoadBalancer {
		// Every node opens a LoadBalancer port on its own addresses:
		// two services cannot both have it.
		for i, p := range s.Spec.Ports {
			if holder, ok := inUse.lb[lbKey(p)]; ok {
				errs = append(errs, fieldRefused(fmt.Sprintf("spec.ports[%d].port", i), fmt.Sprintf(
					"%d/%s is already the load-balancer port of service %s on every node; choose another port, or make one of them a NodePort service", p.Port, p.Protocol, holder)))
			}
		}
	}
	return errs.Err()
}

// newLoadBalancerPorts reports whether s is a LoadBalancer service with a
// port old did not open as one.
func newLoadBalancerPorts(old, s *api.Service) bool {
	if s.Spec.Type != api.ServiceTypeLoadBalancer {
		return false
	}
	had := map[string]bool{}
	if old.Spec.Type == api.ServiceTypeLoadBalancer {
		for _, p := range old.Spec.Ports {
			had[lbKey(p)] = true
		}
	}
	for _, p := range s.Spec.Ports {
		if !had[lbKey(p)] {
			return true
		}
	}
	return false
}

// holdsAll reports whether everything s has or needs old already holds:
// its cluster IP, and a node port for each port that needs one, under
// the port's name.
func holdsAll(old, s *api.Service) bool {
	if s.Spec.ClusterIP == "" || s.Spec.ClusterIP != old.Spec.ClusterIP || len(s.Spec.ClusterIPs) > 1 {
		return false
	}
	if !needsNodePorts(s.Spec.Type) {
		return true
	}
	if !needsNodePorts(old.Spec.Type) {
		return false
	}
	had := map[string]int32{}
	for _, p := range old.Spec.Ports {
		had[p.Name] = p.NodePort
	}
	for _, p := range s.Spec.Ports {
		if p.NodePort == 0 || had[p.Name] != p.NodePort {
			return false
		}
	}
	return true
}

// fieldRefused is a field error whose detail says what is wrong in full.
func fieldRefused(field, detail string) *api.FieldError {
	return &api.FieldError{Type: api.FieldInvalid, Field: field, Detail: detail}
}

func (r *Registry) allocateClusterIP(s *api.ServiceSpec, old *api.Service, inUse servicesInUse, errs *api.FieldErrors) error {
	rng := r.ranges.ips
	if len(s.ClusterIPs) > 1 {
		*errs = append(*errs, fieldRefused("spec.clusterIPs[1]", fmt.Sprintf(
			"skiff has one service range (%s), so a service has one cluster IP; remove the second", rng.prefix)))
	}
	switch {
	case s.ClusterIP == api.ClusterIPNone:
		s.ClusterIPs = []string{api.ClusterIPNone}
		return nil
	case old != nil && old.Spec.ClusterIP != "" && s.ClusterIP == old.Spec.ClusterIP:
		return nil // its own, whatever the range is now
	case s.ClusterIP == "":
		off, ok := pick(rng.first, rng.static, rng.last, func(off uint32) bool {
			_, held := inUse.ips[rng.addr(off)]
			return held || reserved(off)
		})
		if !ok {
			return fmt.Errorf("no cluster IP is free in the service range %s; delete services that are no longer needed, or make some headless (clusterIP: None)", rng.prefix)
		}
		s.ClusterIP = rng.addr(off).String()
		s.ClusterIPs = []string{s.ClusterIP}
		return nil
	}
	const fix = "choose another, or leave spec.clusterIP out for one to be assigned"
	a, err := netip.ParseAddr(s.ClusterIP)
	if err != nil {
		return nil // validation has said so
	}
	off, ok := rng.offset(a)
	switch holder, held := inUse.ips[a]; {
	case !ok:
		*errs = append(*errs, fieldRefused("spec.clusterIP", fmt.Sprintf("%s is not in the service range %s; %s", a, rng.prefix, fix)))
	case off < rng.first || off > rng.last:
		*errs = append(*errs, fieldRefused("spec.clusterIP", fmt.Sprintf("%s is the network or broadcast address of the service range %s; %s", a, rng.prefix, fix)))
	case held:
		*errs = append(*errs, fieldRefused("spec.clusterIP", fmt.Sprintf("%s is already allocated to service %s; %s", a, holder, fix)))
	}
	s.ClusterIP = a.String()
	if len(s.ClusterIPs) > 0 {
		s.ClusterIPs[0] = s.ClusterIP
	}
	return nil
}

func (r *Registry) allocateNodePorts(s *api.ServiceSpec, old *api.Service, inUse servicesInUse, errs *api.FieldErrors) error {
	if !needsNodePorts(s.Type) {
		return nil
	}
	rng := r.ranges.ports
	// What old was given, by port name: it stays its own, and may not be
	// changed (keepServiceAllocations has filled in what was left out).
	had := map[string]int32{}
	owned := map[int32]bool{}
	if old != nil && needsNodePorts(old.Spec.Type) {
		for _, p := range old.Spec.Ports {
			if p.NodePort != 0 {
				had[p.Name] = p.NodePort
				owned[p.NodePort] = true
			}
		}
	}
	mine := map[int32]bool{}
	// Ports of one number (TCP and UDP 53, say) share a node port, as in
	// Kubernetes.
	byPort := map[int32]int32{}
	for i, p := range s.Ports {
		if p.NodePort == 0 {
			continue
		}
		field := fmt.Sprintf("spec.ports[%d].nodePort", i)
		if was, ok := had[p.Name]; ok && was != p.NodePort {
			*errs = append(*errs, fieldRefused(field, fmt.Sprintf(
				"may not be changed from %d once allocated; leave it out to keep %d, or give the port another name", was, was)))
			continue
		}
		fix := fmt.Sprintf("choose another, or leave %s out for one to be assigned", field)
		switch holder, held := inUse.ports[p.NodePort]; {
		case owned[p.NodePort]:
		case !rng.contains(p.NodePort):
			*errs = append(*errs, fieldRefused(field, fmt.Sprintf("%d is not in the node port range %s; %s", p.NodePort, rng, fix)))
		case held:
			*errs = append(*errs, fieldRefused(field, fmt.Sprintf("%d is already allocated to service %s; %s", p.NodePort, holder, fix)))
		}
		mine[p.NodePort] = true
		if _, ok := byPort[p.Port]; !ok {
			byPort[p.Port] = p.NodePort
		}
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.NodePort != 0 {
			continue
		}
		if np, ok := byPort[p.Port]; ok {
			p.NodePort = np
			continue
		}
		v, ok := pick(uint32(rng.lo), uint32(rng.lo+rng.static), uint32(rng.hi), func(v uint32) bool {
			_, held := inUse.ports[int32(v)]
			return held || mine[int32(v)]
		})
		if !ok {
			return fmt.Errorf("no node port is free in the node port range %s; delete NodePort or LoadBalancer services that are no longer needed", rng)
		}
		p.NodePort = int32(v)
		mine[p.NodePort] = true
		byPort[p.Port] = p.NodePort
	}
	return nil
}

// admissionError names the object in an admission refusal.
func admissionError(k api.Kind, obj api.Object, err error) error {
	if errs, ok := err.(api.FieldErrors); ok {
		return invalid(k, obj, errs)
	}
	return err
}

// ClusterDNSAddress is the address kept for cluster DNS in the service
// range cidr: its tenth (10.43.0.10 in the default range), where every
// node serves DNS unless told another.
func ClusterDNSAddress(cidr string) (netip.Addr, error) {
	r, err := parseIPRange(cidr)
	if err != nil {
		return netip.Addr{}, err
	}
	return r.addr(clusterDNSOffset), nil
}
