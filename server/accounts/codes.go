package accounts

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// The authorization codes of `skiff login` (RFC 8252: the browser signs
// in and is sent to the CLI's loopback address with a code, which the CLI
// trades, with its PKCE verifier, for a session): kept in memory, used
// once, good for two minutes.
const (
	codeTTL  = 2 * time.Minute
	maxCodes = 1000
)

var errBadCode = fmt.Errorf("this sign-in code is not valid (used, expired, or for another client): run `skiff login` again: %w", errdefs.ErrUnauthorized)

type pendingCode struct {
	id        *auth.Identity
	info      SessionInfo
	challenge string
	redirect  string
	expires   time.Time
}

type codes struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*pendingCode
}

func newCodes(now func() time.Time) *codes { return &codes{now: now, m: map[string]*pendingCode{}} }

// OOBRedirect is the redirect URI of a headless `skiff login`.
const OOBRedirect = client.OOBRedirect

// CheckRedirectURI checks where a CLI sign-in's code may go: http to a
// loopback address with a port, as RFC 8252 §7.3 has native apps
// listen, or OOBRedirect.
func CheckRedirectURI(uri string) error {
	if uri == OOBRedirect {
		return nil
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Port() == "" || u.Fragment != "" {
		return fmt.Errorf("redirect URI %q: want http://127.0.0.1:<port>/… (a loopback address) or %s: %w", uri, OOBRedirect, errdefs.ErrInvalid)
	}
	if h := u.Hostname(); h != "localhost" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("redirect URI %q: the host must be a loopback address: %w", uri, errdefs.ErrInvalid)
		}
	}
	return nil
}

// IssueCode hands a signed-in id a one-time code for the CLI at
// redirectURI (a loopback address) that proved, with the PKCE S256
// challenge, that it started the sign-in.
func (a *Accounts) IssueCode(id *auth.Identity, info SessionInfo, challenge, redirectURI string) (string, error) {
	if id == nil {
		return "", fmt.Errorf("no identity to issue a code for: %w", errdefs.ErrUnauthorized)
	}
	if !validSecret(challenge) {
		return "", fmt.Errorf("code_challenge: want the unpadded base64url SHA-256 of the verifier (method S256): %w", errdefs.ErrInvalid)
	}
	if err := CheckRedirectURI(redirectURI); err != nil {
		return "", err
	}
	code, err := newSecret()
	if err != nil {
		return "", err
	}
	c := a.codes
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for k, p := range c.m {
		if !now.Before(p.expires) {
			delete(c.m, k)
		}
	}
	if len(c.m) >= maxCodes {
		return "", fmt.Errorf("too many sign-ins under way: try again in a minute: %w", errdefs.ErrUnavailable)
	}
	cp := *id
	c.m[code] = &pendingCode{id: &cp, info: info, challenge: challenge, redirect: redirectURI, expires: now.Add(codeTTL)}
	return code, nil
}

// ExchangeCode trades a code, its PKCE verifier and the same redirect URI
// for a new session. A code is spent by its first exchange, right or
// wrong.
func (a *Accounts) ExchangeCode(ctx context.Context, code, verifier, redirectURI string) (Tokens, error) {
	c := a.codes
	c.mu.Lock()
	p, ok := c.m[code]
	delete(c.m, code)
	c.mu.Unlock()
	if !ok || !c.now().Before(p.expires) || p.redirect != redirectURI || len(verifier) < 43 || len(verifier) > 128 {
		return Tokens{}, errBadCode
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(b64.EncodeToString(sum[:])), []byte(p.challenge)) != 1 {
		return Tokens{}, errBadCode
	}
	return a.NewSession(ctx, p.id, p.info)
}
