package ingress

import (
	"fmt"
	"html"
	"net/http"
	"strconv"
	"time"
)

// The router's own answers: short HTML pages that say what happened, never
// cached, naming the host or app but never a backend address.

func notFound(w http.ResponseWriter, host string) {
	what := "This request names no host, so no app can be chosen."
	if host != "" {
		what = fmt.Sprintf("No app is routed at %s. Check the address, or add the domain to an app.", html.EscapeString(host))
	}
	page(w, http.StatusNotFound, "No such app", what)
}

func unavailable(w http.ResponseWriter, app, why string, retryAfter time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(retryAfter.Round(time.Second)/time.Second))))
	page(w, http.StatusServiceUnavailable, "App unavailable",
		fmt.Sprintf("App %s %s. Try again in a few seconds.", html.EscapeString(app), why))
}

func badGateway(w http.ResponseWriter, app string) {
	page(w, http.StatusBadGateway, "App not answering",
		fmt.Sprintf("App %s did not answer this request. Its logs may say why.", html.EscapeString(app)))
}

func gatewayTimeout(w http.ResponseWriter, app string, after time.Duration) {
	page(w, http.StatusGatewayTimeout, "App not answering in time",
		fmt.Sprintf("App %s did not start answering this request within %v. Its logs may say why.", html.EscapeString(app), after))
}

func page(w http.ResponseWriter, code int, title, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<!doctype html>\n<title>%d %s</title>\n<h1>%s</h1>\n<p>%s</p>\n", code, title, title, body)
}
