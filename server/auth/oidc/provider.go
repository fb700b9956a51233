// Package oidc signs people in to skiff through an OpenID Connect
// provider (Google, GitHub through Dex, Keycloak, Entra ID, Okta, …): the
// authorization-code flow with PKCE (S256), state and nonce, and the
// verification of the ID token the provider returns.
//
//	browser          skiff (this package)                 provider
//	   |  sign in   -> Start: state, nonce, verifier kept
//	   |  <- 302 authURL (challenge = S256(verifier))
//	   |  ------------------------------------------------> login
//	   |  <---------------- 302 RedirectURL?code=…&state=…
//	   |  callback  -> Finish: take state (once), exchange
//	   |                code + verifier  ------------------> token endpoint
//	   |                verify ID token (keys, iss, aud, exp, nonce)
//	   |                map claims -> Claims, returnTo
//
// It owns the flow and the token checks only: it does not serve HTTP, set
// cookies, create users, or decide roles. The caller (the API server)
// matches Claims to a User by issuer and subject and opens a session.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

const (
	// httpTimeout bounds each request to the provider.
	httpTimeout = 15 * time.Second
	// startDiscoveryTimeout bounds the discovery New tries, so that a
	// provider that does not answer delays skiff's start only this long.
	startDiscoveryTimeout = 5 * time.Second
	// discoveryRetry is the least time between two discovery attempts
	// while the provider is unreachable, so that a burst of sign-ins does
	// not become a burst of requests to a provider that is down.
	discoveryRetry = 2 * time.Second
	// keyRefresh is the least time between two fetches of the provider's
	// keys prompted by a token with an unknown key id.
	keyRefresh = 10 * time.Second
	// maxReturnTo bounds the caller's opaque data kept per sign-in.
	maxReturnTo = 4096
	// maxIDToken bounds an ID token handed to VerifyIDToken.
	maxIDToken = 64 << 10
)

// Provider is one configured OpenID Connect provider. It is safe for
// concurrent use.
type Provider struct {
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	now     func() time.Time
	pending *pendingStore
	retry   time.Duration // discoveryRetry; tests shorten it

	mu       sync.Mutex
	disc     *discovered // nil until discovery succeeds
	lastErr  error       // the last discovery failure
	lastTry  time.Time
	reported bool // the unreachable provider was logged
}

// discovered is what discovery yields.
type discovered struct {
	oauth    oauth2.Config
	keys     *keySet
	verifier *gooidc.IDTokenVerifier
}

// New sets up the provider in cfg and runs discovery. A provider that
// cannot be reached does not fail New: the failure is logged once and
// discovery is tried again at the next Start, which fails meanwhile with
// errdefs.ErrUnavailable. Only a bad Config fails New.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := httpClient(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:     cfg,
		log:     log.With("component", "oidc", "issuer", cfg.Issuer),
		client:  client,
		now:     time.Now,
		pending: newPendingStore(MaxPending, PendingTTL),
		retry:   discoveryRetry,
	}
	dctx, cancel := context.WithTimeout(ctx, startDiscoveryTimeout)
	defer cancel()
	_, _ = p.discovery(dctx) // failures are logged and retried later
	return p, nil
}

// Issuer returns the configured issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Start begins a sign-in: it makes a state, a nonce and a PKCE verifier,
// keeps them (at most MaxPending, for PendingTTL, the oldest dropped) and
// returns the provider URL to send the browser to. returnTo is opaque to
// this package and is handed back by Finish.
func (p *Provider) Start(ctx context.Context, returnTo string) (string, error) {
	if len(returnTo) > maxReturnTo {
		return "", fmt.Errorf("oidc sign-in: returnTo is %d bytes, over the limit of %d: %w", len(returnTo), maxReturnTo, errdefs.ErrInvalid)
	}
	d, err := p.discovery(ctx)
	if err != nil {
		return "", err
	}
	state, err := randomToken()
	if err != nil {
		return "", err
	}
	nonce, err := randomToken()
	if err != nil {
		return "", err
	}
	verifier := oauth2.GenerateVerifier()
	if dropped := p.pending.add(&pending{
		state: state, nonce: nonce, verifier: verifier, returnTo: returnTo, created: p.now(),
	}); dropped > 0 {
		p.log.Debug("too many sign-ins in flight; dropped the oldest", "dropped", dropped, "max", MaxPending)
	}
	return d.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)), nil
}

// Finish completes a sign-in from the query of the provider's redirect to
// RedirectURL. The state must be one Start made, not yet used and not
// expired; the code is exchanged with the PKCE verifier; the ID token is
// verified (signature, issuer, audience, expiry, nonce) and its claims
// mapped. Every refusal wraps errdefs.ErrUnauthorized (ErrBadRequest for
// a query missing its parameters, ErrUnavailable when the provider
// cannot be reached). returnTo is the value given to Start, returned
// whenever the state was valid, also with an error, so the caller can
// send the browser back where it came from.
func (p *Provider) Finish(ctx context.Context, query url.Values) (Claims, string, error) {
	state := query.Get("state")
	if state == "" {
		if e := query.Get("error"); e != "" {
			return Claims{}, "", providerError(query)
		}
		return Claims{}, "", fmt.Errorf("oidc callback has no state parameter; start the sign-in again: %w", errdefs.ErrBadRequest)
	}
	pend, found, expired := p.pending.take(state, p.now())
	switch {
	case expired:
		return Claims{}, "", fmt.Errorf("oidc sign-in expired: it took longer than %v; start the sign-in again: %w", PendingTTL, errdefs.ErrUnauthorized)
	case !found:
		return Claims{}, "", fmt.Errorf("oidc callback state is unknown, already used or dropped; start the sign-in again: %w", errdefs.ErrUnauthorized)
	}
	returnTo := pend.returnTo
	if query.Get("error") != "" {
		return Claims{}, returnTo, providerError(query)
	}
	// RFC 9207: a provider that names itself must be the one we asked.
	if iss := query.Get("iss"); iss != "" && iss != p.cfg.Issuer {
		return Claims{}, returnTo, fmt.Errorf("oidc callback comes from issuer %q, not the configured %q: %w", iss, p.cfg.Issuer, errdefs.ErrUnauthorized)
	}
	code := query.Get("code")
	if code == "" {
		return Claims{}, returnTo, fmt.Errorf("oidc callback has neither a code nor an error parameter: %w", errdefs.ErrBadRequest)
	}
	d, err := p.discovery(ctx)
	if err != nil {
		return Claims{}, returnTo, err
	}

	tok, err := d.oauth.Exchange(p.clientContext(ctx), code, oauth2.VerifierOption(pend.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			desc := re.ErrorCode
			if re.ErrorDescription != "" {
				desc += ": " + re.ErrorDescription
			}
			if desc == "" {
				desc = re.Response.Status
			}
			return Claims{}, returnTo, fmt.Errorf("oidc provider refused the code exchange (%s): %w", desc, errdefs.ErrUnauthorized)
		}
		return Claims{}, returnTo, fmt.Errorf("oidc code exchange with %s: %v: %w", d.oauth.Endpoint.TokenURL, err, errdefs.ErrUnavailable)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Claims{}, returnTo, fmt.Errorf("oidc provider's token response has no id_token; check that the client may use the openid scope: %w", errdefs.ErrUnauthorized)
	}
	idt, claims, err := p.verify(ctx, d, raw)
	if err != nil {
		return Claims{}, returnTo, err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pend.nonce)) != 1 {
		return Claims{}, returnTo, fmt.Errorf("oidc id token's nonce does not match this sign-in (a replayed or substituted token): %w", errdefs.ErrUnauthorized)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Claims{}, returnTo, fmt.Errorf("oidc id token's at_hash does not match the access token: %v: %w", err, errdefs.ErrUnauthorized)
		}
	}
	if err := p.cfg.admits(claims); err != nil {
		return Claims{}, returnTo, err
	}
	p.log.Debug("oidc sign-in", "sub", claims.Subject, "username", claims.Username)
	return claims, returnTo, nil
}

// providerError reports the error= the provider redirected with.
func providerError(q url.Values) error {
	msg := q.Get("error")
	if d := q.Get("error_description"); d != "" {
		msg += ": " + d
	}
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	return fmt.Errorf("oidc provider refused the sign-in (%q): %w", msg, errdefs.ErrUnauthorized)
}

// discovery returns the provider's metadata, fetching it if no attempt
// has succeeded yet (at most once per p.retry while it fails).
func (p *Provider) discovery(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != nil {
		return p.disc, nil
	}
	if p.lastErr != nil && p.now().Sub(p.lastTry) < p.retry {
		return nil, p.lastErr
	}
	p.lastTry = p.now()
	d, err := p.discover(ctx)
	if err != nil {
		p.lastErr = fmt.Errorf("oidc provider %s cannot be reached: %v; sign-in through it works once it answers: %w", p.cfg.Issuer, err, errdefs.ErrUnavailable)
		if !p.reported {
			p.reported = true
			p.log.Warn("oidc provider unreachable; skiff runs without it and tries again at the next sign-in", "err", err)
		} else {
			p.log.Debug("oidc provider still unreachable", "err", err)
		}
		return nil, p.lastErr
	}
	if p.reported {
		p.log.Info("oidc provider reachable again")
	}
	p.disc, p.lastErr = d, nil
	return d, nil
}

func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	prov, err := gooidc.NewProvider(gooidc.ClientContext(ctx, p.client), p.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		JWKSURL     string   `json:"jwks_uri"`
		Algs        []string `json:"id_token_signing_alg_values_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := prov.Claims(&meta); err != nil {
		return nil, fmt.Errorf("read discovery document: %v", err)
	}
	if meta.JWKSURL == "" {
		return nil, errors.New("discovery document has no jwks_uri")
	}
	var algs []string
	for _, a := range meta.Algs {
		if slices.Contains(asymmetricAlgs, a) {
			algs = append(algs, a)
		}
	}
	if len(algs) == 0 {
		algs = []string{gooidc.RS256} // the one algorithm every provider must support
	}
	keys := &keySet{url: meta.JWKSURL, client: p.client, minRefresh: keyRefresh, now: p.now}
	for _, a := range algs {
		keys.algs = append(keys.algs, jose.SignatureAlgorithm(a))
	}
	endpoint := prov.Endpoint()
	endpoint.AuthStyle = authStyle(p.cfg.ClientSecret, meta.AuthMethods)
	return &discovered{
		oauth: oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: p.cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  p.cfg.RedirectURL,
			Scopes:       p.cfg.scopes(),
		},
		keys: keys,
		verifier: gooidc.NewVerifier(p.cfg.Issuer, keys, &gooidc.Config{
			ClientID:             p.cfg.ClientID,
			SupportedSigningAlgs: algs,
			Now:                  p.now,
		}),
	}, nil
}

// authStyle picks how the client authenticates at the token endpoint. A
// public client sends its client_id in the form (RFC 6749 2.3: it has no
// password for HTTP basic); a confidential one uses the form when that is
// all the provider offers, and otherwise lets oauth2 try basic first and
// fall back to the form.
func authStyle(secret string, methods []string) oauth2.AuthStyle {
	if secret == "" || (slices.Contains(methods, "client_secret_post") && !slices.Contains(methods, "client_secret_basic")) {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// clientContext makes oauth2 use the provider's HTTP client.
func (p *Provider) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, p.client)
}

// httpClient trusts the system's CAs plus those in caFile.
func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("oidc caFile: %v: %w", err, errdefs.ErrInvalid)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("oidc caFile %q holds no PEM certificate: %w", caFile, errdefs.ErrInvalid)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: httpTimeout}, nil
}

// randomToken is 256 random bits, base64url.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("oidc: read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
