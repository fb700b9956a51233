// Package ingress is the app router: one HTTP(S) handler on :80/:443 of a
// node that sends each request, by its Host header, to a ready backend of
// the app that owns the host, and streams the answer back.
//
//	SetTable(*Table) ──► atomic table ◄── lookup(Host) ──┐
//	  (controller, on                                      │
//	   every change)        client ──► Router.ServeHTTP ───┤
//	                                                       ▼
//	                      no route: 404 ◄── route ──► no backends: 503,
//	                                          │        or hold while Activate
//	                                          ▼        starts an idle app
//	                               pick backend (least in flight,
//	                               round-robin among equals), count it
//	                                          │
//	                                          ▼
//	                 httputil.ReverseProxy (Rewrite: X-Forwarded-*)
//	                 ─► backend; connect refused on GET/HEAD: next
//	                    backend once; otherwise 502 naming the app
//
// A Table is immutable and built with NewTable from Routes (exact hosts
// and "*.domain" wildcards of one label; exact wins). SetTable swaps it
// atomically: requests already proxied finish on the backend they were
// sent to even if the new table drops it, and Router.InFlight tells a
// rollout controller when a dropped backend has drained. A route marked
// Idle with no backends is an app scaled to zero: the request is held,
// Config.Activate is called once for the burst, and the request is served
// as soon as a later table gives the route a backend (or gets a 503 after
// Config.ActivateTimeout).
//
// Clients speak HTTP/1.1, or HTTP/2 over TLS (Router.Server serves both);
// backends are spoken to in HTTP/1.1 over plain TCP. WebSocket upgrades
// pass through, server-sent events and responses of unknown length are
// flushed after every write, and request and response bodies are
// streamed, never buffered whole.
//
// The package does not own certificates (ACME lives beside it), the
// HTTP→HTTPS redirect, or the building of tables from Apps and Endpoints:
// a controller outside turns those objects into Routes.
package ingress
