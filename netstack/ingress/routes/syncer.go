package routes

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Syncer keeps a Router's table in step with the Apps and Endpoints of
// the cluster, and drives Config.Touch from the requests the router
// sees. Wire it into the router with closures, since each needs the
// other:
//
//	var s *routes.Syncer
//	r, _ := ingress.New(ingress.Config{
//		Activate:  func(ctx context.Context, app string) error { return s.Activate(ctx, app) },
//		AccessLog: func(e ingress.AccessEntry) { s.Observe(e) },
//	})
//	s, _ = routes.New(routes.Config{Router: r, ...})
type Syncer struct {
	cfg       Config
	log       *slog.Logger
	apps      *client.Informer[*api.App]
	endpoints *client.Informer[*api.Endpoints]

	kick      chan struct{} // a change to rebuild for; buffer of one
	touchKick chan struct{} // an app may be due a Touch; buffer of one
	ready     chan struct{}
	readyOnce sync.Once

	mu         sync.Mutex
	namespaces map[string]string      // app -> its namespace, as of the last rebuild
	starting   map[string]time.Time   // app -> when Activate, or its idle status going, started it
	wasIdle    map[string]bool        // apps idle as of the last rebuild
	touches    map[string]*touchState // app -> its requests and Touch calls
	logged     map[string]bool        // conflicts and refused routes logged, as of the last rebuild
}

// New returns a Syncer; Run starts it.
func New(cfg Config) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Syncer{
		cfg:        cfg,
		log:        cfg.Log.With("component", "ingress-routes"),
		apps:       client.Shared[*api.App](cfg.Informers, "", api.ListOptions{}),
		endpoints:  client.Shared[*api.Endpoints](cfg.Informers, "", api.ListOptions{}),
		kick:       make(chan struct{}, 1),
		touchKick:  make(chan struct{}, 1),
		ready:      make(chan struct{}),
		namespaces: make(map[string]string),
		starting:   make(map[string]time.Time),
		wasIdle:    make(map[string]bool),
		touches:    make(map[string]*touchState),
		logged:     make(map[string]bool),
	}, nil
}

// Ready is closed once the router has its first full table: every App
// and Endpoints that existed when Run started. Serve the router's
// listeners after it, or early requests get 404s for apps that exist.
func (s *Syncer) Ready() <-chan struct{} { return s.ready }

// Run keeps the router's table in step with Apps and Endpoints, and
// calls Touch, until ctx ends. It returns nil then.
func (s *Syncer) Run(ctx context.Context) error {
	client.KickOnChange(ctx, s.apps, s.kick)
	// Of the Endpoints, only those of an app (same name and namespace)
	// matter; every Service in the cluster has some.
	ofApp := func(ep *api.Endpoints) {
		if _, ok := s.apps.Get(ep.Namespace, ep.Name); ok {
			s.poke()
		}
	}
	s.endpoints.AddHandlerUntil(ctx, client.HandlerFuncs[*api.Endpoints]{
		AddFunc:    ofApp,
		UpdateFunc: func(_, ep *api.Endpoints) { ofApp(ep) },
		DeleteFunc: ofApp,
	})
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.apps.Run(ctx) })
	g.Go(func() error { return s.endpoints.Run(ctx) })
	g.Go(func() error { s.syncLoop(ctx); return nil })
	g.Go(func() error { s.touchLoop(ctx); return nil })
	return g.Wait()
}

func (s *Syncer) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// syncLoop builds the first table once both informers have synced, then
// rebuilds Debounce after the first of a burst of changes: a change
// waits at most Debounce, however many follow it.
func (s *Syncer) syncLoop(ctx context.Context) {
	if !s.apps.WaitForSync(ctx) || !s.endpoints.WaitForSync(ctx) {
		return
	}
	next := s.rebuild(time.Now())
	s.readyOnce.Do(func() { close(s.ready) })
	var due <-chan time.Time
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	for {
		if !next.IsZero() {
			expiry.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			if due == nil {
				due = time.After(s.cfg.Debounce)
			}
			continue
		case <-due:
		case <-expiry.C:
		}
		due = nil
		next = s.rebuild(time.Now())
	}
}

// rebuild gives the router a table of every app's routes now. It returns
// when the next started app's grace ends (zero: none), when the table
// must be rebuilt even without a change.
func (s *Syncer) rebuild(now time.Time) (next time.Time) {
	apps := s.apps.List()
	endpoints := func(namespace, name string) *api.Endpoints {
		ep, _ := s.endpoints.Get(namespace, name)
		return ep
	}
	s.mu.Lock()
	clear(s.namespaces)
	for _, a := range apps {
		if a.DeletionTimestamp == nil { // as build, which routes no App being deleted
			s.namespaces[a.Name] = a.Namespace
		}
	}
	// An app whose idle status went without a backend yet is starting,
	// whoever started it: Activate, or the app controller for a release
	// rolling out or scale to zero turned off. Its requests are held
	// until it has a backend, not answered 503.
	for _, a := range apps {
		if s.wasIdle[a.Name] && !a.Status.Idle {
			if _, ok := s.starting[a.Name]; !ok {
				s.starting[a.Name] = now
			}
		}
	}
	clear(s.wasIdle)
	for _, a := range apps {
		if a.Status.Idle {
			s.wasIdle[a.Name] = true
		}
	}
	for app, since := range s.starting {
		if _, ok := s.namespaces[app]; !ok || now.Sub(since) >= s.cfg.StartTimeout {
			delete(s.starting, app)
		}
	}
	starting := func(app string) bool { _, ok := s.starting[app]; return ok }
	routes, conflicts := build(apps, endpoints, s.cfg.AppsDomain, starting)
	for _, rt := range routes {
		if len(rt.Backends) > 0 {
			delete(s.starting, rt.App) // it started
		}
	}
	for _, since := range s.starting {
		if end := since.Add(s.cfg.StartTimeout); next.IsZero() || end.Before(next) {
			next = end
		}
	}
	s.mu.Unlock()

	logged := make(map[string]bool, len(conflicts))
	for _, c := range conflicts {
		key := "conflict\x00" + c.Host + "\x00" + c.Loser
		logged[key] = true
		if !s.logged[key] {
			s.log.Warn("host claimed by two apps: it goes to the app it is the default host of, else the older app; remove it from the other app's domains",
				"host", c.Host, "routed_to", c.Winner, "refused", c.Loser)
		}
	}
	table, err := ingress.NewTable(routes)
	if err != nil {
		table = s.tableWithout(routes, logged)
	}
	s.logged = logged // only syncLoop's goroutine reads and writes it
	s.cfg.Router.SetTable(table)
	return next
}

// tableWithout builds the table of the routes the router accepts,
// logging each refused one the first time.
func (s *Syncer) tableWithout(routes []ingress.Route, logged map[string]bool) *ingress.Table {
	ok := routes[:0:0]
	for _, rt := range routes {
		if _, err := ingress.NewTable([]ingress.Route{rt}); err != nil {
			key := "refused\x00" + rt.Host + "\x00" + rt.App
			logged[key] = true
			if !s.logged[key] {
				s.log.Warn("route refused by the router: fix the app's domain", "app", rt.App, "host", rt.Host, "err", err)
			}
			continue
		}
		ok = append(ok, rt)
	}
	table, err := ingress.NewTable(ok)
	if err != nil {
		// Each route is fine alone and build gives each host once: not
		// reached, but never leave the router without a table.
		s.log.Error("build ingress table", "err", err)
		table, _ = ingress.NewTable(nil)
	}
	return table
}
