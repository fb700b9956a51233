// Package apiserver serves skiff's API over HTTPS: the /api/v1 paths of
// docs/api.md, watch streams, health and version. It owns the HTTP side —
// paths, query parameters, bodies, authentication, the mapping of error
// classes to Status answers — and hands every operation to a
// client.Backend (the registry), which owns the rules.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/accounts"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/audit"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/auth/oidc"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/gitpush"
	"github.com/skiffhq/skiff/server/nodelease"
)

// DefaultMaxBodyBytes caps request bodies.
const DefaultMaxBodyBytes = 3 << 20

// Config configures a Server.
type Config struct {
	Backend client.Backend
	Auth    auth.TokenAuthenticator
	// Ready reports whether the server should answer /readyz with 200.
	Ready        func() bool
	MaxBodyBytes int64
	Version      VersionInfo
	// Join, when set, lets nodes join (GET /cacerts, POST /join/v1/node).
	Join *JoinConfig
	// Leases, when set, keeps node leases (PUT /api/v1/nodes/{name}/lease).
	Leases *nodelease.Table
	// Agents, when set, lets the server proxy pods' logs and exec to the
	// agents of their nodes.
	Agents *AgentProxyConfig
	// Failures limits failed bearer-token and join-secret attempts per
	// client address (nil: auth.DefaultFailureRate and Burst, one limiter
	// each, so that a node retrying a spent join token does not lock its
	// address out of the API; given: one for both).
	Failures *auth.FailureLimiter
	// Network, when set, is the answer of GET /cluster/v1/network, the
	// settings every node takes from the server.
	Network *client.ClusterNetwork
	// Accounts, when set, is the identity store: people's sign-in
	// (/login, /auth/v1), sessions in browser cookies, API tokens, and
	// the roles that authorize every request. Without it every
	// authenticated request is allowed (the foundation's single admin
	// token).
	Accounts *accounts.Accounts
	// OIDC, when set, signs people in through an OpenID Connect provider.
	OIDC *oidc.Provider
	// Audit, when set, records who did what (writes, refusals, sign-ins,
	// logs and exec) and answers GET /audit/v1/events.
	Audit *audit.Log
	// Apps, when set, serves git push at /git/ and the app routes.
	Apps *AppsConfig
	Log  *slog.Logger
}

// VersionInfo is the answer of GET /version.
type VersionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("apiserver: backend is required")
	}
	if c.Auth == nil {
		return errors.New("apiserver: authenticator is required")
	}
	if c.MaxBodyBytes < 0 {
		return errors.New("apiserver: max body bytes is negative")
	}
	return nil
}

// Server is the HTTPS API.
type Server struct {
	backend   client.Backend
	auth      auth.TokenAuthenticator
	ready     func() bool
	maxBody   int64
	version   VersionInfo
	join      *JoinConfig
	leases    *nodelease.Table
	agents    *agentProxy
	network   *client.ClusterNetwork
	fails     *auth.FailureLimiter // bearer tokens
	joinFails *auth.FailureLimiter // join secrets: a node retrying a spent token locks out no admin
	nodeCerts *nodeCerts
	accounts  *accounts.Accounts
	authz     auth.Authorizer
	oidc      *oidc.Provider
	audit     *audit.Log
	apps      *AppsConfig
	git       *gitpush.Handler // nil without apps
	log       *slog.Logger
	handler   http.Handler
	routes    []string // "METHOD /path", for the test that every route is authorized
	// refusals samples refusals for the audit log.
	refusals refusalSampler
}

// New builds the server's routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Ready == nil {
		cfg.Ready = func() bool { return true }
	}
	cfg.Version.GoVersion = runtime.Version()
	cfg.Version.Platform = runtime.GOOS + "/" + runtime.GOARCH
	s := &Server{
		backend: cfg.Backend, auth: cfg.Auth, ready: cfg.Ready, maxBody: cfg.MaxBodyBytes,
		version: cfg.Version, join: cfg.Join, leases: cfg.Leases, network: cfg.Network, fails: cfg.Failures, log: cfg.Log,
		accounts: cfg.Accounts, oidc: cfg.OIDC, audit: cfg.Audit,
	}
	if cfg.Accounts != nil {
		s.authz = cfg.Accounts
	}
	// The records are the server's, written while serving a node's renewal.
	s.nodeCerts = &nodeCerts{backend: client.AsServer(cfg.Backend), serials: map[string][2]string{}}
	if s.fails == nil {
		s.fails = auth.NewFailureLimiter(auth.DefaultFailureRate, auth.DefaultFailureBurst)
		s.joinFails = auth.NewFailureLimiter(auth.DefaultFailureRate, auth.DefaultFailureBurst)
	} else {
		s.joinFails = s.fails // a test's limiter
	}
	if cfg.Agents != nil {
		s.agents = &agentProxy{cfg: *cfg.Agents, trs: map[agentKey]*agentTransport{}}
	}
	e := echo.NewWithConfig(echo.Config{
		Logger:           cfg.Log,
		HTTPErrorHandler: s.handleError,
	})
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/version", s.getVersion)
	e.GET("/cacerts", s.getCACerts)
	e.POST("/join/v1/node", s.joinNode)
	e.POST("/join/v1/renew", s.renewNode)
	e.GET("/api/v1/nodes/:name/lease", s.nodeLease)
	e.GET("/cluster/v1/network", s.clusterNetwork)
	e.GET("/whoami", s.whoAmI)
	e.PUT("/api/v1/nodes/:name/lease", s.nodeLease)
	e.GET("/api/v1/namespaces/:namespace/pods/:name/log", s.podLog)
	e.GET("/api/v1/namespaces/:namespace/pods/:name/exec", s.podExec)
	e.Any("/api/v1/*", s.serveObjects)
	s.signInRoutes(e)
	if cfg.Apps != nil {
		if err := s.setUpApps(e, cfg.Apps); err != nil {
			return nil, err
		}
	}
	for _, r := range e.Router().Routes() {
		s.routes = append(s.routes, r.Method+" "+r.Path)
	}
	api := s.authenticate(e)
	s.handler = api
	if s.git != nil {
		s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/git/") {
				s.serveGit(w, r)
				return
			}
			api.ServeHTTP(w, r)
		})
	}
	return s, nil
}

// Handler is the server's http.Handler, authentication included.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) handleError(c *echo.Context, err error) {
	if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Committed {
		return
	}
	st := statusOf(err)
	if st.Code >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	writeError(c.Response(), err)
}

// registryPath reports whether p is under /v2/, the apps' images, where
// credentials also come as HTTP Basic (an API token as the password) after
// a WWW-Authenticate challenge, as registry clients send them.
func registryPath(p string) bool { return p == "/v2" || strings.HasPrefix(p, "/v2/") }

// publicPaths are answered without credentials: health, the CA, joining
// (joinNode checks the join secret itself), and signing in. A sign-in
// page given credentials still sees who they are (the CLI's sign-in
// asks a signed-in browser to confirm).
var publicPaths = map[string]bool{
	"/healthz": true, "/readyz": true, "/cacerts": true, "/join/v1/node": true,
	"/login": true, "/auth/v1/login": true, "/auth/v1/token": true, "/auth/v1/cli": true,
	"/auth/v1/oidc/start": true, "/auth/v1/oidc/callback": true, "/auth/v1/invite": true,
}

// authenticate finds who a request is from — a verified client
// certificate, a bearer token (admin, access or API token), or a session
// cookie — and lets through only authenticated requests, unknown paths
// included, except to publicPaths. A request with a session cookie that
// changes anything must carry the CSRF token too. The identity's open
// requests end when its user is disabled or its session or token
// revoked; every request is offered to the audit log.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &requestInfo{}
		r = r.WithContext(withRequestInfo(r.Context(), ri))
		if s.audit != nil {
			rec := &statusRecorder{ResponseWriter: w}
			w = rec
			defer func() { s.record(r, ri, rec.status()) }()
		}
		public := publicPaths[r.URL.Path]
		id, cookie, err := s.identify(r)
		if err != nil && cookie {
			clearSession(w) // the browser stops sending a dead session
		}
		if !public && registryPath(r.URL.Path) && (errdefs.IsUnauthorized(err) || err == nil && id == nil) {
			// Registry clients (docker, crane, skopeo, containerd) send
			// the credentials they were given only when challenged.
			w.Header().Set("WWW-Authenticate", `Basic realm="skiff"`)
		}
		if err != nil && !public {
			ri.reason = err.Error()
			writeError(w, err)
			return
		}
		if id == nil {
			if !public {
				ri.reason = "no credentials"
				if registryPath(r.URL.Path) {
					// A registry client's first request, before the
					// challenge; told apart from guessing in the log.
					ri.reason = "no credentials (a registry client is challenged first)"
				}
				writeError(w, fmt.Errorf("sign in first: send a bearer token (skiff login, or an API token), a session cookie or a client certificate: %w", errdefs.ErrUnauthorized))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		ri.id = id
		if cookie && !public {
			// Reads too: a log or an exec WebSocket (a GET) opened by
			// another site's script must not ride on the cookie.
			var check func(*http.Request) error
			switch {
			case !safeMethod(r.Method):
				check = checkCSRF
			case r.Header.Get("Sec-Fetch-Mode") != "navigate":
				// A top-level navigation shows the answer to the person
				// only (a link from elsewhere, the redirect after a
				// provider's sign-in); a script's fetch or WebSocket
				// would read it.
				check = sameOrigin
			}
			if check != nil {
				if err := check(r); err != nil {
					ri.reason = err.Error()
					writeError(w, err)
					return
				}
			}
		}
		ctx := auth.WithIdentity(r.Context(), id)
		if s.accounts != nil && (id.Session != "" || id.Token != "") {
			var stop func()
			ctx, stop = s.accounts.Track(ctx, id)
			defer stop()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// identify returns the request's identity: nil, with no error, when it
// carries no credentials; cookie says it came (or failed) from a session
// cookie.
func (s *Server) identify(r *http.Request) (id *auth.Identity, cookie bool, err error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		// The chain was verified at the handshake; a connection may
		// outlive the certificate (HTTP/2 keeps one for days): each new
		// request checks it again. A request in progress (a watch) runs
		// on.
		leaf := r.TLS.VerifiedChains[0][0]
		if now := time.Now(); now.After(leaf.NotAfter) {
			return nil, false, fmt.Errorf("the client certificate of %s expired at %s: a node rejoins with a join token (skiff agent --token): %w",
				leaf.Subject.CommonName, leaf.NotAfter.Format(time.RFC3339), errdefs.ErrUnauthorized)
		}
		id := auth.CertIdentity(leaf)
		id.Via = "certificate"
		if id.InGroup(auth.GroupNodes) && s.join != nil {
			// A node counts only with its recorded certificate.
			name := id.NodeName()
			if name == "" {
				return nil, false, fmt.Errorf("a node certificate without a node name: %w", errdefs.ErrUnauthorized)
			}
			if err := s.nodeCerts.check(r.Context(), name, leaf, r.URL.Path == "/join/v1/renew"); err != nil {
				return nil, false, err
			}
		}
		return id, false, nil
	}
	token, ok := auth.BearerToken(r)
	basic := false
	if !ok && registryPath(r.URL.Path) {
		// docker login's user and password: the password is the token.
		_, token, ok = r.BasicAuth()
		ok = ok && token != ""
		basic = ok
	}
	if ok {
		done, err := s.fails.Attempt(r.RemoteAddr)
		if err != nil {
			return nil, false, err
		}
		id, err := s.auth.AuthenticateToken(r.Context(), token)
		done(errdefs.IsUnauthorized(err))
		if err != nil && basic {
			err = fmt.Errorf("the password is not a token this server knows (log in with an API token, `skiff token create`, as the password): %w", err)
		}
		if err != nil {
			return nil, false, err
		}
		if id.Via == "" {
			id.Via = "token"
			if basic {
				id.Via = "basic"
			}
		}
		return id, false, nil
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && s.accounts != nil {
		// Not counted as a failed guess: a session's secret (32 random
		// bytes) cannot be guessed, and a browser goes on sending a
		// revoked or expired session's cookie — counting those would
		// lock out everyone behind its address.
		id, err := s.accounts.AuthenticateSession(r.Context(), c.Value)
		if err != nil {
			return nil, true, fmt.Errorf("your session has ended; sign in again at /login: %w", err)
		}
		id.Via = "cookie"
		return id, true, nil
	}
	return nil, false, nil
}

// safeMethod: requests that change nothing (and so need no CSRF token).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// whoAmI says who the server takes the caller for.
func (s *Server) whoAmI(c *echo.Context) error {
	r := c.Request()
	id, _ := auth.IdentityFrom(r.Context())
	if id == nil {
		return errdefs.ErrUnauthorized
	}
	w := client.WhoAmI{Name: id.Name, Groups: id.Groups, Via: id.Via}
	if s.accounts != nil {
		for _, g := range s.accounts.Grants(id) {
			w.Roles = append(w.Roles, client.WhoAmIRole{Role: g.Role, Binding: g.Binding, Namespaces: g.Namespaces})
		}
	}
	if id.Scope != nil {
		w.Scope = &client.WhoAmIRole{Role: id.Scope.Role, Namespaces: id.Scope.Namespaces}
	}
	return c.JSON(http.StatusOK, w)
}

func (s *Server) healthz(c *echo.Context) error { return c.String(http.StatusOK, "ok") }

func (s *Server) readyz(c *echo.Context) error {
	if !s.ready() {
		return c.String(http.StatusServiceUnavailable, "not ready")
	}
	return c.String(http.StatusOK, "ok")
}

func (s *Server) getVersion(c *echo.Context) error { return c.JSON(http.StatusOK, s.version) }

// Serve answers HTTPS on ln until ctx ends, then shuts down gracefully,
// giving open requests (watches are cut) up to five seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config) error {
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	if s.git != nil {
		go func() {
			if err := s.git.Run(ctx); err != nil {
				s.log.Error("git hooks stopped: pushes are refused", "err", err)
			}
		}()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("apiserver: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("apiserver: %w", err)
	}
	return nil
}
