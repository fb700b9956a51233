package routes

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/server/api"
)

// conflict is a host two apps claim: Winner routes it (the app it is
// the default host of, else the older).
type conflict struct {
	Host, Winner, Loser string
}

// build turns apps and their Endpoints into routes, in the order of the
// apps' age. endpoints looks up the Endpoints of an app's web Service;
// starting reports an app Activate started that should stay idle until
// it has a backend. It is a pure function of its inputs.
func build(apps []*api.App, endpoints func(namespace, name string) *api.Endpoints, domain string, starting func(app string) bool) ([]ingress.Route, []conflict) {
	// An App being deleted is routed no more: the endpoints controller
	// stops updating the Endpoints of its Service, being deleted with it,
	// which would go on listing its stopping pods as ready. Its name may
	// be taken again at once, in another namespace.
	apps = slices.DeleteFunc(slices.Clone(apps), func(a *api.App) bool { return a.DeletionTimestamp != nil })
	slices.SortFunc(apps, func(a, b *api.App) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	type target struct {
		backends []ingress.Backend
		idle     bool
	}
	targets := make([]target, len(apps))
	for i, app := range apps {
		ep := endpoints(app.Namespace, app.Name)
		if ep != nil && !ep.CreationTimestamp.IsZero() && ep.CreationTimestamp.Before(app.CreationTimestamp.Time) {
			// Older than the App: those of the Service of a deleted App of
			// the same name, the garbage collector has yet to remove,
			// listing its pods. The app's own come with its Service.
			ep = nil
		}
		bs := backendsOf(ep)
		targets[i] = target{bs, app.Status.Idle || len(bs) == 0 && starting != nil && starting(app.Name)}
	}
	owner := make(map[string]string) // host -> app
	perApp := make([][]ingress.Route, len(apps))
	var conflicts []conflict
	add := func(i int, host string) {
		app := apps[i].Name
		if prev, ok := owner[host]; ok {
			if prev != app {
				conflicts = append(conflicts, conflict{Host: host, Winner: prev, Loser: app})
			}
			return
		}
		owner[host] = app
		perApp[i] = append(perApp[i], ingress.Route{Host: host, App: app, Backends: targets[i].backends, Idle: targets[i].idle})
	}
	// Every app's default host first: an app's domains never take
	// another app's default host, however old the app is.
	for i, app := range apps {
		add(i, defaultHost(app, domain))
	}
	for i, app := range apps {
		for _, host := range hostsOf(app, domain)[1:] {
			add(i, host)
		}
	}
	return slices.Concat(perApp...), conflicts
}

// defaultHost is app's own host under the apps domain.
func defaultHost(app *api.App, domain string) string {
	return strings.ToLower(app.Name) + "." + domain
}

// hostsOf is app's default host and its domains, lowercased, without a
// trailing dot, each once.
func hostsOf(app *api.App, domain string) []string {
	hosts := make([]string, 0, 1+len(app.Spec.Domains))
	hosts = append(hosts, defaultHost(app, domain))
	for _, d := range app.Spec.Domains {
		h := strings.ToLower(strings.TrimSuffix(d, "."))
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// backendsOf is the ready addresses of ep at their subset's web port,
// sorted, each once. Not-ready and terminating pods, which the endpoints
// controller lists as notReadyAddresses, are left out.
func backendsOf(ep *api.Endpoints) []ingress.Backend {
	if ep == nil {
		return nil
	}
	var addrs []string
	for _, ss := range ep.Subsets {
		port, ok := webPort(ss.Ports)
		if !ok {
			continue
		}
		for _, a := range ss.Addresses {
			if a.IP != "" {
				addrs = append(addrs, net.JoinHostPort(a.IP, strconv.Itoa(int(port))))
			}
		}
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	bs := make([]ingress.Backend, len(addrs))
	for i, a := range addrs {
		bs[i] = ingress.Backend{Addr: a}
	}
	return bs
}

// webPort picks the port of a subset the router sends HTTP to: the only
// TCP port (the app's web Service has one), else one named "http" or
// "web", else the first TCP port.
func webPort(ports []api.EndpointPort) (int32, bool) {
	var tcp []api.EndpointPort
	for _, p := range ports {
		if (p.Protocol == "" || p.Protocol == api.ProtocolTCP) && p.Port > 0 && p.Port <= 65535 {
			tcp = append(tcp, p)
		}
	}
	if len(tcp) == 0 {
		return 0, false
	}
	for _, p := range tcp {
		if p.Name == "http" || p.Name == "web" {
			return p.Port, true
		}
	}
	return tcp[0].Port, true
}
