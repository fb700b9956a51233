package ingress

import (
	"net/http"
	"time"
)

// AccessEntry describes one finished request, for Config.AccessLog.
type AccessEntry struct {
	Time   time.Time // when the request arrived
	Host   string    // the Host header, as sent
	App    string    // "" when no route matched
	Method string
	Path   string // the URL path, without the query (it may hold secrets)
	Proto  string // "HTTP/1.1", "HTTP/2.0"
	// Status is the status sent, 101 for an upgrade, or 499 when the
	// client went away before an answer.
	Status   int
	Bytes    int64         // response body bytes written to the client
	Duration time.Duration // from arrival to the end of the response
	Held     time.Duration // of Duration, the time held for an idle app
	Backend  string        // the backend that served it; "" when none
	Client   string        // the client's address (host:port) as seen by the router
	Retried  bool          // the first backend refused and another served
}

func (r *Router) logAccess(st *proxyState, sw *statusWriter, req *http.Request) {
	e := AccessEntry{
		Time:     st.start,
		Host:     req.Host,
		Method:   req.Method,
		Path:     req.URL.Path,
		Proto:    req.Proto,
		Status:   sw.status,
		Bytes:    sw.bytes,
		Duration: time.Since(st.start),
		Held:     st.held,
		Backend:  st.addr,
		Client:   req.RemoteAddr,
		Retried:  st.retried,
	}
	if st.route != nil {
		e.App = st.route.App
	}
	if st.gone {
		e.Status = 499
	} else if e.Status == 0 && st.upstream == http.StatusSwitchingProtocols {
		e.Status = st.upstream // written on the hijacked connection
	} else if e.Status == 0 {
		e.Status = http.StatusOK
	}
	r.cfg.AccessLog(e)
}

// statusWriter records the status and size of a response. Flush, Hijack
// and the rest reach the underlying writer through Unwrap, which
// http.ResponseController (and so the reverse proxy) follows.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 || w.status < 200 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
