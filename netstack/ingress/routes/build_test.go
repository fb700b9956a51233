package routes

import (
	"reflect"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/server/api"
)

func app(name string, created int, idle bool, domains ...string) *api.App {
	a := &api.App{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "ns-" + name,
		CreationTimestamp: api.NewTime(time.Date(2026, 1, 1, 0, 0, created, 0, time.UTC))}}
	a.Spec.Domains = domains
	a.Status.Idle = idle
	return a
}

// deletedApp is an old App name, in namespace ns, being deleted.
func deletedApp(name, ns string) *api.App {
	a := app(name, -10, false)
	a.Namespace = ns
	t := api.NewTime(time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC))
	a.DeletionTimestamp = &t
	return a
}

func subset(port int32, ready []string, notReady ...string) api.EndpointSubset {
	ss := api.EndpointSubset{Ports: []api.EndpointPort{{Port: port, Protocol: api.ProtocolTCP}}}
	for _, ip := range ready {
		ss.Addresses = append(ss.Addresses, api.EndpointAddress{IP: ip})
	}
	for _, ip := range notReady {
		ss.NotReadyAddresses = append(ss.NotReadyAddresses, api.EndpointAddress{IP: ip})
	}
	return ss
}

func bs(addrs ...string) []ingress.Backend {
	var out []ingress.Backend
	for _, a := range addrs {
		out = append(out, ingress.Backend{Addr: a})
	}
	return out
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name      string
		apps      []*api.App
		endpoints map[string][]api.EndpointSubset // by app
		created   map[string]int                  // endpoints' creation second, by app; none: unset
		starting  []string
		want      []ingress.Route
		conflicts []conflict
	}{
		{
			name:      "default host and domains, ready addresses only",
			apps:      []*api.App{app("shop", 0, false, "Shop.Example.com.", "*.shop.example.com", "shop.apps.skiff.local")},
			endpoints: map[string][]api.EndpointSubset{"shop": {subset(5000, []string{"10.42.0.8", "10.42.0.7"}, "10.42.0.9")}},
			want: []ingress.Route{
				{Host: "shop.apps.skiff.local", App: "shop", Backends: bs("10.42.0.7:5000", "10.42.0.8:5000")},
				{Host: "shop.example.com", App: "shop", Backends: bs("10.42.0.7:5000", "10.42.0.8:5000")},
				{Host: "*.shop.example.com", App: "shop", Backends: bs("10.42.0.7:5000", "10.42.0.8:5000")},
			},
		},
		{
			name: "subsets with their own ports, IPv6, a named port among several",
			apps: []*api.App{app("web", 0, false)},
			endpoints: map[string][]api.EndpointSubset{"web": {
				subset(5000, []string{"fd00::7"}),
				{Addresses: []api.EndpointAddress{{IP: "10.42.0.7"}}, Ports: []api.EndpointPort{
					{Name: "metrics", Port: 9100}, {Name: "http", Port: 8080}, {Name: "dns", Port: 53, Protocol: api.ProtocolUDP}}},
				{Addresses: []api.EndpointAddress{{IP: "10.42.0.9"}}, Ports: []api.EndpointPort{{Port: 53, Protocol: api.ProtocolUDP}}},
			}},
			want: []ingress.Route{{Host: "web.apps.skiff.local", App: "web", Backends: bs("10.42.0.7:8080", "[fd00::7]:5000")}},
		},
		{
			name:      "no endpoints, idle, and an idle app started that lost its idle status",
			apps:      []*api.App{app("down", 0, false), app("sleepy", 1, true), app("waking", 2, false)},
			endpoints: map[string][]api.EndpointSubset{"down": {subset(5000, nil, "10.42.0.7")}},
			starting:  []string{"waking"},
			want: []ingress.Route{
				{Host: "down.apps.skiff.local", App: "down"},
				{Host: "sleepy.apps.skiff.local", App: "sleepy", Idle: true},
				{Host: "waking.apps.skiff.local", App: "waking", Idle: true},
			},
		},
		{
			name:      "a started app with a backend is no longer held idle",
			apps:      []*api.App{app("waking", 0, false)},
			endpoints: map[string][]api.EndpointSubset{"waking": {subset(5000, []string{"10.42.0.7"})}},
			starting:  []string{"waking"},
			want:      []ingress.Route{{Host: "waking.apps.skiff.local", App: "waking", Backends: bs("10.42.0.7:5000")}},
		},
		{
			name: "the older app keeps a host both claim, then the name decides",
			apps: []*api.App{app("zeta", 0, false, "www.example.com"), app("alpha", 5, false, "WWW.example.com", "zeta.apps.skiff.local"),
				app("bravo", 9, false, "shared.example.com"), app("able", 9, false, "shared.example.com")},
			want: []ingress.Route{
				{Host: "zeta.apps.skiff.local", App: "zeta"},
				{Host: "www.example.com", App: "zeta"},
				{Host: "alpha.apps.skiff.local", App: "alpha"},
				{Host: "able.apps.skiff.local", App: "able"},
				{Host: "shared.example.com", App: "able"},
				{Host: "bravo.apps.skiff.local", App: "bravo"},
			},
			conflicts: []conflict{
				{Host: "www.example.com", Winner: "zeta", Loser: "alpha"},
				{Host: "zeta.apps.skiff.local", Winner: "zeta", Loser: "alpha"},
				{Host: "shared.example.com", Winner: "able", Loser: "bravo"},
			},
		},
		{
			name: "an app's domain never takes another app's default host, however old",
			apps: []*api.App{app("old", 0, false, "young.apps.skiff.local", "old.example.com"), app("young", 5, false)},
			want: []ingress.Route{
				{Host: "old.apps.skiff.local", App: "old"},
				{Host: "old.example.com", App: "old"},
				{Host: "young.apps.skiff.local", App: "young"},
			},
			conflicts: []conflict{{Host: "young.apps.skiff.local", Winner: "young", Loser: "old"}},
		},
		{
			name:      "an app being deleted has no routes; its name goes to a live one of another namespace",
			apps:      []*api.App{deletedApp("shop", "gone"), app("shop", 9, false), deletedApp("closing", "ns-closing")},
			endpoints: map[string][]api.EndpointSubset{"shop": {subset(5000, []string{"10.42.0.7"})}, "closing": {subset(5000, []string{"10.42.0.9"})}},
			want:      []ingress.Route{{Host: "shop.apps.skiff.local", App: "shop", Backends: bs("10.42.0.7:5000")}},
		},
		{
			name:      "endpoints older than the app are a deleted namesake's",
			apps:      []*api.App{app("shop", 9, false)},
			endpoints: map[string][]api.EndpointSubset{"shop": {subset(5000, []string{"10.42.0.7"})}},
			created:   map[string]int{"shop": 3},
			want:      []ingress.Route{{Host: "shop.apps.skiff.local", App: "shop"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps := func(namespace, name string) *api.Endpoints {
				ss, ok := tt.endpoints[name]
				if !ok || namespace != "ns-"+name {
					return nil
				}
				ep := &api.Endpoints{Subsets: ss}
				if sec, ok := tt.created[name]; ok {
					ep.CreationTimestamp = api.NewTime(time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC))
				}
				return ep
			}
			starting := func(app string) bool {
				for _, s := range tt.starting {
					if s == app {
						return true
					}
				}
				return false
			}
			got, conflicts := build(tt.apps, eps, "apps.skiff.local", starting)
			for i := range got {
				if len(got[i].Backends) == 0 {
					got[i].Backends = nil
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("routes:\n got  %+v\n want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(conflicts, tt.conflicts) {
				t.Errorf("conflicts:\n got  %+v\n want %+v", conflicts, tt.conflicts)
			}
			if _, err := ingress.NewTable(got); err != nil {
				t.Errorf("router refuses the routes: %v", err)
			}
		})
	}
}
