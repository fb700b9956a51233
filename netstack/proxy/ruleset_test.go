package proxy

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenState has one of each: ClusterIP with several endpoints, NodePort,
// LoadBalancer, ClientIP affinity, a service without endpoints, a
// headless one.
func goldenState() State {
	ep := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	return State{
		NodeAddresses: []netip.Addr{netip.MustParseAddr("192.168.1.20")},
		Services: []Service{
			{Namespace: "default", Name: "web", ClusterIP: netip.MustParseAddr("10.43.0.5"), Type: NodePort,
				Ports: []Port{{Name: "http", Port: 80, NodePort: 30080, Endpoints: []netip.AddrPort{ep("10.42.2.9:8080"), ep("10.42.1.7:8080")}}}},
			{Namespace: "kube-system", Name: "dns", ClusterIP: netip.MustParseAddr("10.43.0.10"), AffinityTimeout: 3 * time.Hour,
				Ports: []Port{{Protocol: UDP, Port: 53, Endpoints: []netip.AddrPort{ep("10.42.1.3:53"), ep("10.42.2.4:53")}}}},
			{Namespace: "home", Name: "ha", ClusterIP: netip.MustParseAddr("10.43.0.20"), Type: LoadBalancer,
				Ports: []Port{{Port: 8123, NodePort: 31123, Endpoints: []netip.AddrPort{ep("10.42.1.8:8123")}}}},
			{Namespace: "default", Name: "empty", ClusterIP: netip.MustParseAddr("10.43.0.30"), Type: NodePort,
				Ports: []Port{{Port: 80, NodePort: 30090}}},
			{Namespace: "default", Name: "headless", Ports: []Port{{Port: 80, Endpoints: []netip.AddrPort{ep("10.42.1.9:80")}}}},
		},
	}
}

// TestRulesetGolden: the rules for goldenState, as build renders them.
// Run with -update after a deliberate change and read the diff.
func TestRulesetGolden(t *testing.T) {
	st, err := goldenState().normalize()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "ruleset.golden", build(st).String())
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestFragmentsReused: a fragment is rebuilt only when its service, or
// for a LoadBalancer the node addresses, change.
func TestFragmentsReused(t *testing.T) {
	st, _ := goldenState().normalize()
	for _, svc := range st.Services {
		f := buildService(svc, st.NodeAddresses)
		if !f.current(svc, st.NodeAddresses) {
			t.Errorf("%s: fragment not current for its own service", svc.Key())
		}
		other := []netip.Addr{netip.MustParseAddr("192.168.1.21")}
		if got, want := f.current(svc, other), svc.Type != LoadBalancer; got != want {
			t.Errorf("%s: current with other node addresses = %v, want %v", svc.Key(), got, want)
		}
		moved := svc
		moved.Ports = append([]Port(nil), svc.Ports...)
		moved.Ports[0].Port++
		if f.current(moved, st.NodeAddresses) {
			t.Errorf("%s: fragment current for a service with another port", svc.Key())
		}
	}
}
