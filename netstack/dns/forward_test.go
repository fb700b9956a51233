package dns_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	skiffdns "github.com/skiffhq/skiff/netstack/dns"
	"github.com/skiffhq/skiff/netstack/dns/dnstest"
)

func TestForward(t *testing.T) {
	up := dnstest.NewUpstream(t)
	up.Add(t, "example.com. 60 IN A 192.0.2.1", "example.com. 60 IN AAAA 2001:db8::1", "Mixed.Example.com. 60 IN TXT \"hi\"")
	srv := start(t, zoneSource(), up, func(c *skiffdns.Config) { c.Forward.CacheSize = -1 })
	for _, network := range []string{"udp", "tcp"} {
		r := query(t, srv.Addr(), network, "example.com.", dns.TypeA)
		if got, want := rrs(r.Answer), []string{"example.com. A 192.0.2.1"}; !slices.Equal(got, want) || r.Authoritative {
			t.Errorf("%s: got %v (aa=%v), want %v", network, got, r.Authoritative, want)
		}
		r = query(t, srv.Addr(), network, "nowhere.example.", dns.TypeA)
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Errorf("%s: unknown name: got %s with %v, want NXDOMAIN with the upstream's SOA", network, dns.RcodeToString[r.Rcode], r.Ns)
		}
		// Bare names (a pod's search path exhausted) and names that look
		// like services without the zone go upstream too.
		r = query(t, srv.Addr(), network, "web.default.", dns.TypeA)
		if r.Rcode != dns.RcodeNameError {
			t.Errorf("%s: web.default.: got %s, want the upstream's NXDOMAIN", network, dns.RcodeToString[r.Rcode])
		}
	}
	if got := up.Queries("udp"); got != 3 {
		t.Errorf("upstream UDP queries: got %d, want 3", got)
	}
	if got := up.Queries("tcp"); got != 3 {
		t.Errorf("upstream TCP queries: got %d, want 3 (a TCP client is forwarded over TCP)", got)
	}
	if got := srv.Upstreams(); !slices.Equal(got, []string{up.Addr}) {
		t.Errorf("upstreams: got %v, want %v", got, []string{up.Addr})
	}
}

// A UDP answer the upstream truncates is fetched again over TCP, then
// fitted to the client's UDP size; the client's retry over TCP gets it all.
func TestForwardTruncated(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			up := dnstest.NewUpstream(t)
			var recs []string
			for i := range 60 {
				recs = append(recs, fmt.Sprintf("big.example. 60 IN A 192.0.2.%d", i+1))
			}
			up.Add(t, recs...)
			srv := start(t, zoneSource(), up, func(c *skiffdns.Config) {
				if !cached {
					c.Forward.CacheSize = -1
				}
			})
			r := query(t, srv.Addr(), "udp", "big.example.", dns.TypeA)
			if !r.Truncated || len(r.Answer) >= 60 {
				t.Errorf("udp: got TC=%v with %d answers, want TC with fewer than 60", r.Truncated, len(r.Answer))
			}
			if u, tc := up.Queries("udp"), up.Queries("tcp"); u != 1 || tc != 1 {
				t.Errorf("upstream after the UDP query: %d UDP and %d TCP queries, want 1 and 1", u, tc)
			}
			r = query(t, srv.Addr(), "tcp", "big.example.", dns.TypeA)
			if r.Truncated || len(r.Answer) != 60 {
				t.Errorf("tcp: got TC=%v with %d answers, want 60", r.Truncated, len(r.Answer))
			}
			wantTCP := 2
			if cached {
				wantTCP = 1
			}
			if got := up.Queries("tcp"); got != wantTCP {
				t.Errorf("upstream TCP queries: got %d, want %d", got, wantTCP)
			}
			// With EDNS0 the client gets what fits in 1232 bytes, no TC.
			m := new(dns.Msg)
			m.SetQuestion("big.example.", dns.TypeA)
			m.SetEdns0(4096, false)
			r = exchange(t, srv.Addr(), "udp", m)
			if r.Truncated || len(r.Answer) != 60 {
				t.Errorf("udp with EDNS0: got TC=%v with %d answers, want 60", r.Truncated, len(r.Answer))
			}
		})
	}
}

func TestForwardFailover(t *testing.T) {
	slow, broken, good := dnstest.NewUpstream(t), dnstest.NewUpstream(t), dnstest.NewUpstream(t)
	for _, u := range []*dnstest.Upstream{slow, broken, good} {
		u.Add(t, "example.com. 60 IN A 192.0.2.1")
	}
	slow.SetDelay(time.Second)
	broken.SetRcode(dns.RcodeServerFailure)
	srv := start(t, zoneSource(), nil, func(c *skiffdns.Config) {
		c.Forward.Upstreams = []string{slow.Addr, broken.Addr, good.Addr}
		c.Forward.Timeout = 200 * time.Millisecond
	})
	begin := time.Now()
	r := query(t, srv.Addr(), "udp", "example.com.", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("got %s with %d answers, want the third upstream's answer", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	if d := time.Since(begin); d > 1500*time.Millisecond {
		t.Errorf("took %v: the slow upstream was waited for past its timeout", d)
	}
	for i, u := range []*dnstest.Upstream{slow, broken, good} {
		if got := u.Queries("udp"); got != 1 {
			t.Errorf("upstream %d: %d queries, want 1", i, got)
		}
	}

	// Only failing upstreams: the last SERVFAIL, or SERVFAIL of our own.
	srv = start(t, zoneSource(), nil, func(c *skiffdns.Config) {
		c.Forward.Upstreams = []string{slow.Addr}
		c.Forward.Timeout = 200 * time.Millisecond
	})
	if r := query(t, srv.Addr(), "udp", "example.com.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("dead upstream: got %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	srv = start(t, zoneSource(), broken)
	if r := query(t, srv.Addr(), "udp", "example.com.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("failing upstream: got %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

func TestForwardCache(t *testing.T) {
	up := dnstest.NewUpstream(t)
	up.Add(t, "example.com. 60 IN A 192.0.2.1")
	srv := start(t, zoneSource(), up)
	for _, name := range []string{"example.com.", "EXAMPLE.com.", "example.com.", "eXaMpLe.CoM."} {
		r := query(t, srv.Addr(), "udp", name, dns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].Header().Ttl > 60 {
			t.Errorf("%s: got %v", name, r.Answer)
		}
		// A cached answer echoes each asker's spelling (DNS 0x20).
		if q := r.Question[0].Name; q != name || (len(r.Answer) == 1 && r.Answer[0].Header().Name != name) {
			t.Errorf("%s: answered for %q, records of %v; want the name as asked", name, q, r.Answer)
		}
	}
	for range 2 {
		if r := query(t, srv.Addr(), "udp", "gone.example.", dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("gone.example.: got %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	}
	if got := up.Queries("udp"); got != 2 {
		t.Errorf("upstream queries: got %d, want 2 (one per name, the rest cached)", got)
	}
}
