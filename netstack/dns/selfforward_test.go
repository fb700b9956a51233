package dns_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	skiffdns "github.com/skiffhq/skiff/netstack/dns"
)

type countingPC struct {
	net.PacketConn
	n *atomic.Int64
}

func (c countingPC) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.n.Add(1)
	}
	return n, a, err
}

// The upstreams name the address the server itself listens on (a node
// whose resolv.conf points at cluster DNS): it must not forward to
// itself. (Found in review: one query became 19,990.)
func TestNoForwardingToItself(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	self := pc.LocalAddr().String()
	start(t, zoneSource(), nil, func(c *skiffdns.Config) {
		c.Addr, c.PacketConn, c.Listener = "", countingPC{pc, &n}, nil
		c.Forward.Upstreams = []string{self}
		c.Forward.Timeout = 2 * time.Second
	})
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeA)
	cl := &dns.Client{Net: "udp", Timeout: 8 * time.Second}
	cl.Exchange(m, self)
	if got := n.Load(); got > 1 {
		t.Errorf("forwarded to itself: the server received %d queries for one", got)
	}
}
