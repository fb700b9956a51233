package dns_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	skiffdns "github.com/skiffhq/skiff/netstack/dns"
)

// The agent may hand the server its sockets (bound to the cluster DNS
// address however it likes); they are served and closed at the end.
func TestGivenConns(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, zoneSource(), nil, func(c *skiffdns.Config) { c.Addr, c.PacketConn, c.Listener = "", pc, ln })
	if got := srv.Addr(); got != pc.LocalAddr().String() {
		t.Errorf("addr: got %s, want %s", got, pc.LocalAddr())
	}
	for network, addr := range map[string]string{"udp": pc.LocalAddr().String(), "tcp": ln.Addr().String()} {
		if r := query(t, addr, network, "web.default"+z, dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("%s: got %v", network, r)
		}
	}
}

func TestListenSharesPortAndFails(t *testing.T) {
	srv := start(t, zoneSource(), nil)
	_, p, _ := net.SplitHostPort(srv.Addr())
	if n, _ := strconv.Atoi(p); n == 0 {
		t.Fatalf("addr %s", srv.Addr())
	}
	// UDP and TCP answer on the same port.
	for _, network := range []string{"udp", "tcp"} {
		if r := query(t, srv.Addr(), network, "web.default"+z, dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("%s: got %v", network, r)
		}
	}
	// A taken address is Run's error, not a hang.
	other, err := skiffdns.New(skiffdns.Config{Addr: srv.Addr(), Source: zoneSource()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := other.Run(ctx); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("run on a taken address: got %v, want a listen error", err)
	}
}
