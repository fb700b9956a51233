package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/skiffhq/skiff/server/accounts"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/audit"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/auth/oidc"
	"github.com/skiffhq/skiff/server/client"
)

// These tests sign people in through a real OpenID Connect provider
// (mockoidc on loopback) by the server's own routes, as a browser does:
// /auth/v1/oidc/start, the provider's authorize endpoint, the callback.

// oidcUser is an account at the test provider. tamper, when set, changes
// the ID token's registered claims before mockoidc signs them.
type oidcUser struct {
	sub, username, email string
	groups               []string
	tamper               func(*mockoidc.IDTokenClaims)
}

func (u oidcUser) ID() string { return u.sub }

func (u oidcUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]string{"sub": u.sub})
}

func (u oidcUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if u.tamper != nil {
		u.tamper(base)
	}
	return &oidcUserClaims{IDTokenClaims: base, PreferredUsername: u.username, Email: u.email, EmailVerified: true, Groups: u.groups}, nil
}

type oidcUserClaims struct {
	*mockoidc.IDTokenClaims
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     bool     `json:"email_verified,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

var carol = oidcUser{sub: "u-4242", username: "carol", email: "carol@example.com", groups: []string{"engineers"}}

// startOIDCMock runs a mockoidc provider on 127.0.0.1 with its own key.
func startOIDCMock(t *testing.T, mw ...func(http.Handler) http.Handler) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mw {
		if err := m.AddMiddleware(f); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// oidcProvider is skiff's provider for m, calling back to the server.
func oidcProvider(t *testing.T, m *mockoidc.MockOIDC) func(serverURL string) *oidc.Provider {
	return func(serverURL string) *oidc.Provider {
		p, err := oidc.New(context.Background(), oidc.Config{
			Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret,
			GroupsClaim: "groups", RedirectURL: serverURL + "/auth/v1/oidc/callback",
		}, nil)
		if err != nil {
			t.Fatalf("oidc.New: %v", err)
		}
		return p
	}
}

// browse sends b to u and returns the answer with its body read.
func browse(t *testing.T, b *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, string(body)
}

// oidcAuthorize plays browser b from the server's start route through
// the provider, and returns the provider's authorize URL and the
// callback URL it sent the browser back to (not yet visited).
func (s *acctServer) oidcAuthorize(t *testing.T, b *http.Client, ret string) (*url.URL, string) {
	t.Helper()
	resp, body := browse(t, b, s.url+"/auth/v1/oidc/start?return="+url.QueryEscape(ret))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("oidc start: %d %s, want 303 to the provider", resp.StatusCode, body)
	}
	authURL, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body = browse(t, b, authURL.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider authorize: %d %s, want 302 to the callback", resp.StatusCode, body)
	}
	cb := resp.Header.Get("Location")
	if !strings.HasPrefix(cb, s.url+"/auth/v1/oidc/callback?") {
		t.Fatalf("the provider sent the browser to %q, want the server's callback", cb)
	}
	return authURL, cb
}

// oidcSignIn runs a whole sign-in and returns the callback's answer.
func (s *acctServer) oidcSignIn(t *testing.T, b *http.Client, ret string) (*http.Response, string) {
	t.Helper()
	_, cb := s.oidcAuthorize(t, b, ret)
	return browse(t, b, cb)
}

// sessionCookieOf is the session cookie resp sets, or nil.
func sessionCookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return c
		}
	}
	return nil
}

func (s *acctServer) whoAmIOf(t *testing.T, b *http.Client) client.WhoAmI {
	t.Helper()
	resp, body := browse(t, b, s.url+"/whoami")
	var w client.WhoAmI
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &w) != nil {
		t.Fatalf("whoami: %d %s", resp.StatusCode, body)
	}
	return w
}

func (s *acctServer) user(t *testing.T, name string) *api.User {
	t.Helper()
	o, err := s.reg.Get(context.Background(), "users", "", name)
	if err != nil {
		t.Fatalf("get user %s: %v", name, err)
	}
	return o.(*api.User)
}

// TestSignInThroughOIDC signs carol in through the provider with PKCE:
// her first sign-in makes her User, linked by issuer and subject; her
// provider group "engineers" is the group oidc:engineers, which a role
// binding makes a developer of team-a, and nothing more; a second
// sign-in finds the same User.
func TestSignInThroughOIDC(t *testing.T) {
	m := startOIDCMock(t)
	s := startAccountsServer(t, oidcProvider(t, m))
	ctx := context.Background()
	rb := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "engineers-developer"}, Role: api.RoleDeveloper,
		Subjects: []api.Subject{{Kind: api.SubjectGroup, Name: api.OIDCGroupPrefix + "engineers"}}, Namespaces: []string{"team-a"}}
	if _, err := s.reg.Create(ctx, "rolebindings", "", rb); err != nil {
		t.Fatal(err)
	}
	at := auth.Attributes{Verb: "create", Resource: "configmaps", Namespace: "team-a", Namespaced: true}
	waitFor(t, 5*time.Second, func() bool {
		return s.accts.Authorize(ctx, &auth.Identity{Name: "someone", Groups: []string{"oidc:engineers", accounts.GroupAuthenticated}}, at) == nil
	})

	m.QueueUser(carol)
	b := s.browser(t)
	authURL, cb := s.oidcAuthorize(t, b, "/whoami")
	q := authURL.Query()
	if got := q.Get("code_challenge_method"); got != "S256" {
		t.Errorf("authorize URL code_challenge_method = %q, want S256", got)
	}
	if got := q.Get("code_challenge"); len(got) != 43 {
		t.Errorf("authorize URL code_challenge = %q, want a base64url SHA-256 (43 characters)", got)
	}
	if q.Get("state") == "" || q.Get("nonce") == "" {
		t.Errorf("authorize URL state %q nonce %q: want both", q.Get("state"), q.Get("nonce"))
	}
	if got, want := q.Get("redirect_uri"), s.url+"/auth/v1/oidc/callback"; got != want {
		t.Errorf("authorize URL redirect_uri = %q, want %q", got, want)
	}
	resp, body := browse(t, b, cb)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/whoami" {
		t.Fatalf("callback: %d to %q %s, want 303 to /whoami", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	sc := sessionCookieOf(resp)
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Domain != "" {
		t.Fatalf("session cookie: %+v, want __Host- Secure HttpOnly SameSite=Lax Path=/", sc)
	}

	w := s.whoAmIOf(t, b)
	if w.Name != "carol" || !slices.Contains(w.Groups, "oidc:engineers") || w.Via != "cookie" {
		t.Errorf("whoami after the sign-in: %+v, want carol in oidc:engineers via cookie", w)
	}

	// The group's role works by cookie (with the CSRF token), in its
	// namespace only.
	browse(t, b, s.url+"/login")
	csrf := cookieValue(b, s.url, csrfCookie)
	if csrf == "" {
		t.Fatal("the sign-in page set no CSRF cookie")
	}
	create := func(ns string) (int, string) {
		req, _ := http.NewRequest("POST", s.url+"/api/v1/namespaces/"+ns+"/configmaps", strings.NewReader(`{"metadata":{"name":"c"},"data":{"k":"v"}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(csrfHeader, csrf)
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := create("team-a"); code != http.StatusCreated {
		t.Errorf("carol creating a configmap in team-a: %d %s, want 201", code, body)
	}
	if code, body := create("team-b"); code != http.StatusForbidden || !strings.Contains(body, "carol") {
		t.Errorf("carol creating a configmap in team-b: %d %s, want 403 naming her", code, body)
	}

	u := s.user(t, "carol")
	wantIDs := []api.UserIdentity{{Issuer: m.Issuer(), Subject: carol.sub}}
	if !slices.Equal(u.Spec.Identities, wantIDs) || u.Spec.Email != carol.email {
		t.Errorf("user carol: identities %+v email %q, want %+v %q", u.Spec.Identities, u.Spec.Email, wantIDs, carol.email)
	}
	if slices.Contains(u.Spec.Groups, "oidc:engineers") {
		t.Errorf("user carol's spec.groups %v hold the provider's group; it belongs to the session", u.Spec.Groups)
	}

	// The sign-in is in the audit log.
	waitFor(t, 5*time.Second, func() bool {
		es, err := s.audit.Query(ctx, audit.Filter{User: "carol", Resource: "sessions", Verb: "create"})
		return err == nil && slices.ContainsFunc(es, func(e audit.Entry) bool {
			return e.Allowed && strings.Contains(e.Reason, "signed in through "+m.Issuer())
		})
	})

	// A second sign-in, in another browser, is the same user.
	m.QueueUser(carol)
	b2 := s.browser(t)
	resp, body = s.oidcSignIn(t, b2, "/")
	if resp.StatusCode != http.StatusSeeOther || sessionCookieOf(resp) == nil {
		t.Fatalf("second sign-in: %d %s, want 303 with a session", resp.StatusCode, body)
	}
	if w := s.whoAmIOf(t, b2); w.Name != "carol" {
		t.Errorf("second sign-in is %q, want carol", w.Name)
	}
	u2 := s.user(t, "carol")
	if u2.UID != u.UID || !slices.Equal(u2.Spec.Identities, wantIDs) {
		t.Errorf("second sign-in: user uid %s identities %+v, want the same user (uid %s, %+v)", u2.UID, u2.Spec.Identities, u.UID, wantIDs)
	}
}

// refusedSignIn checks a callback answer that refuses: the sign-in page
// at a client error saying why, and no session.
func refusedSignIn(t *testing.T, s *acctServer, b *http.Client, resp *http.Response, body string, wantCode int, want ...string) {
	t.Helper()
	if resp.StatusCode != wantCode {
		t.Errorf("callback: %d, want %d: %s", resp.StatusCode, wantCode, body)
	}
	if sc := sessionCookieOf(resp); sc != nil {
		t.Errorf("a refused sign-in set the session cookie %+v", sc)
	}
	if v := cookieValue(b, s.url, sessionCookie); v != "" {
		t.Errorf("the browser holds a session cookie after a refused sign-in")
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("the refusal does not say %q:\n%s", w, body)
		}
	}
	if r, body := browse(t, b, s.url+"/whoami"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("whoami after a refused sign-in: %d %s, want 401", r.StatusCode, body)
	}
}

// TestOIDCCallbackRefusals: a replayed callback, the provider's
// access_denied and a state the server never issued are refused at the
// callback with the reason, and open no session.
func TestOIDCCallbackRefusals(t *testing.T) {
	m := startOIDCMock(t)
	s := startAccountsServer(t, oidcProvider(t, m))
	callback := s.url + "/auth/v1/oidc/callback?"

	tests := []struct {
		name string
		// url makes the callback URL the victim browser visits.
		url  func(t *testing.T) string
		want []string
	}{{
		name: "reused state",
		url: func(t *testing.T) string {
			m.QueueUser(carol)
			first := s.browser(t)
			_, cb := s.oidcAuthorize(t, first, "/")
			if resp, body := browse(t, first, cb); resp.StatusCode != http.StatusSeeOther || sessionCookieOf(resp) == nil {
				t.Fatalf("first use of the callback: %d %s, want a session", resp.StatusCode, body)
			}
			return cb
		},
		want: []string{"state is unknown, already used or dropped", "start the sign-in again"},
	}, {
		name: "provider error access_denied",
		url: func(t *testing.T) string {
			b := s.browser(t)
			resp, body := browse(t, b, s.url+"/auth/v1/oidc/start?return=/")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("start: %d %s", resp.StatusCode, body)
			}
			au, _ := url.Parse(resp.Header.Get("Location"))
			return callback + url.Values{"state": {au.Query().Get("state")}, "error": {"access_denied"},
				"error_description": {"The user denied the request"}}.Encode()
		},
		want: []string{"provider refused the sign-in", "access_denied: The user denied the request"},
	}, {
		name: "state never issued",
		url: func(t *testing.T) string {
			return callback + url.Values{"state": {"forged-state-0123456789"}, "code": {"stolen-code"}}.Encode()
		},
		want: []string{"state is unknown, already used or dropped"},
	}, {
		// Login CSRF: an attacker starts a sign-in, signs in at the
		// provider as themselves and hands the callback URL to a victim.
		name: "callback opened in another browser",
		url: func(t *testing.T) string {
			m.QueueUser(carol)
			_, cb := s.oidcAuthorize(t, s.browser(t), "/")
			return cb
		},
		want: []string{"started in another browser"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := s.browser(t)
			resp, body := browse(t, b, tt.url(t))
			refusedSignIn(t, s, b, resp, body, http.StatusUnauthorized, tt.want...)
		})
	}
}

// TestOIDCCallbackRefusesBadIDTokens drives the callback with a provider
// whose token endpoint hands out a bad ID token: one naming another
// issuer, an expired one, one with a broken signature. Each is refused
// with its reason, and no user or session is made.
func TestOIDCCallbackRefusesBadIDTokens(t *testing.T) {
	var breakSignature atomic.Bool
	m := startOIDCMock(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.TokenEndpoint || !breakSignature.Load() {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var tr map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &tr); err == nil {
				if raw, ok := tr["id_token"].(string); ok {
					tr["id_token"] = flipSignature(t, raw)
				}
			}
			out, _ := json.Marshal(tr)
			for k, v := range rec.Header() {
				if k != "Content-Length" {
					w.Header()[k] = v
				}
			}
			w.WriteHeader(rec.Code)
			w.Write(out)
		})
	})
	s := startAccountsServer(t, oidcProvider(t, m))

	tests := []struct {
		name string
		user oidcUser
		flip bool
		want []string
	}{{
		name: "another issuer",
		user: oidcUser{sub: "u-1", username: "mallory", tamper: func(c *mockoidc.IDTokenClaims) { c.Issuer = "https://evil.example.com" }},
		want: []string{"was issued by", "https://evil.example.com", "not by the configured issuer"},
	}, {
		name: "expired",
		user: oidcUser{sub: "u-2", username: "dave", tamper: func(c *mockoidc.IDTokenClaims) {
			past := time.Now().Add(-2 * time.Hour)
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(past), jwt.NewNumericDate(past), jwt.NewNumericDate(past.Add(time.Hour))
		}},
		want: []string{"id token expired at", "sign in again"},
	}, {
		name: "bad signature",
		user: oidcUser{sub: "u-3", username: "erin"},
		flip: true,
		want: []string{"signature that does not verify"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			breakSignature.Store(tt.flip)
			defer breakSignature.Store(false)
			m.QueueUser(tt.user)
			b := s.browser(t)
			resp, body := s.oidcSignIn(t, b, "/")
			refusedSignIn(t, s, b, resp, body, http.StatusUnauthorized, tt.want...)
			if _, err := s.reg.Get(context.Background(), "users", "", tt.user.username); !errdefs.IsNotFound(err) {
				t.Errorf("user %s after a refused sign-in: %v, want none made", tt.user.username, err)
			}
		})
	}
}

// flipSignature returns the JWT raw with one bit of its signature changed.
func flipSignature(t *testing.T, raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Errorf("the provider's id_token has %d parts, want 3", len(parts))
		return raw
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Errorf("id_token signature: %v", err)
		return raw
	}
	sig[len(sig)/2] ^= 0x01
	parts[2] = base64.RawURLEncoding.EncodeToString(sig)
	return strings.Join(parts, ".")
}

// TestOIDCSignInRefusesNameTaken: a local user carol with a password is
// not taken over by a provider account claiming the name carol; the
// refusal tells how an admin links the two, and once linked so the
// sign-in works.
func TestOIDCSignInRefusesNameTaken(t *testing.T) {
	m := startOIDCMock(t)
	s := startAccountsServer(t, oidcProvider(t, m))
	s.addUser(t, "carol", "")
	before := s.user(t, "carol")

	m.QueueUser(carol)
	b := s.browser(t)
	resp, body := s.oidcSignIn(t, b, "/whoami")
	refusedSignIn(t, s, b, resp, body, http.StatusForbidden,
		"already exists and is not linked", "spec.identities", "issuer: "+m.Issuer(), "subject: "+carol.sub)
	after := s.user(t, "carol")
	if len(after.Spec.Identities) != 0 || after.UID != before.UID {
		t.Errorf("user carol after the refused sign-in: uid %s identities %+v, want her untouched (uid %s, none)", after.UID, after.Spec.Identities, before.UID)
	}

	// The admin does what the message says.
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"identities": []api.UserIdentity{{Issuer: m.Issuer(), Subject: carol.sub}}}})
	if _, err := s.reg.Patch(context.Background(), "users", "", "carol", patch, ""); err != nil {
		t.Fatal(err)
	}
	var ok bool
	waitFor(t, 5*time.Second, func() bool {
		m.QueueUser(carol)
		b = s.browser(t)
		resp, body = s.oidcSignIn(t, b, "/whoami")
		ok = resp.StatusCode == http.StatusSeeOther && sessionCookieOf(resp) != nil
		return ok || !strings.Contains(body, "already exists")
	})
	if !ok {
		t.Fatalf("sign-in after the admin linked carol: %d %s", resp.StatusCode, body)
	}
	if w := s.whoAmIOf(t, b); w.Name != "carol" {
		t.Errorf("linked sign-in is %q, want carol", w.Name)
	}
}
