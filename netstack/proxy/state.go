package proxy

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// State is the node's whole desired data path: every service the node
// should forward, with its ready endpoints, and the node's own addresses.
// The agent builds one from its informer caches on every sync and hands
// it to Sync; nothing is incremental on the caller's side.
type State struct {
	// Services to program. Services without a ClusterIP (headless) are
	// skipped; they have no VIP.
	Services []Service
	// NodeAddresses are the node's own IPv4 addresses, where
	// LoadBalancer services listen on their service port. (NodePorts
	// need no list: they match every local address, see the package
	// comment.)
	NodeAddresses []netip.Addr
}

// ServiceType is a service's type, as in the Service object.
type ServiceType string

const (
	ClusterIP    ServiceType = "ClusterIP"
	NodePort     ServiceType = "NodePort"
	LoadBalancer ServiceType = "LoadBalancer"
)

// Protocol is a service port's transport protocol.
type Protocol string

const (
	TCP Protocol = "TCP"
	UDP Protocol = "UDP"
)

// Service is one service and its ready endpoints.
type Service struct {
	Namespace, Name string
	// ClusterIP is the service VIP. The zero Addr means headless: the
	// service is skipped.
	ClusterIP netip.Addr
	// Type is ClusterIP when empty. NodePort and LoadBalancer services
	// also get their VIP.
	Type  ServiceType
	Ports []Port
	// AffinityTimeout, when positive, turns on ClientIP session
	// affinity: new connections from a client go to the endpoint its
	// last connection went to, as long as that was less than
	// AffinityTimeout ago. Zero means no affinity.
	AffinityTimeout time.Duration
}

// Port is one port of a service with the endpoints that serve it.
type Port struct {
	// Name is the port's name; it only appears in error messages.
	Name     string
	Protocol Protocol // TCP when empty
	Port     uint16
	// NodePort, when set on a NodePort or LoadBalancer service, is
	// opened on every local address of the node.
	NodePort uint16
	// Endpoints are the ready endpoints for this port: pod address and
	// target port. An empty list makes new connections be refused.
	Endpoints []netip.AddrPort
}

// Key returns "namespace/name".
func (s Service) Key() string { return s.Namespace + "/" + s.Name }

// MaxAffinityTimeout is the longest session affinity Sync accepts, one day
// as in Kubernetes.
const MaxAffinityTimeout = 24 * time.Hour

// MaxEndpointsPerPort bounds the endpoints of one service port: the
// endpoint map of a port is one anonymous set, sent in one netlink
// attribute of at most 64 KiB, and with affinity each element names an
// endpoint chain of up to ~170 bytes.
const MaxEndpointsPerPort = 256

// validate checks what Sync needs of s. Errors name the service and the
// field.
func (s Service) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("service %s: "+format+": %w", append([]any{s.Key()}, append(args, errdefs.ErrInvalid)...)...))
	}
	if s.Namespace == "" || s.Name == "" || len(s.Namespace) > 63 || len(s.Name) > 63 || strings.ContainsAny(s.Namespace+s.Name, "/ \"") {
		bad("namespace and name must be set, at most 63 characters, without '/', space or quote")
	}
	if !s.ClusterIP.Is4() {
		bad("clusterIP %s: only IPv4 VIPs are programmed", s.ClusterIP)
	}
	switch s.Type {
	case "", ClusterIP, NodePort, LoadBalancer:
	default:
		bad("type %q: want ClusterIP, NodePort or LoadBalancer", s.Type)
	}
	if s.AffinityTimeout < 0 || s.AffinityTimeout > MaxAffinityTimeout {
		bad("affinity timeout %s: want 0 (none) up to %s", s.AffinityTimeout, MaxAffinityTimeout)
	} else if s.AffinityTimeout > 0 && s.AffinityTimeout < time.Second {
		bad("affinity timeout %s: want at least 1s", s.AffinityTimeout)
	}
	type pp struct {
		proto Protocol
		port  uint16
	}
	seen := map[pp]bool{}
	for _, p := range s.Ports {
		proto := p.protocol()
		if proto != TCP && proto != UDP {
			bad("port %s: protocol %q: want TCP or UDP", p.label(), p.Protocol)
			continue
		}
		if p.Port == 0 {
			bad("port %s: port 0", p.label())
		}
		if seen[pp{proto, p.Port}] {
			bad("port %s: %s/%d listed twice", p.label(), proto, p.Port)
		}
		seen[pp{proto, p.Port}] = true
		if p.NodePort != 0 && s.serviceType() == ClusterIP {
			bad("port %s: nodePort %d on a ClusterIP service", p.label(), p.NodePort)
		}
		for _, ep := range p.Endpoints {
			if !ep.Addr().Is4() || ep.Port() == 0 {
				bad("port %s: endpoint %s: want an IPv4 address and a non-zero port", p.label(), ep)
			}
		}
	}
	return errors.Join(errs...)
}

func (s Service) serviceType() ServiceType {
	if s.Type == "" {
		return ClusterIP
	}
	return s.Type
}

func (p Port) protocol() Protocol {
	if p.Protocol == "" {
		return TCP
	}
	return p.Protocol
}

// label names p in errors: its name, or its number.
func (p Port) label() string {
	if p.Name != "" {
		return fmt.Sprintf("%q", p.Name)
	}
	return fmt.Sprint(p.Port)
}

// l4 is what a service port claims on a node: a VIP or load-balancer
// address with its port, or (addr invalid) a node port.
type l4 struct {
	proto Protocol
	addr  netip.Addr
	port  uint16
}

func (c l4) String() string {
	if !c.addr.IsValid() {
		return fmt.Sprintf("nodePort %s/%d", c.proto, c.port)
	}
	return fmt.Sprintf("%s %s:%d", c.proto, c.addr, c.port)
}

// normalize returns the valid services of st sorted by key, headless ones
// dropped, each port's endpoints sorted and deduplicated, and the node
// addresses as a sorted set of IPv4 addresses; the errors of the services
// it dropped, and of NodePorts claimed twice, joined.
func (st State) normalize() (State, error) {
	var errs []error
	out := State{}
	for _, a := range st.NodeAddresses {
		if a.Is4() && !a.IsLoopback() && !slices.Contains(out.NodeAddresses, a) {
			out.NodeAddresses = append(out.NodeAddresses, a)
		}
	}
	slices.SortFunc(out.NodeAddresses, netip.Addr.Compare)

	owner := map[l4]string{} // a VIP, LoadBalancer or node port → service
	seen := map[string]bool{}
	// Sorted first, so that of two services claiming one port the same
	// one wins on every sync.
	services := slices.Clone(st.Services)
	slices.SortStableFunc(services, func(a, b Service) int { return cmp.Compare(a.Key(), b.Key()) })
	for _, s := range services {
		if !s.ClusterIP.IsValid() || s.ClusterIP.IsUnspecified() {
			continue // headless
		}
		if seen[s.Key()] {
			errs = append(errs, fmt.Errorf("service %s: listed twice: %w", s.Key(), errdefs.ErrInvalid))
			continue
		}
		seen[s.Key()] = true
		if err := s.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		var claims []l4
		for _, p := range s.Ports {
			claims = append(claims, l4{p.protocol(), s.ClusterIP, p.Port})
			if p.NodePort != 0 {
				claims = append(claims, l4{p.protocol(), netip.Addr{}, p.NodePort})
			}
			if s.serviceType() == LoadBalancer {
				for _, a := range out.NodeAddresses {
					claims = append(claims, l4{p.protocol(), a, p.Port})
				}
			}
		}
		var conflict error
		mine := map[l4]bool{}
		for _, c := range claims {
			if o, ok := owner[c]; ok && o != s.Key() {
				conflict = fmt.Errorf("service %s: %s is already taken by service %s: %w", s.Key(), c, o, errdefs.ErrConflict)
				break
			}
			if mine[c] {
				conflict = fmt.Errorf("service %s: %s is claimed by two of its ports: %w", s.Key(), c, errdefs.ErrInvalid)
				break
			}
			mine[c] = true
		}
		if conflict != nil {
			errs = append(errs, conflict)
			continue
		}
		for _, c := range claims {
			owner[c] = s.Key()
		}
		s.Ports = slices.Clone(s.Ports)
		for i := range s.Ports {
			eps := slices.Clone(s.Ports[i].Endpoints)
			slices.SortFunc(eps, netip.AddrPort.Compare)
			eps = slices.Compact(eps)
			if len(eps) > MaxEndpointsPerPort {
				errs = append(errs, fmt.Errorf("service %s: port %s: %d endpoints, only the first %d (by address) get traffic: %w",
					s.Key(), s.Ports[i].label(), len(eps), MaxEndpointsPerPort, errdefs.ErrInvalid))
				eps = eps[:MaxEndpointsPerPort]
			}
			s.Ports[i].Endpoints = eps
			s.Ports[i].Protocol = s.Ports[i].protocol()
		}
		slices.SortFunc(s.Ports, func(a, b Port) int {
			return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
		})
		s.Type = s.serviceType()
		out.Services = append(out.Services, s)
	}
	return out, errors.Join(errs...)
}

// equal reports whether s and o are the same service, field by field.
func (s Service) equal(o Service) bool {
	return s.Namespace == o.Namespace && s.Name == o.Name && s.ClusterIP == o.ClusterIP &&
		s.Type == o.Type && s.AffinityTimeout == o.AffinityTimeout &&
		slices.EqualFunc(s.Ports, o.Ports, func(a, b Port) bool {
			return a.Name == b.Name && a.Protocol == b.Protocol && a.Port == b.Port &&
				a.NodePort == b.NodePort && slices.Equal(a.Endpoints, b.Endpoints)
		})
}
