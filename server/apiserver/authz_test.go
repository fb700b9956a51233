package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/time/rate"

	"github.com/skiffhq/skiff/server/accounts"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/appimages"
	"github.com/skiffhq/skiff/server/apps"
	"github.com/skiffhq/skiff/server/audit"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/auth/oidc"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/gitpush"
	"github.com/skiffhq/skiff/server/nodelease"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// acctServer is a real API server with the identity system: accounts over
// a real registry and bbolt store, the audit log, roles.
type acctServer struct {
	*testServer
	srv   *Server
	reg   *registry.Registry
	accts *accounts.Accounts
	audit *audit.Log
	pool  *x509.CertPool
	pki   *auth.PKI
	// static is the foundation's admin token authenticator the accounts
	// were given; auditDir the audit log's directory.
	static   auth.TokenAuthenticator
	auditDir string
}

// acctConfig is what differs between the accounts servers of the tests
// and benchmarks.
type acctConfig struct {
	// failures is the per-address failure limiter (nil: none that ever
	// refuses, rate.Inf).
	failures *auth.FailureLimiter
	// now is the accounts' clock (nil: time.Now).
	now func() time.Time
	// log receives the accounts' and the server's logs (nil: discarded).
	log *slog.Logger
	// provider, when set, makes the OpenID Connect provider for the
	// server's URL.
	provider func(serverURL string) *oidc.Provider
}

func startAccountsServer(t testing.TB, provider func(url string) *oidc.Provider) *acctServer {
	t.Helper()
	return startAccountsServerWith(t, acctConfig{provider: provider})
}

func startAccountsServerWith(tb testing.TB, cfg acctConfig) *acctServer {
	tb.Helper()
	if cfg.failures == nil {
		cfg.failures = auth.NewFailureLimiter(rate.Inf, 1)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	dir := tb.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	pki, err := auth.EnsurePKI(pkiDir, auth.PKIConfig{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	token, _, err := auth.EnsureAdminToken(pkiDir)
	if err != nil {
		tb.Fatal(err)
	}
	hash, _ := auth.LoadTokenHash(pkiDir)
	st, err := store.Open(store.Config{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		tb.Fatal(err)
	}
	reg, _ := registry.New(registry.Config{Store: st})
	ctx, cancel := context.WithCancel(context.Background())
	if err := reg.EnsureNamespaces(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := reg.Create(ctx, "namespaces", "", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			tb.Fatal(err)
		}
	}
	static := auth.NewStaticToken(hash, auth.Identity{Name: "admin", Groups: []string{auth.GroupAdmins}})
	accts, err := accounts.New(accounts.Config{Backend: reg, KeyDir: pkiDir, AdminToken: static, Now: cfg.now, Log: cfg.log})
	if err != nil {
		tb.Fatal(err)
	}
	reg.SetAuthorizer(accts)
	runDone := make(chan struct{})
	go func() { accts.Run(ctx); close(runDone) }()
	if !accts.WaitForSync(ctx) {
		tb.Fatal("accounts did not sync")
	}
	auditDir := filepath.Join(dir, "audit")
	al, err := audit.Open(auditDir, audit.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	u := "https://" + ln.Addr().String()
	var p *oidc.Provider
	if cfg.provider != nil {
		p = cfg.provider(u)
	}
	appSvc, err := apps.New(apps.Config{Backend: reg, BuildDir: filepath.Join(dir, "builds"), Log: cfg.log})
	if err != nil {
		tb.Fatal(err)
	}
	appsCfg := &AppsConfig{Service: appSvc, Repos: &gitpush.Repos{Root: filepath.Join(dir, "git"), HookCommand: []string{"false"}},
		Images: &appimages.Config{Namespace: "skiff", Host: api.AppImageHost,
			Containerd: func(context.Context) (*containerd.Client, error) {
				return nil, fmt.Errorf("these tests run no containerd: %w", errdefs.ErrUnavailable)
			}}}
	srv, err := New(Config{Backend: reg, Auth: accts, Accounts: accts, Audit: al, OIDC: p, Apps: appsCfg,
		Failures: cfg.failures, Leases: nodelease.New(nil), Log: cfg.log,
		Network: &client.ClusterNetwork{ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16", ClusterDNS: "10.43.0.10", Overlay: "vxlan"}})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln, pki.ServerTLSConfig()); close(done) }()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.CAPEM())
	ts := &testServer{url: u, token: token, http: &http.Client{Transport: warmTransport(pki.CAPEM(), true, 64)},
		store: st, caPEM: pki.CAPEM(), cancel: cancel}
	tb.Cleanup(func() { cancel(); <-done; <-runDone; al.Close(); st.Close() })
	return &acctServer{testServer: ts, srv: srv, reg: reg, accts: accts, audit: al, pool: pool, pki: pki, static: static, auditDir: auditDir}
}

// addUser makes a local user with a password and a role binding
// (namespaces nil: everywhere) and returns an access token of a fresh
// password sign-in.
func (s *acctServer) addUser(t *testing.T, name, role string, namespaces ...string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.reg.Create(ctx, "users", "", &api.User{ObjectMeta: api.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	if role != "" {
		rb := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: name + "-" + role}, Role: role,
			Subjects: []api.Subject{{Kind: api.SubjectUser, Name: name}}, Namespaces: namespaces}
		if _, err := s.reg.Create(ctx, "rolebindings", "", rb); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.accts.SetPassword(ctx, name, "correct horse "+name); err != nil {
		t.Fatal(err)
	}
	tok := s.signIn(t, name)
	if role != "" {
		// The binding reaches the policy through an informer.
		at := auth.Attributes{Verb: "get", Resource: "pods", Namespace: "team-a", Name: "x", Namespaced: true}
		waitFor(t, 5*time.Second, func() bool {
			return s.accts.Authorize(ctx, &auth.Identity{Name: name, Groups: []string{"skiff:authenticated"}}, at) == nil
		})
	}
	return tok
}

// signIn signs a user of addUser in with a password, as `skiff login
// --user` does, and returns the access token.
func (s *acctServer) signIn(t *testing.T, name string) string {
	t.Helper()
	pw := "correct horse " + name
	var tr client.TokenResponse
	waitFor(t, 5*time.Second, func() bool {
		a := s.anon(t, http.MethodPost, "/auth/v1/login", fmt.Sprintf(`{"username":%q,"password":%q}`, name, pw), "Content-Type", "application/json")
		return a.code == http.StatusOK && json.Unmarshal(a.body, &tr) == nil
	})
	return tr.AccessToken
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not so within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nodeAsk sends a request with node's certificate, reading a success's
// body only for a moment (as ask).
func (s *acctServer) nodeAsk(t testing.TB, node, method, path, body string, hdr ...string) answer {
	t.Helper()
	pair, err := s.pki.NodeKeyPair(node)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool, Certificates: []tls.Certificate{pair}}}}
	defer hc.CloseIdleConnections()
	saved := s.http
	s.http = hc
	defer func() { s.http = saved }()
	return s.ask(t, "", method, path, body, hdr...)
}

// anon sends a request without credentials.
func (s *acctServer) anon(t testing.TB, method, path, body string, hdr ...string) answer {
	return s.as(t, "", method, path, body, hdr...)
}

// as sends a request with bearer token tok ("" none).
func (s *acctServer) as(t testing.TB, tok, method, path, body string, hdr ...string) answer {
	t.Helper()
	return s.do(t, method, path, body, append([]string{"Authorization", bearer(tok)}, hdr...)...)
}

// ask is as, but reads a success's body only for a moment: an allowed
// watch (or exec) streams on.
func (s *acctServer) ask(t testing.TB, tok, method, path, body string, hdr ...string) answer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, s.url+path, r)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		return answer{code: resp.StatusCode}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return answer{resp.StatusCode, b}
}

func bearer(tok string) string {
	if tok == "" {
		return ""
	}
	return "Bearer " + tok
}

// routeCase is one request to one route, and what it asks.
type routeCase struct {
	method, path, body string
	// write: the request changes something (a viewer is refused).
	write bool
	// namespace: the namespace it acts in ("" cluster-scoped; "*" every
	// namespace).
	namespace string
	// secret: it reads Secrets (a viewer is refused).
	secret bool
	// self: a sign-in route every signed-in person may use on their own
	// behalf (their API tokens, sessions, logout).
	self bool
	// public: answered without credentials.
	public bool
	// any: every signed-in identity may (whoami, version, the network).
	any bool
	// hides: a refused person hears 404, as if it did not exist.
	hides bool
	// nodeScoped: a node may only for its own pods (TestAppImagesForNodes).
	nodeScoped bool
}

// allRoutes is a request to every route the server has, for every kind.
func allRoutes() []routeCase {
	var cs []routeCase
	for _, k := range api.Kinds() {
		coll := "/api/v1/" + k.Resource
		ns := ""
		if k.Namespaced {
			ns = "team-b"
			coll = "/api/v1/namespaces/team-b/" + k.Resource
			cs = append(cs,
				routeCase{method: "GET", path: "/api/v1/" + k.Resource, namespace: "*", secret: k.Resource == "secrets"},
				routeCase{method: "GET", path: "/api/v1/" + k.Resource + "?watch=true", namespace: "*", secret: k.Resource == "secrets"})
		}
		obj := coll + "/x"
		sec := k.Resource == "secrets"
		cs = append(cs,
			routeCase{method: "GET", path: coll, namespace: ns, secret: sec},
			routeCase{method: "GET", path: coll + "?watch=true", namespace: ns, secret: sec},
			routeCase{method: "POST", path: coll, body: `{}`, write: true, namespace: ns},
			routeCase{method: "GET", path: obj, namespace: ns, secret: sec},
			routeCase{method: "PUT", path: obj, body: `{}`, write: true, namespace: ns},
			routeCase{method: "PATCH", path: obj, body: `{}`, write: true, namespace: ns},
			routeCase{method: "DELETE", path: obj, write: true, namespace: ns},
		)
		if k.HasStatus {
			cs = append(cs,
				routeCase{method: "GET", path: obj + "/status", namespace: ns},
				routeCase{method: "PUT", path: obj + "/status", body: `{}`, write: true, namespace: ns},
				routeCase{method: "PATCH", path: obj + "/status", body: `{}`, write: true, namespace: ns})
		}
	}
	return append(cs,
		routeCase{method: "GET", path: "/api/v1/namespaces/team-b/pods/x/log", namespace: "team-b"},
		routeCase{method: "GET", path: "/api/v1/namespaces/team-b/builds/x/log", namespace: "team-b"},
		routeCase{method: "POST", path: "/api/v1/namespaces/team-b/apps/x/config", body: `{"set":{"A":"1"}}`, write: true, namespace: "team-b"},
		routeCase{method: "POST", path: "/api/v1/namespaces/team-b/apps/x/rollback", body: `{}`, write: true, namespace: "team-b"},
		routeCase{method: "GET", path: "/api/v1/namespaces/team-b/pods/x/exec?command=sh", namespace: "team-b", write: true},
		routeCase{method: "GET", path: "/v2/", any: true},
		// App y is in team-b (TestEveryRouteIsAuthorized makes it).
		routeCase{method: "GET", path: "/v2/apps/y/manifests/latest", namespace: "team-b", hides: true, nodeScoped: true},
		routeCase{method: "GET", path: "/api/v1/nodes/x/lease"},
		routeCase{method: "PUT", path: "/api/v1/nodes/x/lease", body: `{"leaseDurationSeconds":10}`, write: true},
		routeCase{method: "GET", path: "/audit/v1/events"},
		routeCase{method: "POST", path: "/auth/v1/users/x/password", body: `{"password":"0123456789ab"}`, write: true},
		routeCase{method: "POST", path: "/auth/v1/users/x/invite", body: `{}`, write: true},
		routeCase{method: "POST", path: "/join/v1/renew", body: `{}`, write: true},
		routeCase{method: "GET", path: "/auth/v1/tokens", self: true},
		routeCase{method: "POST", path: "/auth/v1/tokens", body: `{"name":"ci","role":"viewer"}`, self: true},
		routeCase{method: "DELETE", path: "/auth/v1/tokens/abcdefgh", self: true},
		routeCase{method: "GET", path: "/auth/v1/sshkeys", self: true},
		routeCase{method: "POST", path: "/auth/v1/sshkeys", body: `{"name":"laptop","publicKey":"not a key"}`, self: true},
		routeCase{method: "DELETE", path: "/auth/v1/sshkeys/abcdefgh", self: true},
		routeCase{method: "GET", path: "/auth/v1/sessions", self: true},
		routeCase{method: "DELETE", path: "/auth/v1/sessions/abcdefgh", self: true},
		routeCase{method: "GET", path: "/whoami", any: true},
		routeCase{method: "GET", path: "/version", any: true},
		routeCase{method: "GET", path: "/cluster/v1/network", any: true},
		routeCase{method: "GET", path: "/healthz", public: true},
		routeCase{method: "GET", path: "/readyz", public: true},
		routeCase{method: "GET", path: "/cacerts", public: true},
		routeCase{method: "POST", path: "/join/v1/node", body: `{}`, public: true},
		routeCase{method: "GET", path: "/login", public: true},
		routeCase{method: "POST", path: "/auth/v1/login", body: `{"username":"x","password":"y"}`, public: true},
		routeCase{method: "POST", path: "/auth/v1/token", body: `{"grantType":"refresh_token","refreshToken":"x.y"}`, public: true},
		routeCase{method: "GET", path: "/auth/v1/cli", public: true},
		routeCase{method: "POST", path: "/auth/v1/cli", public: true},
		routeCase{method: "GET", path: "/auth/v1/oidc/start", public: true},
		routeCase{method: "GET", path: "/auth/v1/oidc/callback", public: true},
		routeCase{method: "GET", path: "/auth/v1/invite", public: true},
		routeCase{method: "POST", path: "/auth/v1/invite", public: true},
		// Last: it ends the caller's session.
		routeCase{method: "POST", path: "/auth/v1/logout", self: true},
	)
}

// routePattern turns an echo route into a regexp of the paths it serves.
func routePattern(p string) *regexp.Regexp {
	q := regexp.QuoteMeta(p)
	q = regexp.MustCompile(`:[a-z]+`).ReplaceAllString(q, `[^/]+`)
	q = strings.ReplaceAll(q, `\*`, `.*`)
	return regexp.MustCompile("^" + q + "$")
}

// TestEveryRouteIsAuthorized sends a request to every route of the
// server as nobody, a viewer, a developer of another namespace and an
// admin: no credentials get 401; a viewer's writes and a developer's
// requests outside team-a get 403 naming what is missing; an admin is
// never refused. A route the table misses fails the test.
func TestEveryRouteIsAuthorized(t *testing.T) {
	s := startAccountsServer(t, nil)
	viewer := s.addUser(t, "val", api.RoleViewer)
	dev := s.addUser(t, "dev", api.RoleDeveloper, "team-a")
	admin := s.addUser(t, "root", api.RoleAdmin)
	if _, err := s.reg.Create(context.Background(), "apps", "team-b", &api.App{ObjectMeta: api.ObjectMeta{Name: "y", Namespace: "team-b"}}); err != nil {
		t.Fatal(err)
	}
	cases := allRoutes()

	methods := map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}
	for _, r := range s.srv.routes {
		method, path, _ := strings.Cut(r, " ")
		if !methods[method] {
			continue // echo's Any also registers CONNECT, TRACE...: answered as the methods above
		}
		re := routePattern(path)
		if !slices.ContainsFunc(cases, func(c routeCase) bool {
			p, _, _ := strings.Cut(c.path, "?")
			return c.method == method && re.MatchString(p)
		}) {
			t.Errorf("route %s has no case in allRoutes: add one saying who may use it", r)
		}
	}

	for _, c := range cases {
		refused := func(code int) bool {
			return code == http.StatusUnauthorized || code == http.StatusForbidden || (c.hides && code == http.StatusNotFound)
		}
		forbidden := http.StatusForbidden
		if c.hides {
			forbidden = http.StatusNotFound
		}
		name := c.method + " " + c.path
		hdr := []string{}
		if c.method == "PATCH" {
			hdr = append(hdr, "Content-Type", "application/merge-patch+json")
		} else if c.body != "" {
			hdr = append(hdr, "Content-Type", "application/json")
		}
		call := func(tok string) answer { return s.ask(t, tok, c.method, c.path, c.body, hdr...) }
		if a := call(""); c.public && a.code == http.StatusUnauthorized && strings.Contains(a.status(t).Message, "sign in first") {
			t.Errorf("%s without credentials: %s, want an answer (public)", name, a.body)
		} else if !c.public && a.code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d %s, want 401", name, a.code, a.body)
		}
		if c.public {
			continue
		}
		a := call(viewer)
		switch {
		case (c.write || c.secret) && !c.self && a.code != http.StatusForbidden:
			t.Errorf("%s as a viewer: %d %s, want 403", name, a.code, a.body)
		case (c.write || c.secret) && !c.self && !strings.Contains(a.status(t).Message, "val"):
			t.Errorf("%s as a viewer: 403 %q does not say who", name, a.status(t).Message)
		case !c.write && !c.secret && !c.self && !c.any && c.path != "/audit/v1/events" && refused(a.code):
			t.Errorf("%s as a viewer (reads): %d %s", name, a.code, a.body)
		}
		a = call(dev)
		outside := c.namespace == "team-b" || c.namespace == "*" || (c.namespace == "" && c.write)
		switch {
		case c.self || c.any:
			if refused(a.code) {
				t.Errorf("%s as a developer: %d %s, want it allowed (own account)", name, a.code, a.body)
			}
		case outside && a.code != forbidden:
			t.Errorf("%s as a developer of team-a: %d %s, want %d", name, a.code, a.body, forbidden)
		}
		// A node reads the object kinds its agent uses — not identities,
		// not Secrets in bulk — and nothing of the identity routes, logs
		// or exec. (Its writes: TestNodeMayWrite.)
		if !c.write && !c.self && !c.any {
			a := s.nodeAsk(t, "n1", c.method, c.path, c.body, hdr...)
			identity := strings.Contains(c.path, "/users") || strings.Contains(c.path, "/roles") || strings.Contains(c.path, "/rolebindings") ||
				strings.HasPrefix(c.path, "/audit/") || strings.Contains(c.path, "/log") || c.secret
			if (identity || c.nodeScoped) && a.code != http.StatusForbidden {
				t.Errorf("%s as a node: %d %s, want 403", name, a.code, a.body)
			} else if !identity && !c.nodeScoped && refused(a.code) {
				t.Errorf("%s as a node: %d %s, want it allowed", name, a.code, a.body)
			}
		}
		if a := call(admin); refused(a.code) && c.path != "/join/v1/renew" {
			t.Errorf("%s as an admin: %d %s", name, a.code, a.body)
		}
		if a := call(s.token); refused(a.code) && c.path != "/join/v1/renew" && c.path != "/auth/v1/tokens" && c.path != "/auth/v1/logout" {
			t.Errorf("%s with the admin token: %d %s", name, a.code, a.body)
		}
	}
	// The loop's last request logged dev out.
	dev = s.signIn(t, "dev")

	for _, p := range []string{"/auth/v1/users/boss/password", "/auth/v1/users/boss/invite"} {
		if a := s.nodeAsk(t, "n1", "POST", p, `{"password":"0123456789ab"}`, "Content-Type", "application/json"); a.code != http.StatusForbidden {
			t.Errorf("POST %s as a node: %d %s, want 403", p, a.code, a.body)
		}
	}
	for _, p := range []string{"/auth/v1/tokens?all=true", "/auth/v1/sessions?user=boss"} {
		if a := s.nodeAsk(t, "n1", "GET", p, ""); a.code != http.StatusForbidden {
			t.Errorf("GET %s as a node: %d %s, want 403", p, a.code, a.body)
		}
	}

	// The developer is at home in team-a.
	if a := s.as(t, dev, "POST", "/api/v1/namespaces/team-a/configmaps", `{"metadata":{"name":"c"},"data":{"k":"v"}}`, "Content-Type", "application/json"); a.code != http.StatusCreated {
		t.Errorf("developer creating a configmap in team-a: %d %s", a.code, a.body)
	}
	if a := s.as(t, dev, "GET", "/api/v1/nodes", ""); a.code != http.StatusOK {
		t.Errorf("developer listing nodes: %d %s", a.code, a.body)
	}
	// (Another developer: dev's hundreds of refusals above are sampled
	// in the audit log, as a flood is.)
	eve := s.addUser(t, "eve", api.RoleDeveloper, "team-a")
	a := s.as(t, eve, "DELETE", "/api/v1/namespaces/team-b/deployments/web", "")
	if msg := a.status(t).Message; !strings.Contains(msg, "delete") || !strings.Contains(msg, "deployments") || !strings.Contains(msg, "team-b") {
		t.Errorf("a denial names the missing permission: %q", msg)
	}

	// Every refusal is in the audit log, with who and why.
	entries, err := s.audit.Query(context.Background(), audit.Filter{User: "eve", Denied: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Verb == "delete" && e.Resource == "deployments" && e.Namespace == "team-b" && !e.Allowed && e.Code == 403 && e.Reason != "" && e.Address == "127.0.0.1" {
			found = true
		}
	}
	if !found {
		t.Errorf("the audit log has no entry of eve's refused delete of deployments in team-b: %+v", entries)
	}
}

// TestRevokedCredentialsStopAtOnce: a revoked session, a revoked API
// token and a disabled user are refused on the next request, and a watch
// held open by a user who is disabled ends.
func TestRevokedCredentialsStopAtOnce(t *testing.T) {
	s := startAccountsServer(t, nil)
	dev := s.addUser(t, "dev", api.RoleDeveloper, "team-a")
	if a := s.as(t, dev, "GET", "/api/v1/namespaces/team-a/pods", ""); a.code != http.StatusOK {
		t.Fatalf("before: %d %s", a.code, a.body)
	}

	// An API token, then its revocation.
	a := s.as(t, dev, "POST", "/auth/v1/tokens", `{"name":"ci","role":"viewer","namespaces":["team-a"]}`, "Content-Type", "application/json")
	var tok client.APIToken
	if a.code != http.StatusCreated || json.Unmarshal(a.body, &tok) != nil || tok.Token == "" {
		t.Fatalf("create token: %d %s", a.code, a.body)
	}
	if a := s.as(t, tok.Token, "GET", "/api/v1/namespaces/team-a/pods", ""); a.code != http.StatusOK {
		t.Fatalf("token read: %d %s", a.code, a.body)
	}
	if a := s.as(t, tok.Token, "POST", "/api/v1/namespaces/team-a/configmaps", `{"metadata":{"name":"c"}}`, "Content-Type", "application/json"); a.code != http.StatusForbidden {
		t.Errorf("a viewer-scoped token of a developer writing: %d %s, want 403", a.code, a.body)
	}
	if a := s.as(t, tok.Token, "GET", "/api/v1/namespaces/team-b/pods", ""); a.code != http.StatusForbidden {
		t.Errorf("a token outside its namespaces: %d %s, want 403", a.code, a.body)
	}
	if a := s.as(t, dev, "DELETE", "/auth/v1/tokens/"+tok.ID, ""); a.code != http.StatusNoContent {
		t.Fatalf("revoke token: %d %s", a.code, a.body)
	}
	if a := s.as(t, tok.Token, "GET", "/api/v1/namespaces/team-a/pods", ""); a.code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d %s, want 401", a.code, a.body)
	}

	// A watch as dev, then dev is disabled: the watch ends and the next
	// request is refused.
	req, _ := http.NewRequest("GET", s.url+"/api/v1/namespaces/team-a/configmaps?watch=true", nil)
	req.Header.Set("Authorization", "Bearer "+dev)
	resp, err := s.http.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %v %v", err, resp)
	}
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, bufio.NewReader(resp.Body))
		close(ended)
	}()
	if _, err := s.reg.Patch(context.Background(), "users", "", "dev", []byte(`{"spec":{"disabled":true}}`), ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the disabled user's watch is still open after 5 s")
	}
	if a := s.as(t, dev, "GET", "/api/v1/namespaces/team-a/pods", ""); a.code != http.StatusUnauthorized {
		t.Errorf("a disabled user's access token: %d %s, want 401", a.code, a.body)
	}

	// Logout ends a session: its access token stops at once.
	other := s.addUser(t, "ann", api.RoleDeveloper, "team-a")
	if a := s.as(t, other, "POST", "/auth/v1/logout", ""); a.code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", a.code, a.body)
	}
	if a := s.as(t, other, "GET", "/whoami", ""); a.code != http.StatusUnauthorized {
		t.Errorf("after logout: %d %s, want 401", a.code, a.body)
	}
}

// browser is an HTTP client that keeps cookies and does not follow
// redirects, so a test can look at each step of a sign-in.
func (s *acctServer) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: s.http.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func cookieValue(b *http.Client, u, name string) string {
	pu, _ := url.Parse(u)
	for _, c := range b.Jar.Cookies(pu) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// TestBrowserSessionNeedsCSRF signs in through the sign-in page's form
// and uses the session cookie: reads work, a change without the CSRF
// token or from another site's page is refused, with it allowed.
func TestBrowserSessionNeedsCSRF(t *testing.T) {
	s := startAccountsServer(t, nil)
	s.addUser(t, "dev", api.RoleDeveloper, "team-a")
	b := s.browser(t)
	resp, err := b.Get(s.url + "/login?return=/whoami")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %v %v", err, resp)
	}
	resp.Body.Close()
	csrf := cookieValue(b, s.url, csrfCookie)
	if csrf == "" {
		t.Fatal("the sign-in page set no CSRF cookie")
	}
	form := url.Values{"username": {"dev"}, "password": {"wrong password!"}, "csrf": {csrf}, "return": {"/whoami"}}
	resp, _ = b.PostForm(s.url+"/auth/v1/login", form)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "wrong user name or password") {
		t.Errorf("wrong password: %d %s", resp.StatusCode, body)
	}
	form.Set("password", "correct horse dev")
	form.Del("csrf")
	if resp, _ := b.PostForm(s.url+"/auth/v1/login", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a sign-in form without the CSRF token: %d, want 403", resp.StatusCode)
	}
	form.Set("csrf", csrf)
	resp, _ = b.PostForm(s.url+"/auth/v1/login", form)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/whoami" {
		t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sc = c
		}
	}
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Domain != "" {
		t.Fatalf("session cookie: %+v, want __Host- Secure HttpOnly SameSite=Lax Path=/", sc)
	}
	resp, _ = b.Get(s.url + "/whoami")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"dev"`) || !strings.Contains(string(body), "cookie") {
		t.Fatalf("whoami by cookie: %d %s", resp.StatusCode, body)
	}
	// Reads by cookie from another site's page (an exec WebSocket is a
	// GET) are refused too, same-site pages (apps on sibling
	// subdomains) included.
	for _, h := range [][2]string{{"Origin", "https://app.evil.example"}, {"Sec-Fetch-Site", "same-site"}, {"Sec-Fetch-Site", "cross-site"}} {
		req, _ := http.NewRequest("GET", s.url+"/api/v1/namespaces/team-a/pods/x/exec?command=sh", nil)
		req.Header.Set(h[0], h[1])
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a cookie exec with %s: %s: %d, want 403", h[0], h[1], resp.StatusCode)
		}
	}
	post := func(hdr ...string) int {
		req, _ := http.NewRequest("POST", s.url+"/api/v1/namespaces/team-a/configmaps", strings.NewReader(`{"metadata":{"generateName":"c-"}}`))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusForbidden {
		t.Errorf("a cookie write without the CSRF token: %d, want 403", code)
	}
	if code := post(csrfHeader, "not-the-token-0123456789abcdefghijklmnop"); code != http.StatusForbidden {
		t.Errorf("a cookie write with a wrong CSRF token: %d, want 403", code)
	}
	if code := post(csrfHeader, csrf, "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("a cookie write from another site's page: %d, want 403", code)
	}
	if code := post(csrfHeader, csrf); code != http.StatusCreated {
		t.Errorf("a cookie write with the CSRF token: %d, want 201", code)
	}
	// Logging out by the form clears the cookie and ends the session.
	resp, _ = b.PostForm(s.url+"/auth/v1/logout", url.Values{"csrf": {csrf}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout form: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", s.url+"/whoami", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sc.Value})
	if resp, _ := s.http.Do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old cookie after logout: %d, want 401", resp.StatusCode)
	}
}

// TestSignInPageRefusesOpenRedirects: return= never leads off the
// server.
func TestSignInPageRefusesOpenRedirects(t *testing.T) {
	for in, want := range map[string]string{
		"/pods": "/pods", "//evil.example/x": "/", "https://evil.example": "/", "/\\evil.example": "/", "": "/", "/a\r\nSet-Cookie: x": "/", "/\t/evil.example": "/", "/%09/x": "/%09/x", "/ok?x=1#y": "/ok?x=1#y",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNoWayToAdmin: what a developer bound everywhere might try to make
// themselves an admin is refused: forging a session, token or password
// Secret (in skiff-system, or anywhere by its type), reading
// skiff-system's Secrets, binding a role, editing their own groups,
// resetting another's password, or an API token asking for more.
func TestNoWayToAdmin(t *testing.T) {
	s := startAccountsServer(t, nil)
	dev := s.addUser(t, "dev", api.RoleDeveloper) // everywhere
	ct := []string{"Content-Type", "application/json"}
	forged := `{"metadata":{"name":"session-abcdefghijklmnop"},"type":"skiff.dev/session","stringData":{"user":"dev","groups":"skiff:admins"}}`
	for _, c := range []struct{ what, method, path, body string }{
		{"a session Secret in skiff-system", "POST", "/api/v1/namespaces/skiff-system/secrets", forged},
		{"an Opaque Secret in skiff-system", "POST", "/api/v1/namespaces/skiff-system/secrets", `{"metadata":{"name":"x"}}`},
		{"a session-typed Secret in its own namespace", "POST", "/api/v1/namespaces/team-a/secrets", forged},
		{"reading skiff-system's Secrets", "GET", "/api/v1/namespaces/skiff-system/secrets", ""},
		{"reading all namespaces' Secrets", "GET", "/api/v1/secrets", ""},
		{"watching all namespaces' Secrets", "GET", "/api/v1/secrets?watch=true", ""},
		{"binding the admin role", "POST", "/api/v1/rolebindings", `{"metadata":{"name":"me"},"role":"admin","subjects":[{"kind":"User","name":"dev"}]}`},
		{"a role of its own", "POST", "/api/v1/roles", `{"metadata":{"name":"all"},"rules":[{"verbs":["*"],"resources":["*"]}]}`},
		{"its own groups", "PATCH", "/api/v1/users/dev", `{"spec":{"groups":["skiff:admins"]}}`},
		{"another's password", "POST", "/auth/v1/users/admin/password", `{"password":"0123456789ab"}`},
	} {
		hdr := ct
		if c.method == "PATCH" {
			hdr = []string{"Content-Type", "application/merge-patch+json"}
		}
		if a := s.ask(t, dev, c.method, c.path, c.body, hdr...); a.code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", c.what, a.code, a.body)
		}
	}
	// An API token with the admin role acts no further than its owner.
	a := s.as(t, dev, "POST", "/auth/v1/tokens", `{"name":"big","role":"admin"}`, ct...)
	var tok client.APIToken
	if a.code != http.StatusCreated || json.Unmarshal(a.body, &tok) != nil {
		t.Fatalf("token: %d %s", a.code, a.body)
	}
	if a := s.ask(t, tok.Token, "POST", "/api/v1/rolebindings", `{"metadata":{"name":"me"},"role":"admin","subjects":[{"kind":"User","name":"dev"}]}`, ct...); a.code != http.StatusForbidden {
		t.Errorf("an admin-role token of a developer binding admin: %d %s, want 403", a.code, a.body)
	}
	if a := s.ask(t, tok.Token, "DELETE", "/api/v1/nodes/n1", ""); a.code != http.StatusForbidden {
		t.Errorf("an admin-role token of a developer deleting a node: %d %s, want 403", a.code, a.body)
	}
}

// TestRefusalSampler: a source's refusals go in at the burst, then at the
// rate, and the entry after a gap carries the count of those left out;
// other sources are not affected.
func TestRefusalSampler(t *testing.T) {
	var rs refusalSampler
	now := time.Unix(1000, 0)
	kept := 0
	for range 100 {
		if ok, _ := rs.admit("401 192.0.2.1", now); ok {
			kept++
		}
	}
	if kept != refusalBurst {
		t.Errorf("kept %d of 100 at once, want the burst %d", kept, refusalBurst)
	}
	if ok, _ := rs.admit("403 bob", now); !ok {
		t.Error("another source was held back")
	}
	ok, n := rs.admit("401 192.0.2.1", now.Add(time.Second))
	if !ok || n != 100-refusalBurst {
		t.Errorf("a second later: kept %t with %d left out, want true with %d", ok, n, 100-refusalBurst)
	}
}
