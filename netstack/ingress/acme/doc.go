// Package acme gives the app router its TLS certificates: ACME
// certificates (Let's Encrypt by default) for the custom domains of
// Apps (App.spec.domains), and an operator's certificate, typically a
// wildcard for the apps' default hosts *.<apps domain>, from the
// kubernetes.io/tls Secret skiff-system/ingress-default-tls.
//
//	Apps informer ──► custom domains ──► HostPolicy (nothing else is
//	   (all namespaces)       │             ever ordered)
//	                          ▼
//	  :80 request for host ─► HasCertificate? ─ no ─► order in the
//	  :443 handshake (SNI) ─► GetCertificate  ─ none ─► background / in
//	                          │                         the handshake
//	                          ▼                               │
//	          autocert.Manager ◄── cache: <data-dir>/ingress/acme ◄┘
//	          (renews 30 days before expiry)
//	                          │
//	  :80 /.well-known/acme-challenge/ ◄── HTTP-01 (HTTPHandler)
//	  :443 ALPN acme-tls/1             ◄── TLS-ALPN-01 (TLSConfig)
//
// ACME is off unless Config.Email is given: a board on a LAN cannot
// pass an HTTP-01 challenge, and orders that fail on every start are
// worse than none. Giving an email accepts the CA's terms of service.
// With ACME off only the operator's certificate is served.
//
// A certificate is ordered the first time this node sees the host,
// over HTTP or in a TLS handshake, never in advance: a node the host's
// DNS does not point at orders nothing (and could not pass the
// challenge). Certificates already in the cache are loaded as soon as
// the host becomes an App domain, with no order. golang.org/x/crypto's
// autocert does the ordering and the renewal; it tries TLS-ALPN-01 on
// :443 first and HTTP-01 on :80 next, so the router needs only one of
// the two ports reachable from the CA.
//
// A failed order is logged once per host per hour with the CA's reason;
// the host is not ordered again for Config.RetryAfter (one hour) and is
// served over plain HTTP meanwhile (HasCertificate is false, so the :80
// listener does not redirect it). A TLS handshake for a host with no
// certificate — not an App domain, or one whose order failed — fails
// with the unrecognized_name alert.
//
// The cache is a directory on the node, not a Secret: nodes may not
// write Secrets (server/apiserver's node authorizer), so each node
// orders its own certificates. Point a custom domain's DNS at one node,
// or at nodes that each pass the challenge for their own orders.
//
// The package does not route requests (package ingress does) and does
// not decide which app owns a host (package routes does): a domain two
// Apps claim gets one certificate, served whichever app the router
// sends the request to.
package acme
