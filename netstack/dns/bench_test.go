package dns_test

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	skiffdns "github.com/skiffhq/skiff/netstack/dns"
	"github.com/skiffhq/skiff/netstack/dns/dnstest"
	"github.com/skiffhq/skiff/server/api"
)

// benchServices is how many services the benchmarks index: 1,000, in 10
// namespaces, every tenth headless with 10 endpoints.
const benchServices = 1000

func benchSource() (*dnstest.Source, []string) {
	src := dnstest.NewSource()
	var names []string
	for i := range benchServices {
		ns, name := fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("svc-%d", i)
		if i%10 == 9 {
			src.SetService(service(ns, name, api.ClusterIPNone, port("http", api.ProtocolTCP, 80)))
			var addrs []string
			for j := range 10 {
				addrs = append(addrs, fmt.Sprintf("10.42.%d.%d=%s-%d", i/250, (i%250)+j, name, j))
			}
			src.SetEndpoints(endpoints(ns, name, []api.EndpointPort{epPort("http", api.ProtocolTCP, 8080)}, addrs...))
			continue
		}
		src.SetService(service(ns, name, fmt.Sprintf("10.43.%d.%d", i/250, i%250+1), port("http", api.ProtocolTCP, 80)))
		names = append(names, name+"."+ns+".svc.skiff.local.")
	}
	return src, names
}

// measure sends b.N queries from several clients at once, each over its
// own UDP socket, and reports queries/s and the p99 latency.
func measure(b *testing.B, addr string, names []string, qtype uint16) {
	clients := 4 * runtime.GOMAXPROCS(0)
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	per := b.N/clients + 1
	b.ResetTimer()
	begin := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("udp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			co := &dns.Conn{Conn: conn}
			defer co.Close()
			cl := &dns.Client{Timeout: 2 * time.Second}
			ls := make([]time.Duration, 0, per)
			m := new(dns.Msg)
			for i := range per {
				m.SetQuestion(names[(c*per+i)%len(names)], qtype)
				t0 := time.Now()
				r, _, err := cl.ExchangeWithConn(m, co)
				if err != nil {
					b.Error(err)
					return
				}
				ls = append(ls, time.Since(t0))
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					b.Errorf("%s: %s with %d answers", m.Question[0].Name, dns.RcodeToString[r.Rcode], len(r.Answer))
					return
				}
			}
			lat[c] = ls
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	qps := float64(len(all)) / elapsed.Seconds()
	p50, p99 := all[len(all)/2], all[len(all)*99/100]
	b.ReportMetric(qps, "qps")
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.Logf("%d queries, %d clients: %.0f qps, p50 %v, p99 %v", len(all), clients, qps, p50, p99)
}

// BenchmarkZoneA: an A query for one of 1,000 services, over UDP on
// loopback, client and server on the same machine.
func BenchmarkZoneA(b *testing.B) {
	src, names := benchSource()
	srv := start(b, src, nil)
	measure(b, srv.Addr(), names, dns.TypeA)
}

// BenchmarkForward: a name outside the zone, forwarded to a fake
// upstream on loopback; with the cache off every query goes upstream.
func BenchmarkForward(b *testing.B) {
	up := dnstest.NewUpstream(b)
	var names []string
	for i := range 100 {
		n := fmt.Sprintf("host-%d.example.com.", i)
		up.Add(b, n+" 300 IN A 192.0.2.1")
		names = append(names, n)
	}
	for _, cache := range []int{-1, 1024} {
		b.Run(fmt.Sprintf("cache=%v", cache > 0), func(b *testing.B) {
			src, _ := benchSource()
			srv := start(b, src, up, func(c *skiffdns.Config) { c.Forward.CacheSize = cache })
			measure(b, srv.Addr(), names, dns.TypeA)
		})
	}
}
