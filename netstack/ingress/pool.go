package ingress

import (
	"io"
	"net"
	"net/http"
	"time"
)

// A backend's connections: each backend has its own transports, so that
// dropping one backend closes its idle keep-alive connections and no
// other's, and the upgraded (WebSocket) connections to it are known, so
// that CloseBackend can end them.
//
//	backendTransport.RoundTrip ─► pool(addr) ─┬─ plain:   keep-alive, ResponseHeaderTimeout
//	                                          └─ upgrade: no header timeout
//	SetTable drops addr ─► closeIdle; pool deleted once InFlight(addr) == 0
//	101 answer ─► upgraded[addr] until the request ends ◄─ CloseBackend(addr)

// pool is the transports to one backend.
type pool struct {
	plain   *http.Transport // ordinary requests
	upgrade *http.Transport // WebSocket upgrades: no response header timeout
}

func (p *pool) closeIdle() {
	p.plain.CloseIdleConnections()
	p.upgrade.CloseIdleConnections()
}

// newPool makes the transports for one backend.
func (r *Router) newPool() *pool {
	dialer := &net.Dialer{Timeout: r.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	mk := func(headerTimeout time.Duration) *http.Transport {
		return &http.Transport{
			DialContext:           dialer.DialContext,
			MaxIdleConnsPerHost:   r.cfg.MaxIdleConnsPerBackend,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			ResponseHeaderTimeout: headerTimeout,
			DisableCompression:    true, // pass encodings through untouched
		}
	}
	return &pool{plain: mk(r.cfg.ResponseHeaderTimeout), upgrade: mk(0)}
}

// poolFor returns addr's pool, making it on first use.
func (r *Router) poolFor(addr string) *pool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pools[addr]
	if p == nil {
		p = r.newPool()
		r.pools[addr] = p
	}
	return p
}

// retire closes the idle connections of a backend no table routes to
// any more, and forgets its pool when nothing is in flight to it (else
// release does when the last request ends). Called with r.mu held.
func (r *Router) retireLocked(addr string) {
	p := r.pools[addr]
	if p == nil {
		return
	}
	// CloseIdleConnections also closes connections that become idle
	// later, until the transport is asked for a connection again: a
	// request finishing on the backend does not leave one behind.
	p.closeIdle()
	if r.inflight[addr] == 0 {
		delete(r.pools, addr)
	}
}

// backendTransport sends each request over its backend's pool.
type backendTransport struct{ r *Router }

func (t backendTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.r.poolFor(req.URL.Host)
	if req.Header.Get("Upgrade") != "" {
		return p.upgrade.RoundTrip(req)
	}
	return p.plain.RoundTrip(req)
}

// trackUpgrade records the backend connection of an upgraded request, so
// that CloseBackend can close it; untrack forgets it when the request
// ends.
func (r *Router) trackUpgrade(st *proxyState, conn io.Closer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.upgraded[st.addr]
	if m == nil {
		m = make(map[*proxyState]io.Closer)
		r.upgraded[st.addr] = m
	}
	m[st] = conn
	st.upgraded = true
}

func (r *Router) untrackUpgrade(st *proxyState) {
	if !st.upgraded {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.upgraded[st.addr]; m != nil {
		delete(m, st)
		if len(m) == 0 {
			delete(r.upgraded, st.addr)
		}
	}
}

// CloseBackend closes the upgraded (WebSocket) connections open now to
// backend addr and its idle keep-alive connections; InFlight(addr) falls
// as each upgraded request ends. Ordinary requests in flight are not
// touched. A rollout calls it for a backend it removed from the table
// once the drain deadline has passed and InFlight is still not 0: the
// clients see their WebSocket closed without a close frame and
// reconnect, to a backend in the table.
func (r *Router) CloseBackend(addr string) {
	r.mu.Lock()
	var conns []io.Closer
	for _, c := range r.upgraded[addr] {
		conns = append(conns, c)
	}
	if p := r.pools[addr]; p != nil {
		p.closeIdle()
	}
	r.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	if len(conns) > 0 {
		r.log.Info("closed upgraded connections to backend", "backend", addr, "connections", len(conns))
	}
}
