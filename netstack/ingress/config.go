package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultActivateTimeout = 30 * time.Second
	DefaultDialTimeout     = 5 * time.Second
	DefaultRetryAfter      = 5 * time.Second
	// DefaultMaxHeld is how many requests per app may be held while it
	// starts before more get a 503.
	DefaultMaxHeld = 1000
	// DefaultResponseHeaderTimeout bounds the wait for a backend's
	// response headers.
	DefaultResponseHeaderTimeout = 60 * time.Second
	defaultIdlePerBackend        = 64
)

// Config configures a Router.
type Config struct {
	// TrustForwarded keeps the client's X-Forwarded-For (the client's
	// address is appended), X-Forwarded-Proto and X-Forwarded-Host. Set
	// it only when the router sits behind a proxy you run; otherwise the
	// client's values are dropped and replaced by what the router saw.
	TrustForwarded bool

	// Activate starts an idle app (a route with Idle set and no
	// backends), e.g. by scaling its web process from zero. It is called
	// once for a burst of requests, with a context that ends after
	// ActivateTimeout; it may return as soon as the start is under way.
	// The requests are held until SetTable gives the route a backend.
	// Nil: idle routes answer 503 like any route with no backends.
	Activate func(ctx context.Context, app string) error
	// ActivateTimeout is how long a request is held waiting for an idle
	// app to get a backend before it gets a 503 (default 30 s).
	ActivateTimeout time.Duration
	// MaxHeld is how many requests of one app may be held at once while
	// it starts; more get a 503 at once (default 1000).
	MaxHeld int

	// AccessLog, when set, is called once per request after it ends.
	// It runs on the request's goroutine: keep it quick.
	AccessLog func(AccessEntry)

	// DialTimeout bounds connecting to a backend (default 5 s).
	DialTimeout time.Duration
	// ResponseHeaderTimeout is how long a backend may take to send its
	// response headers once it has the request before the client gets a
	// 504 naming the app (default 60 s). It does not bound the body, nor
	// the answer to a WebSocket upgrade.
	ResponseHeaderTimeout time.Duration
	// RetryAfter is the Retry-After of a 503 (default 5 s).
	RetryAfter time.Duration
	// FlushInterval is how often a response is flushed to the client
	// while it is copied. 0 flushes when the response ends, except that
	// server-sent events (text/event-stream) and responses of unknown
	// length are always flushed after every write; negative flushes
	// after every write.
	FlushInterval time.Duration
	// MaxIdleConnsPerBackend is how many idle keep-alive connections are
	// kept to each backend (default 64).
	MaxIdleConnsPerBackend int

	// Log receives errors talking to backends and activation failures
	// (default slog.Default()).
	Log *slog.Logger
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.ActivateTimeout < 0 || c.ActivateTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("ingress: activate timeout %v must be between 0 (default 30s) and 10m", c.ActivateTimeout))
	}
	if c.DialTimeout < 0 || c.DialTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("ingress: dial timeout %v must be between 0 (default 5s) and 1m", c.DialTimeout))
	}
	if c.RetryAfter < 0 || c.RetryAfter > time.Hour {
		errs = append(errs, fmt.Errorf("ingress: retry after %v must be between 0 (default 5s) and 1h", c.RetryAfter))
	}
	if c.MaxHeld < 0 {
		errs = append(errs, fmt.Errorf("ingress: max held %d must not be negative (0: default %d)", c.MaxHeld, DefaultMaxHeld))
	}
	if c.ResponseHeaderTimeout < 0 || c.ResponseHeaderTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("ingress: response header timeout %v must be between 0 (default 60s) and 1h", c.ResponseHeaderTimeout))
	}
	if c.MaxIdleConnsPerBackend < 0 {
		errs = append(errs, fmt.Errorf("ingress: max idle conns per backend %d must not be negative (0: default 64)", c.MaxIdleConnsPerBackend))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.ActivateTimeout == 0 {
		c.ActivateTimeout = DefaultActivateTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.MaxHeld == 0 {
		c.MaxHeld = DefaultMaxHeld
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.MaxIdleConnsPerBackend == 0 {
		c.MaxIdleConnsPerBackend = defaultIdlePerBackend
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}
