package oidc

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestSignInThroughMockOIDC(t *testing.T) {
	m := startMock(t, nil)
	p := newTestProvider(t, mockConfig(m))
	m.QueueUser(alice)

	authURL, err := p.Start(context.Background(), "/console/apps?ns=web")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	au, _ := url.Parse(authURL)
	q := au.Query()
	for k, want := range map[string]string{
		"client_id":             m.ClientID,
		"redirect_uri":          testRedirect,
		"response_type":         "code",
		"scope":                 "openid profile email",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("auth URL %s = %q, want %q", k, got, want)
		}
	}
	if q.Get("state") == "" || q.Get("nonce") == "" || q.Get("state") == q.Get("nonce") {
		t.Errorf("auth URL state %q, nonce %q: want two different random values", q.Get("state"), q.Get("nonce"))
	}

	claims, returnTo, err := p.Finish(context.Background(), authorize(t, authURL))
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	want := Claims{
		Issuer: m.Issuer(), Subject: "u-1001", Username: "alice", Email: "alice@example.com",
		EmailVerified: true, Name: "Alice Liddell", Groups: []string{"admins", "devs"},
	}
	if !reflect.DeepEqual(claims, want) {
		t.Errorf("claims:\n got %+v\nwant %+v", claims, want)
	}
	if returnTo != "/console/apps?ns=web" {
		t.Errorf("returnTo = %q, want /console/apps?ns=web", returnTo)
	}
	if n := p.pending.len(); n != 0 {
		t.Errorf("%d sign-ins still pending after Finish, want 0", n)
	}
}

// TestSignInPKCE proves that PKCE is in force end to end: the challenge
// sent is S256 of the verifier kept, and mockoidc, which checks the
// verifier at its token endpoint, refuses the code with any other.
func TestSignInPKCE(t *testing.T) {
	m := startMock(t, nil)
	p := newTestProvider(t, mockConfig(m))

	authURL, err := p.Start(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	au, _ := url.Parse(authURL)
	state := au.Query().Get("state")
	e, ok := p.pending.byState[state]
	if !ok {
		t.Fatalf("no pending sign-in for state %q", state)
	}
	pend := e.Value.(*pending)
	if got, want := au.Query().Get("code_challenge"), oauth2.S256ChallengeFromVerifier(pend.verifier); got != want {
		t.Errorf("code_challenge = %q, want S256(verifier) = %q", got, want)
	}

	pend.verifier = oauth2.GenerateVerifier() // a thief's guess
	_, _, err = p.Finish(context.Background(), authorize(t, authURL))
	wantErr(t, err, errdefs.IsUnauthorized, "refused the code exchange (invalid_grant: Invalid code verifier")
}

func TestFinishRefuses(t *testing.T) {
	m := startMock(t, nil)
	ctx := context.Background()

	tests := []struct {
		name string
		// callback returns the query to give Finish, after any sign-ins
		// and tampering it needs.
		callback     func(t *testing.T, p *Provider) url.Values
		is           func(error) bool
		want         string
		wantReturnTo string
	}{{
		name: "unknown state",
		callback: func(t *testing.T, p *Provider) url.Values {
			q := signIn(t, p, "/x")
			q.Set("state", "forged-state")
			return q
		},
		is: errdefs.IsUnauthorized, want: "state is unknown, already used or dropped",
	}, {
		name: "reused state",
		callback: func(t *testing.T, p *Provider) url.Values {
			q := signIn(t, p, "/x")
			if _, _, err := p.Finish(ctx, q); err != nil {
				t.Fatalf("first Finish: %v", err)
			}
			return q
		},
		is: errdefs.IsUnauthorized, want: "state is unknown, already used or dropped",
	}, {
		name: "expired state",
		callback: func(t *testing.T, p *Provider) url.Values {
			q := signIn(t, p, "/x")
			later := time.Now().Add(PendingTTL + time.Second)
			p.now = func() time.Time { return later }
			return q
		},
		is: errdefs.IsUnauthorized, want: "sign-in expired",
	}, {
		name: "no state",
		callback: func(t *testing.T, p *Provider) url.Values {
			return url.Values{"code": {"abc"}}
		},
		is: isBadRequest, want: "no state parameter",
	}, {
		name: "provider error access_denied",
		callback: func(t *testing.T, p *Provider) url.Values {
			authURL, err := p.Start(ctx, "/back")
			if err != nil {
				t.Fatal(err)
			}
			au, _ := url.Parse(authURL)
			return url.Values{
				"state":             {au.Query().Get("state")},
				"error":             {"access_denied"},
				"error_description": {"The user denied the request"},
			}
		},
		is: errdefs.IsUnauthorized, want: `refused the sign-in ("access_denied: The user denied the request")`, wantReturnTo: "/back",
	}, {
		name: "wrong nonce",
		callback: func(t *testing.T, p *Provider) url.Values {
			q := signIn(t, p, "/x")
			p.pending.byState[q.Get("state")].Value.(*pending).nonce = "another sign-in's nonce"
			return q
		},
		is: errdefs.IsUnauthorized, want: "nonce does not match", wantReturnTo: "/x",
	}, {
		name: "callback names another issuer",
		callback: func(t *testing.T, p *Provider) url.Values {
			q := signIn(t, p, "/x")
			q.Set("iss", "https://evil.example.com")
			return q
		},
		is: errdefs.IsUnauthorized, want: `comes from issuer "https://evil.example.com"`, wantReturnTo: "/x",
	}, {
		name: "code used twice at the provider",
		callback: func(t *testing.T, p *Provider) url.Values {
			q := signIn(t, p, "/x")
			if _, _, err := p.Finish(ctx, q); err != nil {
				t.Fatal(err)
			}
			// A fresh state with the spent code.
			q2 := signIn(t, p, "/y")
			q2.Set("code", q.Get("code"))
			return q2
		},
		is: errdefs.IsUnauthorized, want: "refused the code exchange (invalid_grant", wantReturnTo: "/y",
	}, {
		name: "expired id token",
		callback: func(t *testing.T, p *Provider) url.Values {
			m.FastForward(-time.Hour) // mockoidc issues tokens an hour in the past
			t.Cleanup(func() { m.FastForward(time.Hour) })
			return signIn(t, p, "/x")
		},
		is: errdefs.IsUnauthorized, want: "id token expired at", wantReturnTo: "/x",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProvider(t, mockConfig(m))
			claims, returnTo, err := p.Finish(ctx, tt.callback(t, p))
			wantErr(t, err, tt.is, tt.want)
			if !reflect.DeepEqual(claims, Claims{}) {
				t.Errorf("claims = %+v on refusal, want none", claims)
			}
			if returnTo != tt.wantReturnTo {
				t.Errorf("returnTo = %q, want %q", returnTo, tt.wantReturnTo)
			}
		})
	}
}

// TestProviderDownAtStart: skiff starts while the provider is down,
// sign-in fails clearly meanwhile, and works once the provider is up.
func TestProviderDownAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := Config{
		Issuer: "http://" + addr + mockoidc.IssuerBase, ClientID: "skiff", ClientSecret: "s3cret",
		RedirectURL: testRedirect, GroupsClaim: "groups",
	}
	p, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("New with the provider down: %v, want success", err)
	}
	p.retry = 0
	for range 3 {
		_, err = p.Start(context.Background(), "")
		wantErr(t, err, errdefs.IsUnavailable, "oidc provider "+cfg.Issuer+" cannot be reached")
	}
	if _, err := p.VerifyIDToken(context.Background(), "a.b.c"); !errdefs.IsUnavailable(err) {
		t.Errorf("VerifyIDToken with the provider down: %v, want unavailable", err)
	}
	if n := strings.Count(logs.String(), "oidc provider unreachable"); n != 1 {
		t.Errorf("logged the unreachable provider %d times, want once:\n%s", n, logs.String())
	}

	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.ClientID, m.ClientSecret = cfg.ClientID, cfg.ClientSecret
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })

	m.QueueUser(alice)
	claims, _, err := p.Finish(context.Background(), signIn(t, p, ""))
	if err != nil {
		t.Fatalf("sign-in once the provider is up: %v", err)
	}
	if claims.Username != "alice" {
		t.Errorf("username = %q, want alice", claims.Username)
	}
	if !strings.Contains(logs.String(), "oidc provider reachable again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

func TestDiscoveryRetryIsPaced(t *testing.T) {
	p := newTestProvider(t, Config{Issuer: "http://127.0.0.1:1/oidc", ClientID: "c", RedirectURL: testRedirect})
	p.mu.Lock()
	first := p.lastTry
	p.mu.Unlock()
	if _, err := p.Start(context.Background(), ""); !errdefs.IsUnavailable(err) {
		t.Fatalf("Start: %v, want unavailable", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.lastTry.Equal(first) {
		t.Errorf("Start right after a failed discovery tried again; want it to wait %v", discoveryRetry)
	}
}

func TestStartRefusesHugeReturnTo(t *testing.T) {
	m := startMock(t, nil)
	p := newTestProvider(t, mockConfig(m))
	_, err := p.Start(context.Background(), strings.Repeat("x", maxReturnTo+1))
	wantErr(t, err, errdefs.IsInvalid, "returnTo is 4097 bytes")
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(context.Background(), Config{Issuer: "http://idp.example.com", ClientID: "c", RedirectURL: testRedirect}, nil)
	wantErr(t, err, errdefs.IsInvalid, "http is allowed only for a loopback host")
}
