package proxy

import (
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// Benchmarks of the figures, against the kernel in a test-owned
// node namespace (root only):
//
//	go test -run '^$' -bench . -benchtime 10x ./netstack/proxy/
//
// BenchmarkSyncFromEmpty   one Sync of 1,000 services × 10 endpoints
//                          into an empty namespace (aim: under 1 s)
// BenchmarkSyncOneEndpoint one endpoint of one of them changes (aim:
//                          under 50 ms)
// BenchmarkSyncNoChange    a resync that finds nothing to do
// BenchmarkSyncReadBack    a resync after someone else wrote to nftables:
//                          the table is read back and compared

const (
	benchServices  = 1000
	benchEndpoints = 10
)

// bigState is n services of m endpoints each, one TCP port, every tenth
// with session affinity and every other a NodePort. Endpoint j of service
// i is 10.252.<i/250>.<i%250>:<8000+j>, so that the change of one endpoint
// touches one service only.
func bigState(n, m int) State {
	st := State{NodeAddresses: []netip.Addr{nodeAddr}}
	for i := range n {
		s := Service{
			Namespace: fmt.Sprintf("ns%d", i%20), Name: fmt.Sprintf("svc%d", i),
			ClusterIP: netip.AddrFrom4([4]byte{10, 251, byte(i / 250), byte(i%250 + 1)}),
			Type:      ClusterIP,
		}
		p := Port{Protocol: TCP, Port: 80}
		if i%2 == 0 {
			s.Type, p.NodePort = NodePort, uint16(30000+i)
		}
		if i%10 == 0 {
			s.AffinityTimeout = 3 * time.Hour
		}
		for j := range m {
			p.Endpoints = append(p.Endpoints, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 252, byte(i / 250), byte(i%250 + 1)}), uint16(8000+j)))
		}
		s.Ports = []Port{p}
		st.Services = append(st.Services, s)
	}
	return st
}

func benchProxy(b *testing.B) (*topo, *Proxy) {
	tp := newTopo(b, 0)
	p := tp.proxy()
	p.log = slog.New(slog.DiscardHandler) // keep the output to the figures
	b.Cleanup(func() { p.Cleanup() })
	return tp, p
}

func BenchmarkSyncFromEmpty(b *testing.B) {
	_, p := benchProxy(b)
	st := bigState(benchServices, benchEndpoints)
	var res Result
	for b.Loop() {
		b.StopTimer()
		if err := p.Cleanup(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var err error
		if res, err = p.Sync(st); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/sync")
	b.ReportMetric(float64(res.Changes), "objects")
}

func BenchmarkSyncOneEndpoint(b *testing.B) {
	_, p := benchProxy(b)
	sts := [2]State{bigState(benchServices, benchEndpoints), bigState(benchServices, benchEndpoints)}
	// The second state moves one endpoint of service 500 to another
	// port.
	sts[1].Services[500].Ports[0].Endpoints[3] = netip.AddrPortFrom(sts[1].Services[500].Ports[0].Endpoints[3].Addr(), 9999)
	if _, err := p.Sync(sts[0]); err != nil {
		b.Fatal(err)
	}
	i := 0
	var res Result
	for b.Loop() {
		i++
		var err error
		if res, err = p.Sync(sts[i%2]); err != nil {
			b.Fatal(err)
		}
		if res.Changes == 0 || res.ReadBack {
			b.Fatalf("Sync of a changed endpoint: %+v, want an incremental write", res)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/sync")
	b.ReportMetric(float64(res.Changes), "objects")
}

func BenchmarkSyncNoChange(b *testing.B) {
	_, p := benchProxy(b)
	st := bigState(benchServices, benchEndpoints)
	if _, err := p.Sync(st); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if res, err := p.Sync(st); err != nil || res != (Result{}) {
			b.Fatalf("Sync of the same state: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/sync")
}

func BenchmarkSyncReadBack(b *testing.B) {
	tp, p := benchProxy(b)
	st := bigState(benchServices, benchEndpoints)
	if _, err := p.Sync(st); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		// Someone else's write moves the generation.
		if _, err := tp.nft("add table ip skiff-proxytest-other; delete table ip skiff-proxytest-other"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if res, err := p.Sync(st); err != nil || !res.ReadBack || res.Changes != 0 {
			b.Fatalf("Sync after a foreign write: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/sync")
}
