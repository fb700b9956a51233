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
// Each backend has its own keep-alive pool, dropped when no table lists
// the backend and nothing is in flight to it, so that removing one
// backend leaves the others' connections alone. A backend that sends no
// response headers within Config.ResponseHeaderTimeout gets the client a
// 504; at most Config.MaxHeld requests per app are held while it starts.
// Router.CloseBackend ends the WebSockets to a drained backend that
// outlive a rollout's deadline. Router.RedirectHandler serves the :80
// listener: hosts with a certificate are redirected to HTTPS, except for
// ACME's HTTP-01 challenges.
//
// The package does not own certificates (ACME lives beside it) or the
// building of tables from Apps and Endpoints: package routes turns those
// objects into Routes.
package ingress
