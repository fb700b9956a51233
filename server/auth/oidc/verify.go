package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// VerifyIDToken checks an ID token the provider issued to skiff's client
// (signature, issuer, audience = ClientID, expiry, not-before) and maps
// its claims. It is for a client that brings an ID token it obtained
// itself (the CLI); it cannot check a nonce, so Finish, which does, is the
// way for browsers. Refusals wrap errdefs.ErrUnauthorized and say which
// check failed.
func (p *Provider) VerifyIDToken(ctx context.Context, raw string) (Claims, error) {
	if len(raw) > maxIDToken {
		return Claims{}, fmt.Errorf("oidc id token is %d bytes, over the limit of %d: %w", len(raw), maxIDToken, errdefs.ErrUnauthorized)
	}
	d, err := p.discovery(ctx)
	if err != nil {
		return Claims{}, err
	}
	_, claims, err := p.verify(ctx, d, raw)
	return claims, err
}

// verify checks raw's signature with skiff's key set first, so that a
// refusal can name the reason, then hands it to go-oidc's verifier for
// the algorithm and the registered claims (its signature check gets the
// payload just verified).
func (p *Provider) verify(ctx context.Context, d *discovered, raw string) (*gooidc.IDToken, Claims, error) {
	kctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	payload, err := d.keys.VerifySignature(kctx, raw)
	if err != nil {
		if errors.Is(err, errUnavailableKeys) {
			return nil, Claims{}, fmt.Errorf("oidc id token: %v: %w", err, errdefs.ErrUnavailable)
		}
		return nil, Claims{}, fmt.Errorf("oidc id token %v: %w", err, errdefs.ErrUnauthorized)
	}
	idt, err := d.verifier.Verify(context.WithValue(kctx, verifiedKey{}, verified{raw, payload}), raw)
	if err != nil {
		return nil, Claims{}, p.explain(payload, err)
	}
	if err := p.checkAuthorizedParty(idt, payload); err != nil {
		return nil, Claims{}, err
	}
	claims, err := p.cfg.mapClaims(idt.Issuer, idt.Subject, payload)
	if err != nil {
		return nil, Claims{}, err
	}
	return idt, claims, nil
}

// explain turns go-oidc's refusal of a token whose signature is good into
// a message naming the failed check. It reads the verified payload, so
// it never guesses from a forged one.
func (p *Provider) explain(payload []byte, err error) error {
	var expired *gooidc.TokenExpiredError
	if errors.As(err, &expired) {
		return fmt.Errorf("oidc id token expired at %s (%s ago); sign in again: %w",
			expired.Expiry.UTC().Format(time.RFC3339), p.now().Sub(expired.Expiry).Round(time.Second), errdefs.ErrUnauthorized)
	}
	var reg struct {
		Issuer   string          `json:"iss"`
		Audience json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(payload, &reg) == nil {
		if reg.Issuer != p.cfg.Issuer {
			return fmt.Errorf("oidc id token was issued by %q, not by the configured issuer %q: %w", reg.Issuer, p.cfg.Issuer, errdefs.ErrUnauthorized)
		}
		if aud := audience(reg.Audience); !slices.Contains(aud, p.cfg.ClientID) {
			return fmt.Errorf("oidc id token is for audience %q, not for skiff's client %q: %w", aud, p.cfg.ClientID, errdefs.ErrUnauthorized)
		}
	}
	return fmt.Errorf("oidc id token refused: %v: %w", err, errdefs.ErrUnauthorized)
}

// checkAuthorizedParty: a token for several audiences must have been
// issued to skiff (OpenID Connect Core 3.1.3.7, points 4 and 5).
func (p *Provider) checkAuthorizedParty(idt *gooidc.IDToken, payload []byte) error {
	var c struct {
		AZP string `json:"azp"`
	}
	_ = json.Unmarshal(payload, &c) // go-oidc parsed it already
	if c.AZP != "" && c.AZP != p.cfg.ClientID {
		return fmt.Errorf("oidc id token was issued to client %q (azp), not to skiff's client %q: %w", c.AZP, p.cfg.ClientID, errdefs.ErrUnauthorized)
	}
	if len(idt.Audience) > 1 && c.AZP == "" {
		return fmt.Errorf("oidc id token names %d audiences but no authorized party (azp): %w", len(idt.Audience), errdefs.ErrUnauthorized)
	}
	return nil
}

// audience reads aud, a string or a list of strings.
func audience(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}
