package dns

import (
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size the server advertises (the DNS flag
// day 2020 value: no fragmentation on common paths).
const ednsSize = 1232

// ServeDNS answers one query: in the zone from the index, elsewhere
// through the forwarder.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	overTCP := false
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		overTCP = true
	}
	resp := s.answer(req, overTCP)
	if resp == nil {
		return
	}
	if !overTCP {
		resp.Truncate(udpSize(req))
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns write", "client", w.RemoteAddr().String(), "err", err)
	}
}

// udpSize is how large a UDP answer to req may be.
func udpSize(req *dns.Msg) int {
	if o := req.IsEdns0(); o != nil {
		return int(max(dns.MinMsgSize, min(o.UDPSize(), ednsSize)))
	}
	return dns.MinMsgSize
}

func (s *Server) answer(req *dns.Msg, overTCP bool) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return s.reply(req, dns.RcodeNotImplemented)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if s.inZone(name) {
		return s.answerZone(req, name)
	}
	if q.Qclass != dns.ClassINET {
		return s.reply(req, dns.RcodeRefused)
	}
	// Each attempt has Forward.Timeout; the whole search is bounded too,
	// near the 5 s after which a stub resolver has given up on us anyway.
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.Forward.Timeout+time.Second)
	defer cancel()
	resp, err := s.fwd.forward(ctx, req, overTCP)
	if err != nil {
		s.log.Debug("dns forward", "name", q.Name, "type", dns.TypeToString[q.Qtype], "err", err)
		return s.reply(req, dns.RcodeServerFailure)
	}
	resp.Compress = true
	return resp
}

// reply is an empty answer to req with rcode.
func (s *Server) reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	if req.IsEdns0() != nil {
		m.SetEdns0(ednsSize, false)
	}
	return m
}

// answerZone answers a name in the zone from the index.
func (s *Server) answerZone(req *dns.Msg, name string) *dns.Msg {
	q := req.Question[0]
	switch {
	case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		return s.reply(req, dns.RcodeRefused)
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		return s.reply(req, dns.RcodeRefused)
	case !s.index.synced.Load():
		return s.reply(req, dns.RcodeServerFailure)
	}
	m := s.reply(req, dns.RcodeSuccess)
	m.Authoritative = true
	m.Compress = true
	rs, exists := s.index.lookup(name)
	if !exists {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{s.soa()}
		return m
	}
	if name == s.zone && (q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY) {
		soa := s.soa()
		soa.Hdr.Name = q.Name
		m.Answer = append(m.Answer, soa)
	}
	if rs != nil {
		s.appendRecords(m, q, rs)
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{s.soa()} // NODATA
	}
	return m
}

// appendRecords adds rs's records of the asked type, owned by the name as
// asked (the case a resolver used for 0x20 comes back unchanged).
func (s *Server) appendRecords(m *dns.Msg, q dns.Question, rs *rrset) {
	all := q.Qtype == dns.TypeANY
	if q.Qtype == dns.TypeA || all {
		m.Answer = s.appendIPs(m.Answer, q.Name, rs.a, dns.TypeA)
	}
	if q.Qtype == dns.TypeAAAA || all {
		m.Answer = s.appendIPs(m.Answer, q.Name, rs.aaaa, dns.TypeAAAA)
	}
	if (q.Qtype == dns.TypeSRV || all) && len(rs.srv) > 0 {
		start := len(m.Answer)
		targets := map[string]bool{}
		for _, r := range rs.srv {
			m.Answer = append(m.Answer, &dns.SRV{
				Hdr:      s.hdr(q.Name, dns.TypeSRV),
				Priority: 0, Weight: r.weight, Port: r.port, Target: r.target,
			})
			if targets[r.target] {
				continue
			}
			targets[r.target] = true
			if t, _ := s.index.lookup(r.target); t != nil {
				m.Extra = s.appendIPs(m.Extra, r.target, t.a, dns.TypeA)
				m.Extra = s.appendIPs(m.Extra, r.target, t.aaaa, dns.TypeAAAA)
			}
		}
		shuffle(m.Answer[start:])
	}
}

// appendIPs adds one A or AAAA record per IP, in a random order so that
// clients taking the first spread over a headless service's pods.
func (s *Server) appendIPs(rrs []dns.RR, owner string, ips []net.IP, t uint16) []dns.RR {
	start := len(rrs)
	for _, ip := range ips {
		if t == dns.TypeA {
			rrs = append(rrs, &dns.A{Hdr: s.hdr(owner, t), A: ip})
		} else {
			rrs = append(rrs, &dns.AAAA{Hdr: s.hdr(owner, t), AAAA: ip})
		}
	}
	shuffle(rrs[start:])
	return rrs
}

func shuffle(rrs []dns.RR) {
	if len(rrs) > 1 {
		rand.Shuffle(len(rrs), func(i, j int) { rrs[i], rrs[j] = rrs[j], rrs[i] })
	}
}

func (s *Server) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.ttl}
}

// soa is the zone's SOA, whose minimum is the negative TTL (RFC 2308).
// The serial is fixed: nothing transfers this zone.
func (s *Server) soa() *dns.SOA {
	return &dns.SOA{
		Hdr:     s.hdr(s.zone, dns.TypeSOA),
		Ns:      "ns.dns." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  1,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  s.ttl,
	}
}
