package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/server/client"
)

// The identity end-to-end tests: a real server (control plane only), the
// real skiff binary signing a person in three ways (browser over a
// loopback redirect, headless with a pasted code, password), and a Go
// HTTP client with a cookie jar playing the person's browser.

const alicePassword = "correct horse battery staple"

// identityServer starts a server with a namespace team-a and a user alice
// who is a developer there, with a password.
func identityServer(t *testing.T) *e2eServer {
	t.Helper()
	s := startServer(t, t.TempDir(), "")
	s.skiff("", "apply", "-f", writeFile(t, t.TempDir(), "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n")).must(t)
	r := s.skiff(alicePassword+"\n", "users", "create", "alice", "--role", "developer", "--namespaces", "team-a", "--password-stdin").must(t)
	for _, want := range []string{"user/alice created", "rolebinding/alice-developer created", "password set for alice"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("users create: output lacks %q:\n%s", want, r.out)
		}
	}
	return s
}

// adminConfig is the server's admin.yaml.
func (s *e2eServer) adminConfig(t *testing.T) client.Config {
	t.Helper()
	cfg, err := client.LoadConfig(s.config)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// caHash is what a person passes to skiff login --ca-hash: the SHA-256 of
// the CA certificate's DER, as a join token carries it.
func (s *e2eServer) caHash(t *testing.T) string {
	t.Helper()
	h, err := caHashOf(s.adminConfig(t).CA)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// browser is a person's browser: it keeps cookies, trusts the server's
// CA, and follows no redirect by itself, so that each step can be checked.
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T, caPEM string) *browser {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		t.Fatal("admin.yaml holds no CA certificate")
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(hc.CloseIdleConnections)
	return &browser{t: t, hc: hc}
}

// page is one answer the browser got.
type page struct {
	code     int
	location *url.URL // a redirect's target, resolved
	body     string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	req.Header.Set("User-Agent", "identity-e2e-browser")
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{code: resp.StatusCode, body: string(body)}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("%s %s: Location %q: %v", req.Method, req.URL, loc, err)
		}
		p.location = u
	}
	return p
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// cookie is the value of the browser's cookie name for u.
func (b *browser) cookie(u, name string) string {
	pu, _ := url.Parse(u)
	for _, c := range b.hc.Jar.Cookies(pu) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

// form is a page's form: where it posts, and its hidden fields.
func (p page) form(t *testing.T) (action string, fields url.Values) {
	t.Helper()
	m := formAction.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the page has no form:\n%s", p.body)
	}
	fields = url.Values{}
	for _, f := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		fields.Set(f[1], html.UnescapeString(f[2]))
	}
	return html.UnescapeString(m[1]), fields
}

// signInAndApprove plays a person who opens a skiff login address (the
// server's /auth/v1/cli), is sent to sign in, signs in as user, and
// approves the command-line sign-in. It returns the approval's answer: a
// redirect to the CLI's listener, or the page with the code.
func (b *browser) signInAndApprove(cliURL, user, password string) page {
	t := b.t
	t.Helper()
	u, err := url.Parse(cliURL)
	if err != nil {
		t.Fatalf("sign-in address %q: %v", cliURL, err)
	}
	base := u.Scheme + "://" + u.Host

	// Not signed in: sent to the sign-in page, which comes back here.
	p := b.get(cliURL)
	if p.code != http.StatusSeeOther || p.location == nil || p.location.Path != "/login" {
		t.Fatalf("GET %s: %d to %v, want 303 to /login\n%s", cliURL, p.code, p.location, p.body)
	}
	if ret := p.location.Query().Get("return"); ret != u.RequestURI() {
		t.Errorf("the sign-in page returns to %q, want %q", ret, u.RequestURI())
	}
	p = b.get(p.location.String())
	if p.code != http.StatusOK {
		t.Fatalf("GET /login: %d\n%s", p.code, p.body)
	}
	csrf := b.cookie(base, csrfCookieName)
	if csrf == "" {
		t.Fatalf("GET /login set no %s cookie", csrfCookieName)
	}
	action, fields := p.form(t)
	if action != "/auth/v1/login" || fields.Get("csrf") != csrf || fields.Get("return") != u.RequestURI() {
		t.Errorf("the sign-in form posts to %q with csrf %q return %q; want /auth/v1/login, the csrf cookie %q and return %q",
			action, fields.Get("csrf"), fields.Get("return"), csrf, u.RequestURI())
	}
	fields.Set("username", user)
	fields.Set("password", password)
	p = b.post(base+action, fields)
	if p.code != http.StatusSeeOther || p.location == nil || p.location.String() != cliURL {
		t.Fatalf("POST %s: %d to %v, want 303 back to %s\n%s", action, p.code, p.location, cliURL, p.body)
	}

	// Signed in: the confirm page.
	p = b.get(p.location.String())
	if p.code != http.StatusOK || !strings.Contains(p.body, "as <b>"+user+"</b>") {
		t.Fatalf("GET the confirm page: %d, want 200 naming %s\n%s", p.code, user, p.body)
	}
	action, fields = p.form(t)
	q := u.Query()
	for _, k := range []string{"redirect_uri", "code_challenge", "code_challenge_method", "state"} {
		if fields.Get(k) != q.Get(k) {
			t.Errorf("the confirm form's %s is %q, want the request's %q", k, fields.Get(k), q.Get(k))
		}
	}
	if fields.Get("csrf") != csrf {
		t.Errorf("the confirm form's csrf is %q, want the cookie's %q", fields.Get("csrf"), csrf)
	}
	if action != "/auth/v1/cli" {
		t.Errorf("the confirm form posts to %q, want /auth/v1/cli", action)
	}
	return b.post(base+action, fields)
}

// csrfCookieName is server/apiserver's CSRF cookie.
const csrfCookieName = "__Host-skiff-csrf"

// loginProcess is a `skiff login` running in the background.
type loginProcess struct {
	cmd      *exec.Cmd
	out, err *lockedBuffer
	stdin    io.WriteCloser
	done     chan struct{}
}

func startLogin(t *testing.T, env []string, args ...string) *loginProcess {
	t.Helper()
	lp := &loginProcess{cmd: exec.Command(skiffBin, append([]string{"login"}, args...)...), out: &lockedBuffer{}, err: &lockedBuffer{}, done: make(chan struct{})}
	lp.cmd.Env = append(os.Environ(), env...)
	lp.cmd.Stdout, lp.cmd.Stderr = lp.out, lp.err
	stdin, err := lp.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	lp.stdin = stdin
	if err := lp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { lp.cmd.Wait(); close(lp.done) }()
	t.Cleanup(func() {
		select {
		case <-lp.done:
		default:
			lp.cmd.Process.Kill()
			<-lp.done
		}
	})
	return lp
}

// wait waits for the login to exit and gives its exit code.
func (lp *loginProcess) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-lp.done:
		return lp.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatalf("skiff login did not exit within 20s\nstdout: %s\nstderr: %s", lp.out, lp.err)
		return -1
	}
}

var cliURLPattern = regexp.MustCompile(`https://\S+/auth/v1/cli\?\S+`)

// waitForURL polls read until it holds the sign-in address.
func waitForURL(t *testing.T, lp *loginProcess, what string, read func() string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if u := cliURLPattern.FindString(read()); u != "" {
			return u
		}
		select {
		case <-lp.done:
			t.Fatalf("skiff login exited before %s had the sign-in address: %v\nstdout: %s\nstderr: %s", what, lp.cmd.ProcessState, lp.out, lp.err)
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no sign-in address in %s within 15s\nstderr: %s", what, lp.err)
	return ""
}

// readSession reads the client config file skiff login wrote.
func readSession(t *testing.T, path string) client.Config {
	t.Helper()
	cfg, err := client.LoadConfig(path)
	if err != nil {
		t.Fatalf("the session file: %v", err)
	}
	return cfg
}

// as runs skiff with the config file path.
func as(t *testing.T, path, stdin string, args ...string) result {
	t.Helper()
	return runSkiff(t, []string{"SKIFF_CONFIG="}, stdin, append(args, "--config", path)...)
}

// browserLogin signs alice in with skiff login and $BROWSER, playing the
// browser, and returns the session file.
func browserLogin(t *testing.T, s *e2eServer) string {
	t.Helper()
	dir := t.TempDir()
	opened := filepath.Join(dir, "opened")
	script := writeFile(t, dir, "browser.sh", fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$1\" >> %s\n", opened))
	os.Chmod(script, 0o755)
	session := filepath.Join(dir, "alice.yaml")
	lp := startLogin(t, []string{"BROWSER=" + script, "SKIFF_CONFIG="}, s.url, "--ca-hash", s.caHash(t), "--config", session)
	cliURL := waitForURL(t, lp, "the file $BROWSER wrote", func() string { b, _ := os.ReadFile(opened); return string(b) })
	if !strings.Contains(lp.err.String(), cliURL) {
		t.Errorf("skiff login did not print the address it opened (%s):\n%s", cliURL, lp.err)
	}
	if !strings.HasPrefix(cliURL, s.url+"/auth/v1/cli?") {
		t.Errorf("the browser was opened at %s, want %s/auth/v1/cli?...", cliURL, s.url)
	}

	b := newBrowser(t, s.adminConfig(t).CA)
	p := b.signInAndApprove(cliURL, "alice", alicePassword)
	want, _ := url.Parse(cliURL)
	redirect, _ := url.Parse(want.Query().Get("redirect_uri"))
	if p.code != http.StatusSeeOther || p.location == nil || p.location.Host != redirect.Host || p.location.Path != "/callback" {
		t.Fatalf("POST /auth/v1/cli: %d to %v, want 303 to %s\n%s", p.code, p.location, redirect, p.body)
	}
	if p.location.Query().Get("code") == "" || p.location.Query().Get("state") != want.Query().Get("state") {
		t.Errorf("the redirect to the CLI %v lacks the code or the state %q", p.location, want.Query().Get("state"))
	}
	if h, _, _ := strings.Cut(redirect.Host, ":"); h != "127.0.0.1" {
		t.Errorf("the CLI listens on %s, want a loopback address", redirect.Host)
	}
	p = b.get(p.location.String())
	if p.code != http.StatusOK || !strings.Contains(p.body, "Signed in") {
		t.Errorf("GET the CLI's callback: %d\n%s", p.code, p.body)
	}
	if code := lp.wait(t); code != 0 {
		t.Fatalf("skiff login: exit %d\nstdout: %s\nstderr: %s", code, lp.out, lp.err)
	}
	if out := lp.out.String(); !strings.Contains(out, "Signed in to "+s.url+" as alice") || !strings.Contains(out, session) {
		t.Errorf("skiff login printed %q, want Signed in to %s as alice, kept in %s", out, s.url, session)
	}
	return session
}

func TestE2ELoginWithBrowser(t *testing.T) {
	t.Parallel()
	s := identityServer(t)
	session := browserLogin(t, s)
	cfg := readSession(t, session)
	if cfg.User != "alice" || cfg.AccessToken == "" || cfg.RefreshToken == "" || cfg.Token != "" || !cfg.AccessTokenExpires.After(time.Now()) {
		t.Errorf("the session file: user %q, access token %t, refresh token %t, token %t, expires %v; want alice's session",
			cfg.User, cfg.AccessToken != "", cfg.RefreshToken != "", cfg.Token != "", cfg.AccessTokenExpires)
	}
	if cfg.CA != s.adminConfig(t).CA {
		t.Errorf("the session file's CA is not the server's")
	}
	if st, err := os.Stat(session); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the session file: %v, mode %v; want 0600", err, st.Mode())
	}

	if r := as(t, session, "", "whoami").must(t); !strings.HasPrefix(r.out, "alice ") {
		t.Errorf("whoami: %q, want alice", r.out)
	}
	as(t, session, "", "get", "pods", "-n", "team-a").must(t)
	r := as(t, session, "", "get", "pods", "-n", "default")
	if r.code == 0 || !strings.Contains(r.err, `user "alice" may not list pods in namespace default`) || !strings.Contains(r.err, "forbidden") {
		t.Errorf("alice's get pods -n default: exit %d %q; want a 403 naming the permission (list pods in namespace default)", r.code, r.err)
	}

	// An API token, narrowed to viewer in team-a.
	r = as(t, session, "", "token", "create", "ci", "--role", "viewer", "--namespaces", "team-a").must(t)
	secret := strings.TrimSpace(r.out)
	m := regexp.MustCompile(`API token (\S+) \(ci\): role viewer in team-a`).FindStringSubmatch(r.err)
	if secret == "" || strings.Contains(secret, "\n") || m == nil {
		t.Fatalf("token create: stdout %q stderr %q; want the token alone on stdout, its ID on stderr", r.out, r.err)
	}
	id := m[1]
	tokenCfg := filepath.Join(t.TempDir(), "ci.yaml")
	if err := client.WriteConfig(tokenCfg, client.Config{Server: s.url, CA: cfg.CA, Token: secret}); err != nil {
		t.Fatal(err)
	}
	as(t, tokenCfg, "", "get", "pods", "-n", "team-a").must(t)
	if r := as(t, tokenCfg, "", "whoami").must(t); !strings.HasPrefix(r.out, "alice ") {
		t.Errorf("whoami with the API token: %q, want alice", r.out)
	}
	cm := writeFile(t, t.TempDir(), "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: team-a}\ndata: {k: v}\n")
	r = as(t, tokenCfg, "", "apply", "-f", cm)
	if r.code == 0 || !strings.Contains(r.err, "may not create configmaps in namespace team-a") || !strings.Contains(r.err, "API token's scope") || !strings.Contains(r.err, "forbidden") {
		t.Errorf("a viewer token's apply: exit %d %q; want a 403 naming create configmaps and the token's scope", r.code, r.err)
	}
	// alice herself may (developer in team-a).
	as(t, session, "", "apply", "-f", cm).must(t)
	r = as(t, tokenCfg, "", "token", "create", "again")
	if r.code == 0 || !strings.Contains(r.err, "an API token may not make API tokens") {
		t.Errorf("an API token making another: exit %d %q %q; want a refusal", r.code, r.out, r.err)
	}

	r = as(t, session, "", "token", "list").must(t)
	if !strings.Contains(r.out, id) || !strings.Contains(r.out, "ci") || !strings.Contains(r.out, "viewer") || !strings.Contains(r.out, "team-a") || strings.Contains(r.out, secret) {
		t.Errorf("token list: want %s (ci, viewer, team-a) without its secret:\n%s", id, r.out)
	}
	if r := as(t, session, "", "token", "revoke", id).must(t); !strings.Contains(r.out, id+" revoked") {
		t.Errorf("token revoke: %q", r.out)
	}
	r = as(t, tokenCfg, "", "get", "pods", "-n", "team-a")
	if r.code == 0 || !strings.Contains(r.err, "invalid bearer token: unauthorized") {
		t.Errorf("the revoked token: exit %d %q; want a 401 refusal", r.code, r.err)
	}
	if r := as(t, session, "", "token", "list").must(t); strings.Contains(r.out, id) {
		t.Errorf("token list after revoke still lists %s:\n%s", id, r.out)
	}

	// Logout forgets the session here and ends it at the server.
	r = as(t, session, "", "logout").must(t)
	if !strings.Contains(r.out, "Signed alice out") {
		t.Errorf("logout: %q", r.out)
	}
	data, _ := os.ReadFile(session)
	var left map[string]any
	yaml.Unmarshal(data, &left)
	for _, k := range []string{"accessToken", "refreshToken", "token"} {
		if _, ok := left[k]; ok {
			t.Errorf("the session file still holds %s after logout:\n%s", k, data)
		}
	}
	if left["server"] != s.url {
		t.Errorf("the session file forgot the server after logout:\n%s", data)
	}
	r = as(t, session, "", "whoami")
	if r.code == 0 || !strings.Contains(r.err, "skiff login") {
		t.Errorf("whoami after logout: exit %d %q; want a failure that says to sign in with skiff login", r.code, r.err)
	}
	// The old refresh token is dead at the server too.
	stale := cfg
	stale.AccessToken, stale.AccessTokenExpires = "", time.Time{}
	stalePath := filepath.Join(t.TempDir(), "stale.yaml")
	client.WriteConfig(stalePath, stale)
	if r := as(t, stalePath, "", "whoami"); r.code == 0 {
		t.Errorf("the logged-out session's refresh token still works: %s", r.out)
	}
}

func TestE2ELoginHeadless(t *testing.T) {
	t.Parallel()
	s := identityServer(t)
	session := filepath.Join(t.TempDir(), "alice.yaml")
	// A $BROWSER that tells if it ran: --no-browser must not open one.
	dir := t.TempDir()
	opened := filepath.Join(dir, "opened")
	script := writeFile(t, dir, "browser.sh", fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$1\" >> %s\n", opened))
	os.Chmod(script, 0o755)
	lp := startLogin(t, []string{"BROWSER=" + script, "SKIFF_CONFIG="}, s.url, "--no-browser", "--ca-hash", s.caHash(t), "--config", session)
	cliURL := waitForURL(t, lp, "skiff login's stderr", lp.err.String)
	u, _ := url.Parse(cliURL)
	if got := u.Query().Get("redirect_uri"); got != "urn:ietf:wg:oauth:2.0:oob" {
		t.Errorf("--no-browser's redirect_uri is %q, want urn:ietf:wg:oauth:2.0:oob", got)
	}
	if _, err := os.Stat(opened); err == nil {
		t.Errorf("skiff login --no-browser ran $BROWSER")
	}
	b := newBrowser(t, s.adminConfig(t).CA)
	p := b.signInAndApprove(cliURL, "alice", alicePassword)
	if p.code != http.StatusOK || p.location != nil {
		t.Fatalf("POST /auth/v1/cli for a headless sign-in: %d to %v, want 200 with the code\n%s", p.code, p.location, p.body)
	}
	m := regexp.MustCompile(`<code>([^<]+)</code>`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("the code page shows no code:\n%s", p.body)
	}
	code := html.UnescapeString(m[1])
	fmt.Fprintln(lp.stdin, code)
	lp.stdin.Close()
	if c := lp.wait(t); c != 0 {
		t.Fatalf("skiff login --no-browser: exit %d\nstdout: %s\nstderr: %s", c, lp.out, lp.err)
	}
	if out := lp.out.String(); !strings.Contains(out, "Signed in to "+s.url+" as alice") {
		t.Errorf("skiff login --no-browser printed %q", out)
	}
	if r := as(t, session, "", "whoami").must(t); !strings.HasPrefix(r.out, "alice ") {
		t.Errorf("whoami: %q, want alice", r.out)
	}

	// The code works once: a second skiff login pasting it is refused.
	lp2 := startLogin(t, []string{"SKIFF_CONFIG="}, s.url, "--no-browser", "--ca-hash", s.caHash(t), "--config", filepath.Join(t.TempDir(), "again.yaml"))
	waitForURL(t, lp2, "skiff login's stderr", lp2.err.String)
	fmt.Fprintln(lp2.stdin, code)
	lp2.stdin.Close()
	if c := lp2.wait(t); c == 0 {
		t.Errorf("a used code signed in again:\n%s", lp2.out)
	}
}

func TestE2ELoginPassword(t *testing.T) {
	t.Parallel()
	s := identityServer(t)
	session := filepath.Join(t.TempDir(), "alice.yaml")
	r := runSkiff(t, []string{"SKIFF_CONFIG="}, alicePassword+"\n", "login", s.url, "--user", "alice", "--password-stdin", "--ca-hash", s.caHash(t), "--config", session).must(t)
	if !strings.Contains(r.out, "Signed in to "+s.url+" as alice") {
		t.Errorf("login --user: %q", r.out)
	}
	if r := as(t, session, "", "whoami").must(t); !strings.HasPrefix(r.out, "alice ") {
		t.Errorf("whoami: %q, want alice", r.out)
	}

	wrong := filepath.Join(t.TempDir(), "wrong.yaml")
	r = runSkiff(t, []string{"SKIFF_CONFIG="}, "not her password\n", "login", s.url, "--user", "alice", "--password-stdin", "--ca-hash", s.caHash(t), "--config", wrong)
	if r.code == 0 || !strings.Contains(r.err, "wrong user name or password") {
		t.Errorf("login with a wrong password: exit %d %q; want a failure saying wrong user name or password", r.code, r.err)
	}
	if _, err := os.Stat(wrong); err == nil {
		t.Errorf("a failed login wrote %s", wrong)
	}
	r = runSkiff(t, []string{"SKIFF_CONFIG="}, alicePassword+"\n", "login", s.url, "--user", "nobody", "--password-stdin", "--ca-hash", s.caHash(t), "--config", wrong)
	if r.code == 0 || !strings.Contains(r.err, "wrong user name or password") {
		t.Errorf("login as an unknown user: exit %d %q; want the same answer as a wrong password", r.code, r.err)
	}
	r = runSkiff(t, []string{"SKIFF_CONFIG="}, alicePassword+"\n", "login", s.url, "--user", "alice", "--password-stdin", "--ca-hash", strings.Repeat("0", 64), "--config", wrong)
	if r.code == 0 {
		t.Errorf("login with a wrong --ca-hash succeeded: %s", r.out)
	}

	// A refusal of alice's own, before she is disabled.
	if r := as(t, session, "", "get", "pods", "-n", "default"); r.code == 0 {
		t.Errorf("a developer in team-a listed pods in default: %s", r.out)
	}

	// Disabling alice ends her session at once.
	if r := s.skiff("", "users", "disable", "alice").must(t); !strings.Contains(r.out, "user/alice disabled") {
		t.Errorf("users disable: %q", r.out)
	}
	r = as(t, session, "", "whoami")
	if r.code == 0 || !strings.Contains(r.err, "invalid bearer token") {
		t.Errorf("a disabled user's session: exit %d %q %q; want a 401 refusal", r.code, r.out, r.err)
	}
	r = runSkiff(t, []string{"SKIFF_CONFIG="}, alicePassword+"\n", "login", s.url, "--user", "alice", "--password-stdin", "--ca-hash", s.caHash(t), "--config", wrong)
	if r.code == 0 || !strings.Contains(r.err, "wrong user name or password") {
		t.Errorf("a disabled user's login: exit %d %q; want the answer of a wrong password", r.code, r.err)
	}

	type entry struct {
		User, Verb, Resource, Namespace, Name, Path, Reason string
		Allowed                                             bool
		Code                                                int
	}
	audit := func(args ...string) []entry {
		t.Helper()
		r := s.skiff("", append([]string{"audit", "-o", "json"}, args...)...).must(t)
		var entries []entry
		if err := yaml.Unmarshal([]byte(r.out), &entries); err != nil {
			t.Fatalf("audit -o json: %v\n%s", err, r.out)
		}
		return entries
	}
	var signIns, forbidden, failedSignIns int
	for _, e := range audit("--user", "alice") {
		switch {
		case e.Resource == "sessions" && e.Verb == "create" && e.Allowed:
			signIns++
		case e.Resource == "pods" && e.Namespace == "default" && !e.Allowed && e.Code == http.StatusForbidden:
			forbidden++
		case e.Resource == "sessions" && !e.Allowed:
			failedSignIns++
		}
	}
	if signIns != 1 || forbidden != 1 {
		t.Errorf("audit --user alice: %d sign-ins and %d refusals of list pods in default, want 1 and 1", signIns, forbidden)
	}
	// Failed sign-ins as alice (the wrong password, and the one after she
	// was disabled) are there, by the account they named.
	var named int
	for _, e := range audit("--resource", "sessions", "--name", "alice", "--denied") {
		if e.Verb == "create" && e.Code == http.StatusUnauthorized && strings.Contains(e.Reason, "wrong user name or password") {
			named++
		}
	}
	if named != 2 {
		t.Errorf("audit --resource sessions --name alice --denied: %d refused sign-ins, want 2 (the wrong password, and after disable)", named)
	}
	if failedSignIns != 2 {
		t.Errorf("audit --user alice lists %d of her 2 refused sign-ins: a failed sign-in is logged with user \"\" "+
			"(server/apiserver/signin.go signIn sets only attrs.Name), so --user alice misses them", failedSignIns)
	}
	table := s.skiff("", "audit", "--user", "alice").must(t).out
	if !strings.Contains(table, "signed in with a password") || !strings.Contains(table, "403") {
		t.Errorf("audit --user alice table lacks the sign-in or the 403:\n%s", table)
	}
}

// TestE2ELoginRefresh: skiff server has no flag for the access token's
// life (accounts.Config.AccessTTL is left at its 15 minutes), so the
// session file's accessTokenExpires is put in the past: the next command
// must renew the access token with the refresh token, work, and keep the
// new one in the file.
func TestE2ELoginRefresh(t *testing.T) {
	t.Parallel()
	s := identityServer(t)
	session := filepath.Join(t.TempDir(), "alice.yaml")
	runSkiff(t, []string{"SKIFF_CONFIG="}, alicePassword+"\n", "login", s.url, "--user", "alice", "--password-stdin", "--ca-hash", s.caHash(t), "--config", session).must(t)
	before := readSession(t, session)
	// Access tokens are signed to the second: wait for a renewed one to
	// differ from the first.
	time.Sleep(1100 * time.Millisecond)
	expired := before
	expired.AccessTokenExpires = time.Now().Add(-time.Hour).UTC()
	if err := client.WriteConfig(session, expired); err != nil {
		t.Fatal(err)
	}
	if r := as(t, session, "", "get", "pods", "-n", "team-a").must(t); r.code != 0 {
		t.Fatal(r.err)
	}
	after := readSession(t, session)
	if !after.AccessTokenExpires.After(time.Now()) {
		t.Errorf("after a refresh the file's accessTokenExpires is %v, want in the future", after.AccessTokenExpires)
	}
	if after.AccessToken == before.AccessToken {
		t.Errorf("the access token was not renewed")
	}
	if after.RefreshToken == "" || after.User != "alice" || after.Server != s.url || after.CA != before.CA {
		t.Errorf("a refresh lost part of the session: user %q server %q refresh token %t", after.User, after.Server, after.RefreshToken != "")
	}
	if r := as(t, session, "", "whoami").must(t); !strings.HasPrefix(r.out, "alice ") {
		t.Errorf("whoami after a refresh: %q", r.out)
	}
	// A refresh token used once is spent if the server rotates it: the
	// old one must not bring a second session.
	if after.RefreshToken != before.RefreshToken {
		old := before
		old.AccessToken, old.AccessTokenExpires = "", time.Time{}
		oldPath := filepath.Join(t.TempDir(), "old.yaml")
		client.WriteConfig(oldPath, old)
		if r := as(t, oldPath, "", "whoami"); r.code == 0 {
			t.Errorf("a rotated-out refresh token still works: %s", r.out)
		}
	}
}
