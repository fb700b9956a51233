package apiserver

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/skiffhq/skiff/server/audit"
	"github.com/skiffhq/skiff/server/auth"
)

// statusRecorder notes the status code a handler answered with. Unwrap
// lets http.ResponseController reach the connection underneath (flushes
// for watches, the hijack of an exec's WebSocket).
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// record offers a finished request to the audit log, which keeps every
// change, every refusal, sign-ins, logs and exec — not the reads and
// watches that make up most traffic (on a Pi each entry is flash wear).
func (s *Server) record(r *http.Request, ri *requestInfo, code int) {
	refused := code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusTooManyRequests
	if !refused && (safeMethod(r.Method) && !ri.audit || ri.id != nil && ri.id.InGroup(auth.GroupNodes)) {
		// Nodes' own upkeep (leases, node and pod status, every few
		// seconds each) would drown the log: only their refusals go in.
		return
	}
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		return
	}
	suppressed := 0
	if refused {
		// A flood of refusals (guesses, requests without credentials,
		// a script hammering what it may not do) is kept at a bounded
		// rate per source, with the count of the rest: else it would
		// rotate the whole history out of the log in seconds.
		source := fmt.Sprint(code, " ", auth.AddressKey(r.RemoteAddr))
		if code == http.StatusForbidden && ri.id != nil {
			source = "403 " + ri.id.Name
		}
		var keep bool
		if keep, suppressed = s.refusals.admit(source, time.Now()); !keep {
			return
		}
	}
	e := audit.Entry{
		Time: time.Now().UTC(), Method: r.Method, Path: r.URL.Path, Code: code,
		Verb: ri.attrs.Verb, Resource: ri.attrs.Resource, Namespace: ri.attrs.Namespace, Name: ri.attrs.Name,
		Allowed: !refused, Reason: ri.reason,
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.Address = host
	} else {
		e.Address = r.RemoteAddr
	}
	if suppressed > 0 {
		e.Reason += fmt.Sprintf(" (and %d more refused from this address since the last entry)", suppressed)
	}
	if id := ri.id; id != nil {
		e.User, e.Groups, e.Via, e.Session, e.Token = id.Name, id.Groups, id.Via, id.Session, id.Token
	}
	s.audit.Record(e)
}

// refusalSampler lets refusals into the audit log at up to
// refusalBurst at once and refusalRate a second per source (an address,
// or the identity refused), and counts the rest for the next entry it
// lets in.
type refusalSampler struct {
	mu      sync.Mutex
	sources map[string]*sampled
}

type sampled struct {
	lim        *rate.Limiter
	seen       time.Time
	suppressed int
}

const (
	refusalRate  = rate.Limit(1)
	refusalBurst = 20
	maxSources   = 10000
)

// admit says whether to keep this refusal, and how many were not kept
// since the last one that was.
func (rs *refusalSampler) admit(source string, now time.Time) (bool, int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.sources == nil {
		rs.sources = map[string]*sampled{}
	}
	a, ok := rs.sources[source]
	if !ok {
		if len(rs.sources) >= maxSources {
			for k, v := range rs.sources {
				if now.Sub(v.seen) > time.Minute && v.suppressed == 0 {
					delete(rs.sources, k)
				}
			}
			if len(rs.sources) >= maxSources {
				clear(rs.sources)
			}
		}
		a = &sampled{lim: rate.NewLimiter(refusalRate, refusalBurst)}
		rs.sources[source] = a
	}
	a.seen = now
	if !a.lim.AllowN(now, 1) {
		a.suppressed++
		return false, 0
	}
	n := a.suppressed
	a.suppressed = 0
	return true, n
}
