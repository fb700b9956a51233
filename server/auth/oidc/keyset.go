package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// Why skiff keeps its own key set instead of go-oidc's RemoteKeySet: that
// one fetches the provider's JWKS again for every token whose signature
// does not verify, so anyone who can hand skiff a bad token (the CLI path
// accepts ID tokens) makes skiff hit the provider once per try. This one
// fetches again only for a key id it has not seen, at most once per
// minRefresh, and tells a malformed token, an unknown key and a bad
// signature apart so that the refusal can say which.

// Signature failures, told apart for the message; all are refusals.
var (
	errMalformed    = errors.New("is not a well-formed signed JWT")
	errUnknownKey   = errors.New("is signed with a key the provider does not publish")
	errBadSignature = errors.New("has a signature that does not verify against the provider's keys")
)

// asymmetricAlgs are the JWS algorithms an ID token may use: those go-oidc
// supports, never "none" nor an HMAC keyed by the (maybe public) secret.
var asymmetricAlgs = []string{
	gooidc.RS256, gooidc.RS384, gooidc.RS512,
	gooidc.ES256, gooidc.ES384, gooidc.ES512,
	gooidc.PS256, gooidc.PS384, gooidc.PS512,
	gooidc.EdDSA,
}

// maxJWKSBytes bounds the provider's key set document.
const maxJWKSBytes = 1 << 20

// keySet is the provider's published signing keys, fetched from its
// jwks_uri and cached.
type keySet struct {
	url        string
	client     *http.Client
	algs       []jose.SignatureAlgorithm
	minRefresh time.Duration
	now        func() time.Time

	fetchMu sync.Mutex // one fetch at a time

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time // zero: never fetched successfully
	tried   time.Time // last fetch attempt
}

var _ gooidc.KeySet = (*keySet)(nil)

// VerifySignature checks raw's signature against the provider's keys and
// returns its payload. Errors wrap errMalformed, errUnknownKey,
// errBadSignature, or say the keys could not be fetched.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	if v, ok := ctx.Value(verifiedKey{}).(verified); ok && v.raw == raw {
		return v.payload, nil // checked a moment ago by this key set
	}
	jws, err := jose.ParseSignedCompact(raw, k.algs) // an ID token is compact (OIDC Core 2)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", errMalformed, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w (it has %d signatures, want 1)", errMalformed, len(jws.Signatures))
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, err := k.keysFor(ctx, kid)
	if err != nil {
		return nil, err
	}
	matched := false
	for i := range keys {
		key := &keys[i]
		if (kid != "" && key.KeyID != kid) || (key.Use != "" && key.Use != "sig") {
			continue
		}
		matched = true
		if payload, err := jws.Verify(key); err == nil {
			return payload, nil
		}
	}
	if !matched {
		return nil, fmt.Errorf("%w (key id %q)", errUnknownKey, kid)
	}
	return nil, errBadSignature
}

// keysFor returns the cached keys, fetching them first when none were
// fetched yet or kid is not among them and the last try is old enough.
func (k *keySet) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys, ok := k.cached(kid); ok {
		return keys, nil
	}
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	if keys, ok := k.cached(kid); ok { // another caller fetched meanwhile
		return keys, nil
	}
	keys, err := k.fetch(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tried = k.now()
	if err != nil {
		if k.fetched.IsZero() {
			return nil, fmt.Errorf("fetch the provider's signing keys from %s: %v: %w", k.url, err, errUnavailableKeys)
		}
		return k.keys, nil // keep verifying with the keys we have
	}
	k.keys, k.fetched = keys, k.tried
	return keys, nil
}

var errUnavailableKeys = errors.New("signing keys unavailable")

// verified carries, through go-oidc's Verify, a token this key set has
// just checked, so that go-oidc's own call does not verify it twice.
type verified struct {
	raw     string
	payload []byte
}

type verifiedKey struct{}

// cached reports whether the cache answers for kid without a fetch: it
// has kid, or it was tried less than minRefresh ago.
func (k *keySet) cached(kid string) ([]jose.JSONWebKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fetched.IsZero() {
		return nil, false // never fetched: fetch now, even right after a failure
	}
	if kid == "" || slices.ContainsFunc(k.keys, func(j jose.JSONWebKey) bool { return j.KeyID == kid }) {
		return k.keys, true
	}
	return k.keys, k.now().Sub(k.tried) < k.minRefresh
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("key set is over %d bytes", maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode key set: %v", err)
	}
	return set.Keys, nil
}
