package ingress

import (
	"net/http"
	"strings"
)

// acmeChallengePrefix is where ACME's HTTP-01 challenges are asked for
// (RFC 8555 §8.3): always over plain HTTP, never redirected.
const acmeChallengePrefix = "/.well-known/acme-challenge/"

// RedirectHandler is the handler for the plain-HTTP (:80) listener. A
// request for a host that hasCert says has a certificate is redirected
// with a 308 (which keeps the method and body) to the same host over
// HTTPS, path and query unchanged; any other host is served by the
// router over plain HTTP. Requests under /.well-known/acme-challenge/
// are never redirected: they go to acme (the certificate manager's
// challenge handler), or to the router when acme is nil. hasCert gets
// the host lowercased, without port or trailing dot; nil redirects
// nothing, and neither is an IPv6 literal host.
func (r *Router) RedirectHandler(hasCert func(host string) bool, acme http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, acmeChallengePrefix) {
			if acme != nil {
				acme.ServeHTTP(w, req)
			} else {
				r.ServeHTTP(w, req)
			}
			return
		}
		host := normalizeHost(req.Host)
		if host == "" || strings.Contains(host, ":") || hasCert == nil || !hasCert(host) {
			r.ServeHTTP(w, req)
			return
		}
		uri := req.RequestURI
		if uri == "" || !strings.HasPrefix(uri, "/") { // absolute-form or a request made in process
			uri = req.URL.RequestURI()
		}
		w.Header().Set("Location", "https://"+host+uri)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}
