package dns

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"

	"github.com/skiffhq/skiff/server/api"
)

func benchObjects(n int) ([]*api.Service, []*api.Endpoints) {
	var svcs []*api.Service
	var eps []*api.Endpoints
	for i := range n {
		s := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("svc-%d", i)}}
		s.Spec.Ports = []api.ServicePort{{Name: "http", Protocol: api.ProtocolTCP, Port: 80}}
		s.Spec.ClusterIP = fmt.Sprintf("10.43.%d.%d", i/250, i%250+1)
		if i%10 == 9 {
			s.Spec.ClusterIP = api.ClusterIPNone
		}
		e := &api.Endpoints{ObjectMeta: s.ObjectMeta}
		sub := api.EndpointSubset{Ports: []api.EndpointPort{{Name: "http", Protocol: api.ProtocolTCP, Port: 8080}}}
		for j := range 10 {
			sub.Addresses = append(sub.Addresses, api.EndpointAddress{IP: fmt.Sprintf("10.42.%d.%d", i/250, i%250+j), Hostname: fmt.Sprintf("pod-%d", j)})
		}
		e.Subsets = []api.EndpointSubset{sub}
		svcs, eps = append(svcs, s), append(eps, e)
	}
	return svcs, eps
}

// Every name a service put in the index leaves with it: nothing is left
// behind after all services go, whatever order objects came in.
func TestIndexLeavesNothing(t *testing.T) {
	svcs, eps := benchObjects(100)
	x := newIndex("skiff.local.")
	for i := range svcs {
		if i%2 == 0 {
			x.UpdateEndpoints(eps[i].Namespace, eps[i].Name, eps[i])
			x.UpdateService(svcs[i].Namespace, svcs[i].Name, svcs[i])
		} else {
			x.UpdateService(svcs[i].Namespace, svcs[i].Name, svcs[i])
			x.UpdateEndpoints(eps[i].Namespace, eps[i].Name, eps[i])
		}
	}
	// 90 ClusterIP services: name + SRV; 10 headless: name + SRV + 10 pods.
	if got, want := x.size(), 90*2+10*12; got != want {
		t.Errorf("names: got %d, want %d", got, want)
	}
	for i := range svcs {
		x.UpdateService(svcs[i].Namespace, svcs[i].Name, svcs[i]) // no-op rebuild
		x.UpdateService(svcs[i].Namespace, svcs[i].Name, nil)
		if i%3 == 0 {
			x.UpdateEndpoints(eps[i].Namespace, eps[i].Name, nil)
		}
	}
	if len(x.names) != 0 || len(x.below) != 0 || len(x.owned) != 0 || len(x.services) != 0 {
		t.Errorf("left behind: %d names, %d non-terminals, %d owners, %d services", len(x.names), len(x.below), len(x.owned), len(x.services))
	}
}

// BenchmarkIndexBuild: indexing 1,000 services (100 headless with 10
// endpoints each) from nothing, as after the first list.
func BenchmarkIndexBuild(b *testing.B) {
	svcs, eps := benchObjects(1000)
	for b.Loop() {
		x := newIndex("skiff.local.")
		for i := range svcs {
			x.UpdateService(svcs[i].Namespace, svcs[i].Name, svcs[i])
			x.UpdateEndpoints(eps[i].Namespace, eps[i].Name, eps[i])
		}
	}
}

// BenchmarkIndexEndpointChange: one headless service's endpoints change
// among 1,000 services.
func BenchmarkIndexEndpointChange(b *testing.B) {
	svcs, eps := benchObjects(1000)
	x := newIndex("skiff.local.")
	for i := range svcs {
		x.UpdateService(svcs[i].Namespace, svcs[i].Name, svcs[i])
		x.UpdateEndpoints(eps[i].Namespace, eps[i].Name, eps[i])
	}
	e := eps[999]
	fewer := api.Clone(e)
	fewer.Subsets[0].Addresses = fewer.Subsets[0].Addresses[1:]
	i := 0
	for b.Loop() {
		if i++; i%2 == 0 {
			x.UpdateEndpoints(e.Namespace, e.Name, e)
		} else {
			x.UpdateEndpoints(e.Namespace, e.Name, fewer)
		}
	}
}

// BenchmarkAnswer: building the answer to an A query in the zone, without
// the network.
func BenchmarkAnswer(b *testing.B) {
	svcs, eps := benchObjects(1000)
	s, err := New(Config{Addr: "127.0.0.1:0", Source: sourceFunc(nil), Forward: ForwardConfig{Upstreams: []string{"127.0.0.1:1"}}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range svcs {
		s.index.UpdateService(svcs[i].Namespace, svcs[i].Name, svcs[i])
		s.index.UpdateEndpoints(eps[i].Namespace, eps[i].Name, eps[i])
	}
	s.index.MarkSynced()
	req := new(dns.Msg)
	req.SetQuestion("svc-500.ns-0.svc.skiff.local.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if r := s.answer(req, false); len(r.Answer) != 1 {
			b.Fatalf("got %v", r)
		}
	}
}
