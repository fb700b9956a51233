package dns_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	skiffdns "github.com/skiffhq/skiff/netstack/dns"
	"github.com/skiffhq/skiff/netstack/dns/dnstest"
	"github.com/skiffhq/skiff/server/api"
)

// start runs a server on 127.0.0.1:0 (UDP and TCP) until the test ends.
// Names outside the zone go to up unless cfg says otherwise.
func start(t testing.TB, src skiffdns.Source, up *dnstest.Upstream, edit ...func(*skiffdns.Config)) *skiffdns.Server {
	t.Helper()
	cfg := skiffdns.Config{Addr: "127.0.0.1:0", Source: src}
	if up != nil {
		cfg.Forward.Upstreams = []string{up.Addr}
	} else {
		cfg.Forward.Upstreams = []string{"127.0.0.1:1"} // nothing there
	}
	cfg.Forward.Timeout = 500 * time.Millisecond
	for _, e := range edit {
		e(&cfg)
	}
	srv, err := skiffdns.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("server not ready after 5s")
	}
	if fake, ok := src.(*dnstest.Source); !ok || !fake.Unsynced {
		waitFor(t, "the first list", srv.Synced)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return srv
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 5s", what)
		}
	}
}

// query asks addr over network ("udp", "tcp") for name and type.
func query(t testing.TB, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return exchange(t, addr, network, m)
}

func exchange(t testing.TB, addr, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	return r
}

// rrs renders records as sorted "name TYPE rdata" lines, without TTLs
// and OPT records.
func rrs(in []dns.RR) []string {
	var out []string
	for _, rr := range in {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			continue
		}
		data := strings.TrimPrefix(rr.String(), h.String())
		out = append(out, h.Name+" "+dns.TypeToString[h.Rrtype]+" "+data)
	}
	slices.Sort(out)
	return out
}

// Objects of the tests.

func service(ns, name, clusterIP string, ports ...api.ServicePort) *api.Service {
	s := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name}}
	s.Spec.ClusterIP = clusterIP
	if clusterIP != "" {
		s.Spec.ClusterIPs = []string{clusterIP}
	}
	s.Spec.Ports = ports
	return s
}

func port(name string, proto api.Protocol, n int32) api.ServicePort {
	return api.ServicePort{Name: name, Protocol: proto, Port: n}
}

// endpoints: addresses are "ip" or "ip=hostname"; a leading "!" makes
// one not ready.
func endpoints(ns, name string, ports []api.EndpointPort, addrs ...string) *api.Endpoints {
	e := &api.Endpoints{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name}}
	var sub api.EndpointSubset
	for _, a := range addrs {
		notReady := strings.HasPrefix(a, "!")
		a = strings.TrimPrefix(a, "!")
		ip, host, _ := strings.Cut(a, "=")
		ea := api.EndpointAddress{IP: ip, Hostname: host}
		if notReady {
			sub.NotReadyAddresses = append(sub.NotReadyAddresses, ea)
		} else {
			sub.Addresses = append(sub.Addresses, ea)
		}
	}
	sub.Ports = ports
	e.Subsets = []api.EndpointSubset{sub}
	return e
}

func epPort(name string, proto api.Protocol, n int32) api.EndpointPort {
	return api.EndpointPort{Name: name, Protocol: proto, Port: n}
}
