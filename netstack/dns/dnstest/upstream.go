package dnstest

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Upstream is a resolver on 127.0.0.1, UDP and TCP on one port, answering
// from records a test adds. Unknown names are NXDOMAIN (with an SOA of
// the root). UDP answers are truncated to the query's size, so a name
// with many records exercises the TCP fallback.
type Upstream struct {
	// Addr is "127.0.0.1:port".
	Addr string

	mu      sync.Mutex
	records map[string][]dns.RR // lower(name)/type → records
	names   map[string]bool     // lower(name) with any record
	queries map[string]int      // "udp", "tcp" → count
	delay   time.Duration
	rcode   int
}

// NewUpstream starts an Upstream, stopped when the test ends.
func NewUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{records: map[string][]dns.RR{}, names: map[string]bool{}, queries: map[string]int{}, rcode: -1}
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			t.Fatal(err)
		}
	}
	u.Addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return u
}

// Add adds records, in zone-file syntax ("example.com. 60 IN A 192.0.2.1").
func (u *Upstream) Add(t testing.TB, records ...string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("record %q: %v", s, err)
		}
		k := key(rr.Header().Name, rr.Header().Rrtype)
		u.records[k] = append(u.records[k], rr)
		u.names[strings.ToLower(rr.Header().Name)] = true
	}
}

// SetDelay makes every answer wait d (0: none), to test timeouts.
func (u *Upstream) SetDelay(d time.Duration) {
	u.mu.Lock()
	u.delay = d
	u.mu.Unlock()
}

// SetRcode makes every answer an empty one with rcode (-1: normal).
func (u *Upstream) SetRcode(rcode int) {
	u.mu.Lock()
	u.rcode = rcode
	u.mu.Unlock()
}

// Queries is how many queries came over network ("udp" or "tcp").
func (u *Upstream) Queries(network string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.queries[network]
}

func key(name string, t uint16) string {
	return strings.ToLower(dns.Fqdn(name)) + "/" + strconv.Itoa(int(t))
}

// ServeDNS implements dns.Handler.
func (u *Upstream) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	q := req.Question[0]
	u.mu.Lock()
	u.queries[network]++
	rrs := u.records[key(q.Name, q.Qtype)]
	known := u.names[strings.ToLower(q.Name)]
	delay, rcode := u.delay, u.rcode
	u.mu.Unlock()
	time.Sleep(delay)

	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	switch {
	case rcode >= 0:
		m.Rcode = rcode
	case len(rrs) > 0:
		for _, rr := range rrs {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	case !known:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{&dns.SOA{
			Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns:  "a.root-servers.net.", Mbox: "nstld.verisign-grs.com.", Serial: 1,
			Refresh: 1800, Retry: 900, Expire: 604800, Minttl: 60,
		}}
	}
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), false)
	}
	if network == "udp" {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}
