package ingress

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// activation is one call of Config.Activate for an app, shared by every
// request that arrives while it runs and, once it succeeded, until the
// app gets a backend or ActivateTimeout passes.
type activation struct {
	done    chan struct{} // closed when Activate returned
	err     error         // what it returned; read after done
	expires time.Time
}

func (a *activation) finished() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// hold waits, up to ActivateTimeout, for the route of req (which has no
// backends) to get one, starting the app if the route is idle. It
// returns the route to proxy to, or answers the request itself and
// returns false: at once when the app already has MaxHeld requests
// held, or when a new table marks the route not idle and still gives it
// no backend (the app was stopped rather than started).
func (r *Router) hold(w http.ResponseWriter, req *http.Request, st *proxyState) (*route, bool) {
	if !st.route.Idle || r.cfg.Activate == nil {
		unavailable(w, st.route.App, "has no instance ready", r.cfg.RetryAfter)
		return nil, false
	}
	app := st.route.App
	if !r.enterHold(app) {
		r.log.Warn("too many requests held for an idle app", "app", app, "host", req.Host, "max", r.cfg.MaxHeld)
		unavailable(w, app, "has too many requests waiting for it to start", r.cfg.RetryAfter)
		return nil, false
	}
	defer r.leaveHold(app)
	start := time.Now()
	defer func() { st.held = time.Since(start) }()
	timeout := time.NewTimer(r.cfg.ActivateTimeout)
	defer timeout.Stop()
	for {
		changed := *r.changed.Load() // before the table: no change is missed
		rt := r.table.Load().lookup(req.Host)
		switch {
		case rt == nil:
			notFound(w, req.Host)
			return nil, false
		case len(rt.Backends) > 0:
			return rt, true
		case !rt.Idle:
			unavailable(w, rt.App, "has no instance ready", r.cfg.RetryAfter)
			return nil, false
		}
		st.route = rt
		a := r.activation(rt.App, req.Host)
		if a == nil {
			continue // the table changed meanwhile: look again
		}
		var started <-chan struct{}
		if !a.finished() {
			started = a.done
		}
		if a.finished() && a.err != nil {
			unavailable(w, rt.App, "could not be started", r.cfg.RetryAfter)
			return nil, false
		}
		select {
		case <-changed:
		case <-started:
			if a.err != nil {
				unavailable(w, rt.App, "could not be started", r.cfg.RetryAfter)
				return nil, false
			}
		case <-timeout.C:
			r.log.Warn("idle app did not get a backend in time", "app", rt.App, "host", req.Host, "timeout", r.cfg.ActivateTimeout)
			unavailable(w, rt.App, "is still starting", r.cfg.RetryAfter)
			return nil, false
		case <-req.Context().Done():
			st.gone = true
			return nil, false
		}
	}
}

// activation returns the app's current activation, calling Activate when
// there is none, the last one failed, or the last success is too old. It
// returns nil when host's route, in the table now in use, is gone or has
// a backend: SetTable swaps the table before it forgets activations, so
// an activation forgotten for a table is never replaced by a request that
// read an older one.
func (r *Router) activation(app, host string) *activation {
	r.amu.Lock()
	defer r.amu.Unlock()
	if rt := r.table.Load().lookup(host); rt == nil || len(rt.Backends) > 0 {
		return nil
	}
	if a := r.activating[app]; a != nil {
		// A running activation, a success still waiting for its backend,
		// and a failure for RetryAfter (a burst of requests to an app
		// that cannot start makes one call, not one each) are shared.
		if !a.finished() || time.Now().Before(a.expires) {
			return a
		}
	}
	a := &activation{done: make(chan struct{}), expires: time.Now().Add(r.cfg.ActivateTimeout)}
	r.activating[app] = a
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ActivateTimeout)
		err := r.activate(ctx, app)
		cancel()
		if err != nil {
			r.log.Error("activate idle app", "app", app, "err", err)
			r.amu.Lock()
			a.expires = time.Now().Add(r.cfg.RetryAfter) // tried again after that
			r.amu.Unlock()
		}
		a.err = err
		close(a.done)
	}()
	return a
}

// activate calls Config.Activate, a panic in it being an error (the
// router serves every other app on).
func (r *Router) activate(ctx context.Context, app string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("activate %s panicked: %v", app, p)
		}
	}()
	return r.cfg.Activate(ctx, app)
}

// forgetActivations drops the finished activations of apps that t gives
// a backend, so that the next time such an app goes idle it is started
// again at once.
func (r *Router) forgetActivations(t *Table) {
	r.amu.Lock()
	defer r.amu.Unlock()
	if len(r.activating) == 0 {
		return
	}
	for _, m := range []map[string]*route{t.exact, t.wildcard} {
		for _, rt := range m {
			if a := r.activating[rt.App]; a != nil && len(rt.Backends) > 0 && a.finished() {
				delete(r.activating, rt.App)
			}
		}
	}
}

// enterHold counts a request held for app, refusing one beyond MaxHeld.
func (r *Router) enterHold(app string) bool {
	r.amu.Lock()
	defer r.amu.Unlock()
	if r.held[app] >= r.cfg.MaxHeld {
		return false
	}
	r.held[app]++
	return true
}

func (r *Router) leaveHold(app string) {
	r.amu.Lock()
	defer r.amu.Unlock()
	if r.held[app] > 1 {
		r.held[app]--
	} else {
		delete(r.held, app)
	}
}

// Held is how many requests for app are held now, waiting for it to get
// a backend.
func (r *Router) Held(app string) int {
	r.amu.Lock()
	defer r.amu.Unlock()
	return r.held[app]
}
