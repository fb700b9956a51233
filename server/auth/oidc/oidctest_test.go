package oidc

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// This file holds the test helpers: a real mockoidc provider on
// loopback, a user type that sends the claims skiff reads, and a browser
// that follows the authorization redirect by hand.

const testRedirect = "https://skiff.test:8443/auth/v1/oidc/callback"

// startMock runs a mockoidc provider on 127.0.0.1 signing with key (nil:
// mockoidc's default key, shared by every server that uses it).
func startMock(t testing.TB, key *rsa.PrivateKey) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(key)
	if err != nil {
		t.Fatal(err)
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

func mockConfig(m *mockoidc.MockOIDC) Config {
	return Config{
		Issuer:       m.Issuer(),
		ClientID:     m.ClientID,
		ClientSecret: m.ClientSecret,
		GroupsClaim:  "groups",
		RedirectURL:  testRedirect,
	}
}

func newTestProvider(t testing.TB, cfg Config) *Provider {
	t.Helper()
	p, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// testUser is a provider account whose ID token carries the claims
// skiff maps, groups included whatever the scopes.
type testUser struct {
	sub, username, email, name string
	verified                   any // bool, or a string like Cognito's
	groups                     any // []string, string or nil
}

func (u testUser) ID() string { return u.sub }

func (u testUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]string{"sub": u.sub})
}

func (u testUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return &testClaims{
		IDTokenClaims:     base,
		PreferredUsername: u.username,
		Email:             u.email,
		EmailVerified:     u.verified,
		Name:              u.name,
		Groups:            u.groups,
	}, nil
}

type testClaims struct {
	*mockoidc.IDTokenClaims
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     any    `json:"email_verified,omitempty"`
	Name              string `json:"name,omitempty"`
	Groups            any    `json:"groups,omitempty"`
}

var alice = testUser{
	sub: "u-1001", username: "alice", email: "alice@example.com", name: "Alice Liddell",
	verified: true, groups: []string{"admins", "devs"},
}

// noRedirects is the browser: it stops at the provider's redirect.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize follows authURL like a browser and returns the query of the
// provider's redirect to the callback.
func authorize(t testing.TB, authURL string) url.Values {
	t.Helper()
	resp, err := noRedirects.Get(authURL)
	if err != nil {
		t.Fatalf("GET authURL: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %s, want 302", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Fatalf("redirected to %q, want %q", got, testRedirect)
	}
	return loc.Query()
}

// signIn runs Start and the browser's part, returning the callback query.
func signIn(t testing.TB, p *Provider, returnTo string) url.Values {
	t.Helper()
	authURL, err := p.Start(context.Background(), returnTo)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return authorize(t, authURL)
}

// mint signs claims as m would, with m's key id.
func mint(t testing.TB, m *mockoidc.MockOIDC, claims jwt.MapClaims) string {
	t.Helper()
	s, err := m.Keypair.SignJWT(claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantErr(t testing.TB, err error, is func(error) bool, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", substr)
	}
	if !is(err) {
		t.Errorf("error %q has the wrong class", err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Errorf("error %q does not contain %q", err, substr)
	}
}

func isBadRequest(err error) bool { return errors.Is(err, errdefs.ErrBadRequest) }
