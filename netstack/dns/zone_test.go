package dns_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	skiffdns "github.com/skiffhq/skiff/netstack/dns"
	"github.com/skiffhq/skiff/netstack/dns/dnstest"
	"github.com/skiffhq/skiff/server/api"
)

// zoneSource is the cluster most zone tests ask about.
func zoneSource() *dnstest.Source {
	src := dnstest.NewSource()
	web := service("default", "web", "10.43.0.20", port("http", api.ProtocolTCP, 80), port("metrics", "", 9090))
	web.Spec.ClusterIPs = []string{"10.43.0.20", "fd00:43::20"}
	src.SetService(web)
	// A ClusterIP service's endpoints are not in DNS, hostnames or not.
	src.SetEndpoints(endpoints("default", "web", []api.EndpointPort{epPort("http", api.ProtocolTCP, 8080)}, "10.42.0.2=web-0"))
	src.SetService(service("default", "single", "10.43.0.21", port("", api.ProtocolTCP, 8080)))
	src.SetService(service("other", "web", "10.43.1.1", port("dns", api.ProtocolUDP, 53)))

	src.SetService(service("default", "db", api.ClusterIPNone, port("pg", api.ProtocolTCP, 5432)))
	src.SetEndpoints(endpoints("default", "db", []api.EndpointPort{epPort("pg", api.ProtocolTCP, 15432)},
		"10.42.0.5=db-0", "10.42.1.6=db-1", "!10.42.0.7=db-2", "10.42.0.8", "fd00:42::9=db-v6"))

	peers := service("default", "peers", api.ClusterIPNone)
	peers.Spec.PublishNotReadyAddresses = true
	src.SetService(peers)
	src.SetEndpoints(endpoints("default", "peers", nil, "10.42.0.10=p-0", "!10.42.0.11=p-1"))

	src.SetService(service("default", "empty", api.ClusterIPNone, port("x", api.ProtocolTCP, 1)))
	// Endpoints without a service answer nothing.
	src.SetEndpoints(endpoints("default", "orphan", nil, "10.42.0.99=o-0"))
	return src
}

const z = ".svc.skiff.local."

func TestZoneAnswers(t *testing.T) {
	up := dnstest.NewUpstream(t)
	srv := start(t, zoneSource(), up)

	const (
		ok, nx, nodata = dns.RcodeSuccess, dns.RcodeNameError, -1
	)
	tests := []struct {
		name   string
		qtype  uint16
		rcode  int // nodata: NOERROR, no answers, SOA in authority
		answer []string
		extra  []string
	}{
		{"web.default" + z, dns.TypeA, ok, []string{"web.default" + z + " A 10.43.0.20"}, nil},
		{"web.default" + z, dns.TypeAAAA, ok, []string{"web.default" + z + " AAAA fd00:43::20"}, nil},
		{"WeB.DeFault.SVC.Skiff.LOCAL.", dns.TypeA, ok, []string{"WeB.DeFault.SVC.Skiff.LOCAL. A 10.43.0.20"}, nil},
		{"web.other" + z, dns.TypeA, ok, []string{"web.other" + z + " A 10.43.1.1"}, nil},
		{"single.default" + z, dns.TypeA, ok, []string{"single.default" + z + " A 10.43.0.21"}, nil},
		{"single.default" + z, dns.TypeAAAA, nodata, nil, nil},
		{"web.default" + z, dns.TypeTXT, nodata, nil, nil},

		// SRV for named ports, targetting the service.
		{"_http._tcp.web.default" + z, dns.TypeSRV, ok,
			[]string{"_http._tcp.web.default" + z + " SRV 0 100 80 web.default" + z},
			[]string{"web.default" + z + " A 10.43.0.20", "web.default" + z + " AAAA fd00:43::20"}},
		{"_metrics._tcp.web.default" + z, dns.TypeSRV, ok,
			[]string{"_metrics._tcp.web.default" + z + " SRV 0 100 9090 web.default" + z},
			[]string{"web.default" + z + " A 10.43.0.20", "web.default" + z + " AAAA fd00:43::20"}},
		{"_dns._udp.web.other" + z, dns.TypeSRV, ok,
			[]string{"_dns._udp.web.other" + z + " SRV 0 100 53 web.other" + z},
			[]string{"web.other" + z + " A 10.43.1.1"}},
		{"_HTTP._TCP.web.default" + z, dns.TypeSRV, ok,
			[]string{"_HTTP._TCP.web.default" + z + " SRV 0 100 80 web.default" + z},
			[]string{"web.default" + z + " A 10.43.0.20", "web.default" + z + " AAAA fd00:43::20"}},
		{"_http._udp.web.default" + z, dns.TypeSRV, nx, nil, nil},
		{"_http._tcp.web.default" + z, dns.TypeA, nodata, nil, nil},
		{"_tcp.web.default" + z, dns.TypeSRV, nodata, nil, nil},
		{"web.default" + z, dns.TypeSRV, ok, []string{
			"web.default" + z + " SRV 0 50 80 web.default" + z,
			"web.default" + z + " SRV 0 50 9090 web.default" + z,
		}, []string{"web.default" + z + " A 10.43.0.20", "web.default" + z + " AAAA fd00:43::20"}},
		{"web.default" + z, dns.TypeANY, ok, []string{
			"web.default" + z + " A 10.43.0.20",
			"web.default" + z + " AAAA fd00:43::20",
			"web.default" + z + " SRV 0 50 80 web.default" + z,
			"web.default" + z + " SRV 0 50 9090 web.default" + z,
		}, []string{"web.default" + z + " A 10.43.0.20", "web.default" + z + " AAAA fd00:43::20"}},
		{"web-0.web.default" + z, dns.TypeA, nx, nil, nil},

		// Headless: ready endpoints, each by hostname or dashed IP.
		{"db.default" + z, dns.TypeA, ok, []string{
			"db.default" + z + " A 10.42.0.5", "db.default" + z + " A 10.42.0.8", "db.default" + z + " A 10.42.1.6",
		}, nil},
		{"db.default" + z, dns.TypeAAAA, ok, []string{"db.default" + z + " AAAA fd00:42::9"}, nil},
		{"db-0.db.default" + z, dns.TypeA, ok, []string{"db-0.db.default" + z + " A 10.42.0.5"}, nil},
		{"DB-1.db.default" + z, dns.TypeA, ok, []string{"DB-1.db.default" + z + " A 10.42.1.6"}, nil},
		{"10-42-0-8.db.default" + z, dns.TypeA, ok, []string{"10-42-0-8.db.default" + z + " A 10.42.0.8"}, nil},
		{"db-v6.db.default" + z, dns.TypeAAAA, ok, []string{"db-v6.db.default" + z + " AAAA fd00:42::9"}, nil},
		{"db-v6.db.default" + z, dns.TypeA, nodata, nil, nil},
		{"db-2.db.default" + z, dns.TypeA, nx, nil, nil}, // not ready
		{"_pg._tcp.db.default" + z, dns.TypeSRV, ok, []string{
			"_pg._tcp.db.default" + z + " SRV 0 25 15432 10-42-0-8.db.default" + z,
			"_pg._tcp.db.default" + z + " SRV 0 25 15432 db-0.db.default" + z,
			"_pg._tcp.db.default" + z + " SRV 0 25 15432 db-1.db.default" + z,
			"_pg._tcp.db.default" + z + " SRV 0 25 15432 db-v6.db.default" + z,
		}, []string{
			"10-42-0-8.db.default" + z + " A 10.42.0.8",
			"db-0.db.default" + z + " A 10.42.0.5",
			"db-1.db.default" + z + " A 10.42.1.6",
			"db-v6.db.default" + z + " AAAA fd00:42::9",
		}},
		{"peers.default" + z, dns.TypeA, ok, []string{"peers.default" + z + " A 10.42.0.10", "peers.default" + z + " A 10.42.0.11"}, nil},
		{"p-1.peers.default" + z, dns.TypeA, ok, []string{"p-1.peers.default" + z + " A 10.42.0.11"}, nil},
		{"empty.default" + z, dns.TypeA, nodata, nil, nil},
		{"_x._tcp.empty.default" + z, dns.TypeSRV, nx, nil, nil},
		{"orphan.default" + z, dns.TypeA, nx, nil, nil},
		{"o-0.orphan.default" + z, dns.TypeA, nx, nil, nil},

		// Unknown names, search-path expansions, empty non-terminals.
		{"nope.default" + z, dns.TypeA, nx, nil, nil},
		{"web.nope" + z, dns.TypeA, nx, nil, nil},
		{"web.default" + z + "default" + z[:len(z)-1] + ".", dns.TypeA, nx, nil, nil},
		{"web.default.svc" + z, dns.TypeA, nx, nil, nil},
		{"web.default" + z[:len(z)-1] + ".skiff.local.", dns.TypeA, nx, nil, nil},
		{"google.com.default" + z, dns.TypeA, nx, nil, nil},
		{"google.com.skiff.local.", dns.TypeA, nx, nil, nil},
		{"default" + z, dns.TypeA, nodata, nil, nil},
		{"svc.skiff.local.", dns.TypeA, nodata, nil, nil},
		{"pod.skiff.local.", dns.TypeA, nx, nil, nil},
		{"skiff.local.", dns.TypeA, nodata, nil, nil},
		{"skiff.local.", dns.TypeSOA, ok, []string{"skiff.local. SOA ns.dns.skiff.local. hostmaster.skiff.local. 1 7200 1800 86400 5"}, nil},
		{"Skiff.Local.", dns.TypeSOA, ok, []string{"Skiff.Local. SOA ns.dns.skiff.local. hostmaster.skiff.local. 1 7200 1800 86400 5"}, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s/%s", network, tt.name, dns.TypeToString[tt.qtype]), func(t *testing.T) {
				r := query(t, srv.Addr(), network, tt.name, tt.qtype)
				wantRcode := tt.rcode
				if wantRcode == nodata {
					wantRcode = dns.RcodeSuccess
				}
				if r.Rcode != wantRcode {
					t.Fatalf("rcode: got %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[wantRcode])
				}
				if !r.Authoritative {
					t.Error("answer is not authoritative")
				}
				if got := rrs(r.Answer); !slices.Equal(got, tt.answer) {
					t.Errorf("answer:\ngot  %q\nwant %q", got, tt.answer)
				}
				if got := rrs(r.Extra); !slices.Equal(got, tt.extra) {
					t.Errorf("extra:\ngot  %q\nwant %q", got, tt.extra)
				}
				for _, rr := range r.Answer {
					if rr.Header().Ttl != 5 {
						t.Errorf("ttl of %s: got %d, want 5", rr, rr.Header().Ttl)
					}
				}
				negative := len(tt.answer) == 0
				if got := len(r.Ns); negative && (got != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Ttl != 5) {
					t.Errorf("authority of a negative answer: got %v, want the zone's SOA with TTL 5", r.Ns)
				} else if !negative && got != 0 {
					t.Errorf("authority of an answer: got %v, want none", r.Ns)
				}
			})
		}
	}
	if n := up.Queries("udp") + up.Queries("tcp"); n != 0 {
		t.Errorf("names in the zone went upstream %d times", n)
	}
}

func TestClassesAndOpcodes(t *testing.T) {
	up := dnstest.NewUpstream(t)
	up.Add(t, "example.com. 60 IN A 192.0.2.1")
	srv := start(t, zoneSource(), up)
	ask := func(name string, qtype, qclass uint16, opcode int, network string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Question[0].Qclass = qclass
		m.Opcode = opcode
		return exchange(t, srv.Addr(), network, m)
	}
	tests := []struct {
		what          string
		name          string
		qtype, qclass uint16
		opcode        int
		network       string
		want          int
	}{
		{"chaos in zone", "web.default" + z, dns.TypeTXT, dns.ClassCHAOS, dns.OpcodeQuery, "udp", dns.RcodeRefused},
		{"chaos version.bind", "version.bind.", dns.TypeTXT, dns.ClassCHAOS, dns.OpcodeQuery, "udp", dns.RcodeRefused},
		{"hesiod outside", "example.com.", dns.TypeA, dns.ClassHESIOD, dns.OpcodeQuery, "udp", dns.RcodeRefused},
		{"class ANY in zone", "web.default" + z, dns.TypeA, dns.ClassANY, dns.OpcodeQuery, "udp", dns.RcodeSuccess},
		{"AXFR", "skiff.local.", dns.TypeAXFR, dns.ClassINET, dns.OpcodeQuery, "tcp", dns.RcodeRefused},
		{"IXFR", "skiff.local.", dns.TypeIXFR, dns.ClassINET, dns.OpcodeQuery, "tcp", dns.RcodeRefused},
		{"NOTIFY", "skiff.local.", dns.TypeSOA, dns.ClassINET, dns.OpcodeNotify, "udp", dns.RcodeNotImplemented},
		{"UPDATE", "skiff.local.", dns.TypeSOA, dns.ClassINET, dns.OpcodeUpdate, "udp", dns.RcodeNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			r := ask(tt.name, tt.qtype, tt.qclass, tt.opcode, tt.network)
			if r.Rcode != tt.want {
				t.Errorf("rcode: got %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.want])
			}
		})
	}
	if n := up.Queries("udp"); n != 0 {
		t.Errorf("upstream asked %d times, want 0", n)
	}
}

func TestEDNS(t *testing.T) {
	srv := start(t, zoneSource(), nil)
	m := new(dns.Msg)
	m.SetQuestion("web.default"+z, dns.TypeA)
	m.SetEdns0(4096, false)
	r := exchange(t, srv.Addr(), "udp", m)
	o := r.IsEdns0()
	if o == nil {
		t.Fatal("no OPT in the answer to an EDNS0 query")
	}
	if o.UDPSize() != 1232 {
		t.Errorf("advertised UDP size: got %d, want 1232", o.UDPSize())
	}
	if r := query(t, srv.Addr(), "udp", "web.default"+z, dns.TypeA); r.IsEdns0() != nil {
		t.Error("OPT in the answer to a query without EDNS0")
	}
}

// A headless service with many pods does not fit in 512 bytes: UDP gets
// as many as fit and TC, TCP gets them all.
func TestZoneTruncation(t *testing.T) {
	src := dnstest.NewSource()
	src.SetService(service("default", "big", api.ClusterIPNone, port("http", api.ProtocolTCP, 80)))
	var addrs []string
	for i := range 100 {
		addrs = append(addrs, fmt.Sprintf("10.42.%d.%d=pod-%d", i/50, i%50+2, i))
	}
	src.SetEndpoints(endpoints("default", "big", []api.EndpointPort{epPort("http", api.ProtocolTCP, 80)}, addrs...))
	srv := start(t, src, nil)

	r := query(t, srv.Addr(), "udp", "big.default"+z, dns.TypeA)
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 100 {
		t.Errorf("udp: got TC=%v with %d answers, want TC with some of 100", r.Truncated, len(r.Answer))
	}
	r.Compress = true
	if n := r.Len(); n > 512 {
		t.Errorf("udp answer is %d bytes, want at most 512", n)
	}
	m := new(dns.Msg)
	m.SetQuestion("big.default"+z, dns.TypeA)
	m.SetEdns0(4096, false)
	r = exchange(t, srv.Addr(), "udp", m)
	r.Compress = true
	if n := r.Len(); !r.Truncated && n > 1232 || len(r.Answer) == 0 {
		t.Errorf("udp with EDNS0: %d answers in %d bytes", len(r.Answer), n)
	}
	r = query(t, srv.Addr(), "tcp", "big.default"+z, dns.TypeA)
	if r.Truncated || len(r.Answer) != 100 {
		t.Errorf("tcp: got TC=%v with %d answers, want all 100", r.Truncated, len(r.Answer))
	}
	r = query(t, srv.Addr(), "tcp", "_http._tcp.big.default"+z, dns.TypeSRV)
	if len(r.Answer) != 100 || len(r.Extra) != 100 {
		t.Errorf("tcp SRV: got %d answers and %d extra, want 100 and 100", len(r.Answer), len(r.Extra))
	}
}

// Headless answers come in a random order, so that clients taking the
// first spread over the pods.
func TestHeadlessOrderVaries(t *testing.T) {
	srv := start(t, zoneSource(), nil)
	firsts := map[string]bool{}
	for range 50 {
		r := query(t, srv.Addr(), "udp", "db.default"+z, dns.TypeA)
		firsts[r.Answer[0].(*dns.A).A.String()] = true
	}
	if len(firsts) < 2 {
		t.Errorf("50 answers all started with %v", firsts)
	}
}

func TestUnsyncedIsServfail(t *testing.T) {
	src := zoneSource()
	src.Unsynced = true
	up := dnstest.NewUpstream(t)
	up.Add(t, "example.com. 60 IN A 192.0.2.1")
	srv := start(t, src, up)
	if r := query(t, srv.Addr(), "udp", "web.default"+z, dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("before sync: got %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if r := query(t, srv.Addr(), "udp", "example.com.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("forwarding before sync: got %s with %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	// The source's Run may not have started yet (Ready comes first), so
	// the mark reaches the server when it does.
	src.MarkSynced()
	waitFor(t, "synced after MarkSynced", srv.Synced)
	if r := query(t, srv.Addr(), "udp", "web.default"+z, dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("after sync: got %s with %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
}

func TestFakeSourceUpdates(t *testing.T) {
	src := zoneSource()
	srv := start(t, src, nil)
	a := func(name string) (int, []string) {
		t.Helper()
		r := query(t, srv.Addr(), "udp", name, dns.TypeA)
		return r.Rcode, rrs(r.Answer)
	}

	src.DeleteService("default", "web")
	if rc, got := a("web.default" + z); rc != dns.RcodeNameError {
		t.Errorf("deleted service: got %s %v, want NXDOMAIN", dns.RcodeToString[rc], got)
	}
	if rc, _ := a("_http._tcp.web.default" + z); rc != dns.RcodeNameError {
		t.Errorf("deleted service's SRV name: got %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	// default.svc still has other services under it.
	if rc, _ := a("default" + z); rc != dns.RcodeSuccess {
		t.Errorf("namespace with services: got %s, want NOERROR", dns.RcodeToString[rc])
	}

	src.SetEndpoints(endpoints("default", "db", nil, "10.42.0.5=db-0", "10.42.0.50=db-3"))
	if _, got := a("db-3.db.default" + z); !slices.Equal(got, []string{"db-3.db.default" + z + " A 10.42.0.50"}) {
		t.Errorf("added endpoint: got %v", got)
	}
	if rc, _ := a("db-1.db.default" + z); rc != dns.RcodeNameError {
		t.Errorf("removed endpoint: got %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	src.DeleteEndpoints("default", "db")
	if rc, got := a("db.default" + z); rc != dns.RcodeSuccess || len(got) != 0 {
		t.Errorf("headless without endpoints: got %s %v, want NODATA", dns.RcodeToString[rc], got)
	}

	// A service turned headless (recreated) answers with its endpoints.
	src.DeleteService("default", "single")
	src.SetEndpoints(endpoints("default", "single", nil, "10.42.0.60"))
	src.SetService(service("default", "single", api.ClusterIPNone))
	if _, got := a("single.default" + z); !slices.Equal(got, []string{"single.default" + z + " A 10.42.0.60"}) {
		t.Errorf("headless again: got %v", got)
	}

	for _, ns := range []string{"default", "other"} {
		for _, n := range []string{"web", "single", "db", "peers", "empty"} {
			src.DeleteService(ns, n)
		}
	}
	for _, name := range []string{"default" + z, "other" + z, "svc.skiff.local."} {
		if rc, _ := a(name); rc != dns.RcodeNameError {
			t.Errorf("%s with no services left: got %s, want NXDOMAIN", name, dns.RcodeToString[rc])
		}
	}
	if rc, _ := a("skiff.local."); rc != dns.RcodeSuccess {
		t.Errorf("zone apex: got %s, want NOERROR", dns.RcodeToString[rc])
	}
}

func TestOtherZone(t *testing.T) {
	up := dnstest.NewUpstream(t)
	up.Add(t, "web.default.svc.skiff.local. 60 IN A 192.0.2.9")
	srv := start(t, zoneSource(), up, func(c *skiffdns.Config) { c.Zone = "Cluster.Example." })
	r := query(t, srv.Addr(), "udp", "web.default.svc.cluster.example.", dns.TypeA)
	if got := rrs(r.Answer); !slices.Equal(got, []string{"web.default.svc.cluster.example. A 10.43.0.20"}) {
		t.Errorf("custom zone: got %v", got)
	}
	r = query(t, srv.Addr(), "udp", "web.default.svc.skiff.local.", dns.TypeA)
	if got := rrs(r.Answer); !slices.Equal(got, []string{"web.default.svc.skiff.local. A 192.0.2.9"}) || r.Authoritative {
		t.Errorf("skiff.local with another zone is forwarded: got %v (aa=%v)", got, r.Authoritative)
	}
	r = query(t, srv.Addr(), "udp", "cluster.example.", dns.TypeSOA)
	if len(r.Answer) != 1 || !strings.HasPrefix(rrs(r.Answer)[0], "cluster.example. SOA ns.dns.cluster.example.") {
		t.Errorf("SOA of the custom zone: got %v", rrs(r.Answer))
	}
}
