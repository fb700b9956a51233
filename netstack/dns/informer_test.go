package dns_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	skiffdns "github.com/skiffhq/skiff/netstack/dns"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// newRegistry is the real control plane in process: the registry over a
// bbolt store in the test's directory.
func newRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st, BookmarkInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}
	return reg
}

// eventually polls a query until check passes, for up to a second (the
// bound the issue sets from an informer event to DNS).
func eventually(t *testing.T, what string, addr, name string, qtype uint16, check func(*dns.Msg) bool) {
	t.Helper()
	begin := time.Now()
	deadline := begin.Add(time.Second)
	for {
		r := query(t, addr, "udp", name, qtype)
		if check(r) {
			t.Logf("%s: %s %s after %v", what, name, dns.TypeToString[qtype], time.Since(begin).Round(time.Microsecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after 1s %s %s is %s %v", what, name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], rrs(r.Answer))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func answers(want ...string) func(*dns.Msg) bool {
	slices.Sort(want)
	return func(r *dns.Msg) bool { return r.Rcode == dns.RcodeSuccess && slices.Equal(rrs(r.Answer), want) }
}

func rcode(rc int) func(*dns.Msg) bool { return func(r *dns.Msg) bool { return r.Rcode == rc } }

func TestInformerSource(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	services := client.For[*api.Service](reg, "default")
	eps := client.For[*api.Endpoints](reg, "default")

	// Some exist before the server starts, some come after.
	if _, err := services.Create(ctx, service("default", "web", "10.43.0.20", port("http", api.ProtocolTCP, 80))); err != nil {
		t.Fatal(err)
	}
	if _, err := services.Create(ctx, service("default", "db", api.ClusterIPNone, port("pg", api.ProtocolTCP, 5432))); err != nil {
		t.Fatal(err)
	}
	if _, err := eps.Create(ctx, endpoints("default", "db", []api.EndpointPort{epPort("pg", api.ProtocolTCP, 5432)}, "10.42.0.5=db-0")); err != nil {
		t.Fatal(err)
	}

	srv := start(t, skiffdns.NewInformerSource(client.NewInformers(reg, nil)), nil)
	addr := srv.Addr()
	if !srv.Synced() {
		t.Fatal("not synced")
	}
	// Straight after the first list, without polling.
	if r := query(t, addr, "udp", "web.default"+z, dns.TypeA); !answers("web.default" + z + " A 10.43.0.20")(r) {
		t.Errorf("listed service: got %s %v", dns.RcodeToString[r.Rcode], rrs(r.Answer))
	}
	if r := query(t, addr, "tcp", "_pg._tcp.db.default"+z, dns.TypeSRV); !answers("_pg._tcp.db.default" + z + " SRV 0 100 5432 db-0.db.default" + z)(r) {
		t.Errorf("listed headless SRV: got %s %v", dns.RcodeToString[r.Rcode], rrs(r.Answer))
	}

	// An endpoint added appears.
	ep, err := eps.Get(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	ep = api.Clone(ep)
	ep.Subsets[0].Addresses = append(ep.Subsets[0].Addresses, api.EndpointAddress{IP: "10.42.1.6", Hostname: "db-1"})
	if _, err := eps.Update(ctx, ep); err != nil {
		t.Fatal(err)
	}
	eventually(t, "endpoint added", addr, "db.default"+z, dns.TypeA, answers("db.default"+z+" A 10.42.0.5", "db.default"+z+" A 10.42.1.6"))
	eventually(t, "endpoint added", addr, "db-1.db.default"+z, dns.TypeA, answers("db-1.db.default"+z+" A 10.42.1.6"))

	// A service created in another namespace appears.
	if _, err := client.For[*api.Service](reg, "skiff-system").Create(ctx, service("skiff-system", "api", "10.43.0.1", port("https", api.ProtocolTCP, 443))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "service created", addr, "_https._tcp.api.skiff-system"+z, dns.TypeSRV, answers("_https._tcp.api.skiff-system"+z+" SRV 0 100 443 api.skiff-system"+z))

	// A deleted service is NXDOMAIN, its names and all.
	if _, err := services.Delete(ctx, "web", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "service deleted", addr, "web.default"+z, dns.TypeA, rcode(dns.RcodeNameError))
	eventually(t, "service deleted", addr, "_http._tcp.web.default"+z, dns.TypeSRV, rcode(dns.RcodeNameError))
	if _, err := services.Delete(ctx, "db", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "headless deleted", addr, "db-0.db.default"+z, dns.TypeA, rcode(dns.RcodeNameError))
	eventually(t, "namespace emptied", addr, "default"+z, dns.TypeA, rcode(dns.RcodeNameError))
}
