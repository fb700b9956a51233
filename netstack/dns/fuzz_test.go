package dns

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzAnswer: whatever a client sends that parses as a message, the
// answer packs and echoes its ID. (Parsing itself is miekg/dns's.)
func FuzzAnswer(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"svc-9.ns-9.svc.skiff.local.", dns.TypeSRV},
		{"_http._tcp.svc-9.ns-9.svc.skiff.local.", dns.TypeSRV},
		{"pod-1.svc-9.ns-9.svc.skiff.local.", dns.TypeANY},
		{"svc-1.ns-1.svc.skiff.local.", dns.TypeA},
		{"skiff.local.", dns.TypeSOA},
		{"x.skiff.local.", dns.TypeAXFR},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(512, true)
		b, _ := m.Pack()
		f.Add(b)
	}
	svcs, eps := benchObjects(20)
	s, err := New(Config{Addr: "127.0.0.1:0", Source: sourceFunc(nil), Forward: ForwardConfig{Upstreams: []string{"127.0.0.1:1"}, CacheSize: -1}})
	if err != nil {
		f.Fatal(err)
	}
	for i := range svcs {
		s.index.UpdateService(svcs[i].Namespace, svcs[i].Name, svcs[i])
		s.index.UpdateEndpoints(eps[i].Namespace, eps[i].Name, eps[i])
	}
	s.index.MarkSynced()
	f.Fuzz(func(t *testing.T, b []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil || req.Response {
			return
		}
		if len(req.Question) == 1 && !s.inZone(dns.CanonicalName(req.Question[0].Name)) {
			return // forwarding is not this test's business
		}
		for _, tcp := range []bool{false, true} {
			r := s.answer(req, tcp)
			if !tcp {
				r.Truncate(udpSize(req))
			}
			if _, err := r.Pack(); err != nil {
				t.Fatalf("answer to %v does not pack: %v", req, err)
			}
			if r.Id != req.Id {
				t.Fatalf("answer ID %d, query ID %d", r.Id, req.Id)
			}
		}
	})
}
