package proxy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestNormalize(t *testing.T) {
	vip := netip.MustParseAddr("10.43.0.5")
	ep := netip.MustParseAddrPort("10.42.1.7:8080")
	good := func(edit func(*Service)) Service {
		s := Service{Namespace: "default", Name: "web", ClusterIP: vip, Ports: []Port{{Name: "http", Port: 80, Endpoints: []netip.AddrPort{ep}}}}
		if edit != nil {
			edit(&s)
		}
		return s
	}
	tests := []struct {
		name     string
		services []Service
		want     int    // services kept
		wantErr  string // substring; "" for none
		conflict bool
	}{
		{name: "plain", services: []Service{good(nil)}, want: 1},
		{name: "headless skipped", services: []Service{good(func(s *Service) { s.ClusterIP = netip.Addr{} })}, want: 0},
		{name: "ipv6 vip", services: []Service{good(func(s *Service) { s.ClusterIP = netip.MustParseAddr("fd00::5") })},
			wantErr: `service default/web: clusterIP fd00::5: only IPv4 VIPs are programmed`},
		{name: "ipv6 endpoint", services: []Service{good(func(s *Service) { s.Ports[0].Endpoints = []netip.AddrPort{netip.MustParseAddrPort("[fd00::7]:80")} })},
			wantErr: `port "http": endpoint [fd00::7]:80: want an IPv4 address`},
		{name: "bad protocol", services: []Service{good(func(s *Service) { s.Ports[0].Protocol = "SCTP" })},
			wantErr: `port "http": protocol "SCTP": want TCP or UDP`},
		{name: "bad type", services: []Service{good(func(s *Service) { s.Type = "ExternalName" })},
			wantErr: `type "ExternalName": want ClusterIP, NodePort or LoadBalancer`},
		{name: "nodePort on ClusterIP", services: []Service{good(func(s *Service) { s.Ports[0].NodePort = 30080 })},
			wantErr: `nodePort 30080 on a ClusterIP service`},
		{name: "port twice", services: []Service{good(func(s *Service) { s.Ports = append(s.Ports, Port{Port: 80}) })},
			wantErr: `TCP/80 listed twice`},
		{name: "affinity too long", services: []Service{good(func(s *Service) { s.AffinityTimeout = 48 * time.Hour })},
			wantErr: `affinity timeout 48h0m0s`},
		{name: "slash in name", services: []Service{good(func(s *Service) { s.Name = "a/b" })},
			wantErr: `without '/'`},
		{name: "service twice", services: []Service{good(nil), good(nil)}, want: 1,
			wantErr: `service default/web: listed twice`},
		{name: "vip taken", want: 1, conflict: true, services: []Service{
			good(nil), good(func(s *Service) { s.Name = "other" }),
		}, wantErr: `service default/web: TCP 10.43.0.5:80 is already taken by service default/other`},
		{name: "nodePort taken", want: 1, conflict: true, services: []Service{
			good(func(s *Service) { s.Type, s.Ports[0].NodePort = NodePort, 30080 }),
			good(func(s *Service) {
				s.Name, s.ClusterIP, s.Type, s.Ports[0].NodePort = "b", netip.MustParseAddr("10.43.0.6"), NodePort, 30080
			}),
		}, wantErr: `service default/web: nodePort TCP/30080 is already taken by service default/b`},
		{name: "nodePort twice in one service", want: 0, services: []Service{good(func(s *Service) {
			s.Type, s.Ports[0].NodePort = NodePort, 30080
			s.Ports = append(s.Ports, Port{Name: "alt", Port: 81, NodePort: 30080})
		})}, wantErr: `service default/web: nodePort TCP/30080 is claimed by two of its ports`},
		{name: "udp and tcp on one port", want: 1, services: []Service{good(func(s *Service) {
			s.Ports = append(s.Ports, Port{Protocol: UDP, Port: 80})
		})}},
	}
	for _, tt := range tests {
		got, err := State{Services: tt.services}.normalize()
		if len(got.Services) != tt.want {
			t.Errorf("%s: kept %d services, want %d", tt.name, len(got.Services), tt.want)
		}
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		wantClass := errdefs.IsInvalid
		if tt.conflict {
			wantClass = errdefs.IsConflict
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !wantClass(err) {
			t.Errorf("%s: error %v, want one containing %q of class %s", tt.name, err, tt.wantErr, map[bool]string{true: "conflict", false: "invalid"}[tt.conflict])
		}
	}
}

// TestNormalizeEndpoints: endpoints are sorted and deduplicated, and
// capped at MaxEndpointsPerPort with an error that keeps the service.
func TestNormalizeEndpoints(t *testing.T) {
	var eps []netip.AddrPort
	for i := MaxEndpointsPerPort + 9; i >= 0; i-- {
		eps = append(eps, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 42, byte(i / 200), byte(i % 200)}), 80))
	}
	eps = append(eps, eps[0])
	st := State{
		NodeAddresses: []netip.Addr{netip.MustParseAddr("192.168.1.2"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.2"), netip.MustParseAddr("fe80::1")},
		Services:      []Service{{Namespace: "a", Name: "b", ClusterIP: netip.MustParseAddr("10.43.0.1"), Ports: []Port{{Port: 80, Endpoints: eps}}}},
	}
	got, err := st.normalize()
	if want := fmt.Sprintf("%d endpoints, only the first %d", MaxEndpointsPerPort+10, MaxEndpointsPerPort); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("normalize of %d endpoints: %v, want an error containing %q", len(eps), err, want)
	}
	if len(got.Services) != 1 {
		t.Fatalf("normalize kept %d services, want 1", len(got.Services))
	}
	p := got.Services[0].Ports[0]
	if len(p.Endpoints) != MaxEndpointsPerPort || p.Endpoints[0] != netip.MustParseAddrPort("10.42.0.0:80") || p.Protocol != TCP {
		t.Errorf("normalized port: %d endpoints from %s, protocol %s; want %d from 10.42.0.0:80, TCP", len(p.Endpoints), p.Endpoints[0], p.Protocol, MaxEndpointsPerPort)
	}
	if fmt.Sprint(got.NodeAddresses) != "[192.168.1.2]" {
		t.Errorf("node addresses %v, want [192.168.1.2] (IPv4, no loopback, once)", got.NodeAddresses)
	}
}
