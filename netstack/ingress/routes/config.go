package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/server/client"
)

// Defaults for the zero values of Config.
const (
	DefaultTouchInterval = time.Minute
	DefaultDebounce      = 20 * time.Millisecond
	DefaultStartTimeout  = ingress.DefaultActivateTimeout
)

// Config configures a Syncer.
type Config struct {
	// Informers is the shared informer set the Apps and Endpoints are
	// read from (the Endpoints informer of all namespaces is the one the
	// DNS server and service proxy of the same process use).
	Informers *client.Informers
	// Router gets a new table on every change.
	Router *ingress.Router
	// AppsDomain is the domain of the apps' default hosts: app "shop"
	// answers at shop.<AppsDomain>, e.g. "apps.skiff.local".
	AppsDomain string

	// Activate starts an idle app; Syncer.Activate, which the router's
	// Config.Activate should call, finds the app's namespace and calls
	// it. Nil: Syncer.Activate fails, and idle apps answer 503.
	Activate func(ctx context.Context, namespace, app string) error
	// StartTimeout is how long after Activate an app without a ready
	// backend keeps its route Idle even when its status no longer says
	// so (default 30 s, the router's default ActivateTimeout): set it to
	// the router's ActivateTimeout.
	StartTimeout time.Duration

	// Touch records that app had a request (for scale to zero, e.g. by
	// setting status.lastRequest). It is called at most once per
	// TouchInterval per app, off the request path, after Observe saw a
	// request newer than the last one reported. Nil: not recorded.
	Touch func(ctx context.Context, namespace, app string) error
	// TouchInterval is the least time between two Touch calls for one app
	// (default 1 minute).
	TouchInterval time.Duration

	// Debounce is how long a change waits for others before the table is
	// rebuilt (default 20 ms); later changes never push it further.
	Debounce time.Duration

	// Log gets conflicts, refused domains and failed Touch calls
	// (default slog.Default()).
	Log *slog.Logger
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Informers == nil {
		errs = append(errs, errors.New("routes: informers are required (client.NewInformers over the API)"))
	}
	if c.Router == nil {
		errs = append(errs, errors.New("routes: router is required (ingress.New)"))
	}
	if d := strings.TrimSuffix(c.AppsDomain, "."); d == "" || strings.ContainsAny(d, "*:/ ") || strings.HasPrefix(d, ".") {
		errs = append(errs, fmt.Errorf("routes: apps domain %q must be a domain name, e.g. apps.skiff.local", c.AppsDomain))
	}
	if c.StartTimeout < 0 || c.StartTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("routes: start timeout %v must be between 0 (default 30s) and 10m", c.StartTimeout))
	}
	if c.TouchInterval < 0 {
		errs = append(errs, fmt.Errorf("routes: touch interval %v must not be negative (0: default 1m)", c.TouchInterval))
	}
	if c.Debounce < 0 || c.Debounce > time.Second {
		errs = append(errs, fmt.Errorf("routes: debounce %v must be between 0 (default 20ms) and 1s", c.Debounce))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	c.AppsDomain = strings.ToLower(strings.TrimSuffix(c.AppsDomain, "."))
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.TouchInterval == 0 {
		c.TouchInterval = DefaultTouchInterval
	}
	if c.Debounce == 0 {
		c.Debounce = DefaultDebounce
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}
