package routes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
)

// touchTimeout bounds one Touch call.
const touchTimeout = 10 * time.Second

// touchState is one app's requests as Observe saw them and as Touch
// reported them.
type touchState struct {
	seen     time.Time // end of the newest request observed
	reported time.Time // seen, as of the last Touch
	touched  time.Time // when Touch was last called
}

// Observe records a request the router finished, for the router's
// Config.AccessLog. It only notes the time: Touch is called from Run's
// goroutine, at most once per TouchInterval per app.
func (s *Syncer) Observe(e ingress.AccessEntry) {
	if e.App == "" || s.cfg.Touch == nil {
		return
	}
	end := e.Time.Add(e.Duration)
	s.mu.Lock()
	ts := s.touches[e.App]
	if ts == nil {
		ts = &touchState{}
		s.touches[e.App] = ts
	}
	if end.After(ts.seen) {
		ts.seen = end
	}
	due := time.Since(ts.touched) >= s.cfg.TouchInterval
	s.mu.Unlock()
	if due {
		select {
		case s.touchKick <- struct{}{}:
		default:
		}
	}
}

// touchLoop calls Touch for every app with a request newer than its last
// Touch, once the app's last Touch is TouchInterval old: at once for the
// first request after a quiet interval, at the end of the interval for
// the requests within it.
func (s *Syncer) touchLoop(ctx context.Context) {
	if s.cfg.Touch == nil {
		return
	}
	tick := time.NewTicker(max(s.cfg.TouchInterval/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.touchKick:
		case <-tick.C:
		}
		for _, t := range s.dueTouches(time.Now()) {
			tctx, cancel := context.WithTimeout(ctx, touchTimeout)
			err := s.cfg.Touch(tctx, t.namespace, t.app)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("record an app's last request", "app", t.app, "namespace", t.namespace, "err", err)
			}
		}
	}
}

type touch struct{ namespace, app string }

// dueTouches marks and returns the apps due a Touch now, and forgets
// apps that are gone.
func (s *Syncer) dueTouches(now time.Time) []touch {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []touch
	for app, ts := range s.touches {
		ns, ok := s.namespaces[app]
		if !ok {
			if now.Sub(ts.seen) > s.cfg.TouchInterval {
				delete(s.touches, app) // gone for a while: not a table lagging behind
			}
			continue
		}
		if ts.seen.After(ts.reported) && now.Sub(ts.touched) >= s.cfg.TouchInterval {
			// A failed Touch is tried again an interval later, not at
			// once: the API is likely down for the others too.
			ts.touched, ts.reported = now, ts.seen
			due = append(due, touch{ns, app})
		}
	}
	return due
}

// Activate starts the idle app named app (the Route.App of its routes),
// for the router's Config.Activate: it finds the app's namespace and
// calls Config.Activate. Until the app has a ready backend, or
// StartTimeout passes, its routes stay Idle even if its status stops
// saying so, so that the router keeps holding its requests.
func (s *Syncer) Activate(ctx context.Context, app string) error {
	if s.cfg.Activate == nil {
		return errors.New("routes: no activator configured: cannot start idle apps (set routes.Config.Activate)")
	}
	namespace, idle, ok := s.lookup(app)
	if !ok {
		return fmt.Errorf("routes: activate app %q: no such app", app)
	}
	if idle {
		s.mu.Lock()
		s.starting[app] = time.Now()
		s.mu.Unlock()
	}
	if err := s.cfg.Activate(ctx, namespace, app); err != nil {
		s.mu.Lock()
		delete(s.starting, app)
		s.mu.Unlock()
		return fmt.Errorf("activate app %q in namespace %q: %w", app, namespace, err)
	}
	return nil
}

// lookup finds app's namespace, from the last table or, for an app
// newer than it, the informer's cache.
func (s *Syncer) lookup(app string) (namespace string, idle, ok bool) {
	s.mu.Lock()
	namespace, ok = s.namespaces[app]
	s.mu.Unlock()
	if ok {
		if a, found := s.apps.Get(namespace, app); found {
			return namespace, a.Status.Idle, true
		}
	}
	for _, a := range s.apps.List() {
		if a.Name == app && a.DeletionTimestamp == nil {
			return a.Namespace, a.Status.Idle, true
		}
	}
	return "", false, false
}
