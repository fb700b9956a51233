package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Router is the app ingress: an http.Handler that routes each request by
// host to a backend of the app's route and proxies it there. It is safe
// for concurrent use; SetTable may be called at any time.
type Router struct {
	cfg   Config
	log   *slog.Logger
	proxy *httputil.ReverseProxy

	table   atomic.Pointer[Table]
	changed atomic.Pointer[chan struct{}] // closed and replaced by every SetTable

	mu       sync.Mutex
	inflight map[string]int                       // backend addr -> requests proxied to it and not finished
	pools    map[string]*pool                     // backend addr -> its transports
	upgraded map[string]map[*proxyState]io.Closer // backend addr -> its upgraded connections

	amu        sync.Mutex
	activating map[string]*activation // app -> its current activation
	held       map[string]int         // app -> requests held for it
}

// New returns a Router with an empty table: every request gets a 404
// until SetTable.
func New(cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Router{
		cfg:        cfg,
		log:        cfg.Log.With("component", "ingress"),
		inflight:   make(map[string]int),
		pools:      make(map[string]*pool),
		upgraded:   make(map[string]map[*proxyState]io.Closer),
		activating: make(map[string]*activation),
		held:       make(map[string]int),
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite:       r.rewrite,
		Transport:     &retryTransport{r: r, base: backendTransport{r}},
		FlushInterval: cfg.FlushInterval,
		ErrorHandler:  r.proxyError,
		ModifyResponse: func(res *http.Response) error {
			if st := stateOf(res.Request.Context()); st != nil {
				st.upstream = res.StatusCode
				if c, ok := res.Body.(io.ReadWriteCloser); ok && res.StatusCode == http.StatusSwitchingProtocols {
					r.trackUpgrade(st, c)
				}
			}
			return nil
		},
		ErrorLog:   slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
		BufferPool: newBufferPool(),
	}
	empty := &Table{}
	r.table.Store(empty)
	ch := make(chan struct{})
	r.changed.Store(&ch)
	return r, nil
}

// SetTable replaces the routing table atomically. Requests already
// proxied keep running to their backend, even one t no longer lists
// (watch InFlight to know when it has drained); new requests use t.
// Requests held for an idle app look again. A nil t routes nothing.
func (r *Router) SetTable(t *Table) {
	if t == nil {
		t = &Table{}
	}
	old := r.table.Swap(t)
	ch := make(chan struct{})
	close(*r.changed.Swap(&ch))
	r.forgetActivations(t)
	// Idle keep-alive connections to a removed backend would only ever
	// fail; in-use ones, and other backends' idle ones, are not touched.
	r.mu.Lock()
	for addr := range old.backends {
		if !t.backends[addr] {
			r.retireLocked(addr)
		}
	}
	r.mu.Unlock()
}

// Table returns the table in use.
func (r *Router) Table() *Table { return r.table.Load() }

// InFlight is how many requests proxied to backend addr have not
// finished (an upgraded WebSocket counts until it closes). A rollout
// controller removes a backend with SetTable, waits for InFlight to reach
// 0 (calling CloseBackend when its drain deadline passes first), then
// stops it.
func (r *Router) InFlight(addr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inflight[addr]
}

// Close closes idle connections to backends. Requests in flight are not
// touched: shut the http.Server down first.
func (r *Router) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pools {
		p.closeIdle()
	}
}

// Server returns an http.Server for the router with the timeouts a
// public listener needs, serving HTTP/1.1 and, over TLS, HTTP/2. Serve a
// TLS listener (tls.NewListener with a config from TLSConfig) for HTTPS,
// a plain one for HTTP.
func (r *Router) Server() *http.Server {
	s := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	s.Protocols = new(http.Protocols)
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetHTTP2(true)
	return s
}

// ServeHTTP routes and proxies one request.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	st := &proxyState{r: r, start: time.Now()}
	if r.cfg.AccessLog != nil {
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		defer r.logAccess(st, sw, req)
	}
	rt := r.table.Load().lookup(req.Host)
	if rt == nil {
		notFound(w, req.Host)
		return
	}
	st.route = rt
	if len(rt.Backends) == 0 {
		var ok bool
		if rt, ok = r.hold(w, req, st); !ok {
			return
		}
		st.route = rt
	}
	st.addr = r.acquire(rt, "")
	defer func() {
		r.untrackUpgrade(st)
		r.release(st.addr)
	}()
	r.proxy.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), stateKey{}, st)))
}

// proxyState is one request's trip through the router.
type proxyState struct {
	r        *Router
	start    time.Time
	route    *route
	addr     string // the backend it is counted against
	retried  bool
	upgraded bool // the backend answered 101: its connection is tracked
	held     time.Duration
	gone     bool // the client went away before the backend answered
	upstream int  // the backend's status
}

type stateKey struct{}

func stateOf(ctx context.Context) *proxyState {
	st, _ := ctx.Value(stateKey{}).(*proxyState)
	return st
}

// spoofable are the headers apps take a client's address or scheme from
// besides X-Forwarded-For/Host/Proto (which SetXForwarded replaces).
var spoofable = []string{"Forwarded", "X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Cf-Connecting-Ip",
	"X-Forwarded-Ssl", "X-Forwarded-Port", "X-Forwarded-Scheme", "X-Forwarded-Server", "X-Url-Scheme", "Front-End-Https"}

// rewrite points the outbound request at the chosen backend and sets the
// forwarding headers. The Host header stays the client's.
func (r *Router) rewrite(pr *httputil.ProxyRequest) {
	st := stateOf(pr.In.Context())
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = st.addr
	// Only WebSocket is upgraded to: another protocol (h2c) would be a
	// tunnel past this router's header cleaning, logs and routing.
	if up := pr.Out.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
		pr.Out.Header.Del("Upgrade")
		pr.Out.Header.Del("Connection")
	}
	if !r.cfg.TrustForwarded {
		// Every header a framework reads the client's address or scheme
		// from is the router's to say.
		for _, h := range spoofable {
			pr.Out.Header.Del(h)
		}
		pr.SetXForwarded()
		if host, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
			pr.Out.Header.Set("X-Real-Ip", host)
		}
		return
	}
	if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
		pr.Out.Header["X-Forwarded-For"] = prior
	}
	pr.SetXForwarded()
	for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
		if v := pr.In.Header.Get(h); v != "" {
			pr.Out.Header.Set(h, v)
		}
	}
}

// proxyError answers a request whose backend could not be reached or
// failed before sending a response.
func (r *Router) proxyError(w http.ResponseWriter, req *http.Request, err error) {
	st := stateOf(req.Context())
	if req.Context().Err() != nil {
		st.gone = true
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	if headerTimeout(err) {
		r.log.Warn("backend sent no response headers in time", "app", st.route.App, "host", req.Host, "backend", st.addr, "method", req.Method, "path", req.URL.Path, "timeout", r.cfg.ResponseHeaderTimeout)
		gatewayTimeout(w, st.route.App, r.cfg.ResponseHeaderTimeout)
		return
	}
	r.log.Warn("proxy to backend", "app", st.route.App, "host", req.Host, "backend", st.addr, "method", req.Method, "path", req.URL.Path, "err", err)
	badGateway(w, st.route.App)
}

// headerTimeout reports whether err is the transport's
// ResponseHeaderTimeout: a timeout that is not a dial's.
func headerTimeout(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryTransport sends a request once more, to another backend of the
// same route, when connecting failed and the request is a GET or HEAD
// without a body: nothing reached the first backend, so nothing can
// happen twice.
type retryTransport struct {
	r    *Router
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	if err == nil {
		return res, nil
	}
	st := stateOf(req.Context())
	if st == nil || st.retried || !retryable(req, err) {
		return nil, err
	}
	next := t.r.acquire(st.route, st.addr)
	if next == "" {
		return nil, err
	}
	t.r.log.Info("backend refused connection, trying the next", "app", st.route.App, "backend", st.addr, "next", next, "err", err)
	t.r.release(st.addr)
	st.addr, st.retried = next, true
	again := req.Clone(req.Context())
	again.URL.Host = next
	return t.base.RoundTrip(again)
}

func retryable(req *http.Request, err error) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// bufferPool lends the 32 KiB copy buffers of the proxy.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p *bufferPool) Get() []byte  { return *(p.p.Get().(*[]byte)) }
func (p *bufferPool) Put(b []byte) { p.p.Put(&b) }

// TLSConfig returns a server TLS config that offers HTTP/2 and HTTP/1.1
// and takes its certificates from getCert. Wrap the :443 listener with it
// (tls.NewListener) and serve it with Router.Server.
func TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: getCert,
	}
}
