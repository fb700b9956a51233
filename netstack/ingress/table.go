package ingress

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
)

// Backend is one place a route's requests can go: a ready pod of the
// app's web process.
type Backend struct {
	// Addr is the backend's "host:port", e.g. "10.42.0.7:5000". Requests
	// reach it over plain HTTP/1.1.
	Addr string
}

// Route sends the requests for one host name to one app.
type Route struct {
	// Host is an exact host name ("shop.example.com") or a wildcard of
	// one leftmost label ("*.apps.example.com", which matches
	// "a.apps.example.com" but neither "apps.example.com" nor
	// "a.b.apps.example.com"). Case does not matter; no port.
	Host string
	// App names the app, for error pages, access logs and Activate.
	App string
	// Backends are where requests go, spread by least in-flight requests
	// with round-robin among equals. Empty means the app has nothing
	// ready: the router answers 503, or holds the request when Idle.
	Backends []Backend
	// Idle marks an app scaled to zero: a request for it calls
	// Config.Activate and waits until a later table gives the route a
	// backend.
	Idle bool
}

// Table is an immutable set of routes, looked up by request host. Build
// one with NewTable and hand it to Router.SetTable; build a new one for
// every change.
type Table struct {
	exact    map[string]*route // lowercased host
	wildcard map[string]*route // lowercased suffix after "*."
	backends map[string]bool   // every backend addr of every route
	n        int
}

// route is a Route as the router uses it.
type route struct {
	Route
	next atomic.Uint32 // round-robin start among backends
}

// NewTable checks routes and indexes them by host. Every host may appear
// once; a backend may appear once per route.
func NewTable(routes []Route) (*Table, error) {
	t := &Table{exact: make(map[string]*route), wildcard: make(map[string]*route), backends: make(map[string]bool)}
	owner := make(map[string]string, len(routes)) // normalized host -> app
	var errs []error
	for i, rt := range routes {
		host, wild, err := checkHost(rt.Host)
		if err != nil {
			errs = append(errs, fmt.Errorf("ingress: route %d (app %q): %w", i, rt.App, err))
			continue
		}
		if rt.App == "" {
			errs = append(errs, fmt.Errorf("ingress: route %d (host %q): app is required", i, rt.Host))
			continue
		}
		key := host
		if wild {
			key = "*." + host
		}
		if prev, ok := owner[key]; ok {
			errs = append(errs, fmt.Errorf("ingress: host %q is routed twice, to app %q and to app %q: give each host to one app", key, prev, rt.App))
			continue
		}
		if err := checkBackends(rt.Backends); err != nil {
			errs = append(errs, fmt.Errorf("ingress: route %q (app %q): %w", rt.Host, rt.App, err))
			continue
		}
		owner[key] = rt.App
		r := &route{Route: rt}
		r.Host = key
		r.Backends = append([]Backend(nil), rt.Backends...)
		for _, b := range rt.Backends {
			t.backends[b.Addr] = true
		}
		if wild {
			t.wildcard[host] = r
		} else {
			t.exact[host] = r
		}
		t.n++
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// Len is the number of routes in t.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return t.n
}

// Lookup returns the route a request with Host header host would take:
// the port and a trailing dot are ignored, case does not matter, and an
// exact host beats a wildcard. The returned Route's Host is in the
// table's form (lowercase, no trailing dot) and its Backends must not be
// modified.
func (t *Table) Lookup(host string) (Route, bool) {
	r := t.lookup(host)
	if r == nil {
		return Route{}, false
	}
	return r.Route, true
}

func (t *Table) lookup(hostport string) *route {
	if t == nil {
		return nil
	}
	host := normalizeHost(hostport)
	if host == "" {
		return nil
	}
	if r := t.exact[host]; r != nil {
		return r
	}
	if len(t.wildcard) == 0 {
		return nil
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		return t.wildcard[host[i+1:]]
	}
	return nil
}

// normalizeHost strips the port, brackets and a trailing dot from a Host
// header and lowercases it, without allocating when it is already
// lowercase.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// checkHost validates a route host and returns it normalized, and for a
// wildcard the part after "*.".
func checkHost(h string) (host string, wildcard bool, err error) {
	if h == "" {
		return "", false, errors.New("host is required (e.g. shop.example.com or *.apps.example.com)")
	}
	name := strings.ToLower(strings.TrimSuffix(h, "."))
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		name, wildcard = rest, true
	}
	if strings.ContainsAny(name, ":/") {
		return "", false, fmt.Errorf("host %q must be a bare host name, without port or path", h)
	}
	labels := strings.Split(name, ".")
	if wildcard && len(labels) < 2 {
		return "", false, fmt.Errorf("wildcard host %q must have at least two labels after \"*.\" (e.g. *.apps.example.com)", h)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", false, fmt.Errorf("host %q has an empty or over-long label", h)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
			if !ok {
				hint := ""
				if c == '*' {
					hint = ": a wildcard is allowed only as the whole leftmost label, \"*.\""
				}
				return "", false, fmt.Errorf("host %q has character %q, which no DNS name may hold%s", h, c, hint)
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", false, fmt.Errorf("host %q has a label that starts or ends with '-'", h)
		}
	}
	return name, wildcard, nil
}

func checkBackends(bs []Backend) error {
	seen := make(map[string]bool, len(bs))
	for i, b := range bs {
		host, port, err := net.SplitHostPort(b.Addr)
		if err != nil || host == "" {
			return fmt.Errorf("backend %d: addr %q must be host:port (e.g. 10.42.0.7:5000)", i, b.Addr)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("backend %d: addr %q has port %q, want 1-65535", i, b.Addr, port)
		}
		if seen[b.Addr] {
			return fmt.Errorf("backend %q is listed twice: list each backend once", b.Addr)
		}
		seen[b.Addr] = true
	}
	return nil
}
