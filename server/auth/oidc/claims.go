package oidc

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Claims is who the provider says signed in, read from a verified ID
// token. A skiff user is matched by Issuer and Subject, never by Username
// or Email, which the person may be able to change at the provider.
type Claims struct {
	// Issuer and Subject identify the account at the provider.
	Issuer  string
	Subject string
	// Username is the configured username claim, or the local part of
	// Email when the token lacks it.
	Username string
	Email    string
	// EmailVerified is the provider's email_verified claim.
	EmailVerified bool
	// Name is the display name (the name claim).
	Name string
	// Groups are the provider's groups, as the provider spells them; the
	// caller prefixes them (api.OIDCGroupPrefix) before binding roles.
	Groups []string
}

// maxClaimLen bounds a name, email or group read from a token.
const maxClaimLen = 256

// mapClaims reads Claims from a verified token's payload.
func (c Config) mapClaims(issuer, subject string, payload []byte) (Claims, error) {
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Claims{}, fmt.Errorf("id token claims are not a JSON object: %v: %w", err, errdefs.ErrUnauthorized)
	}
	if subject == "" {
		return Claims{}, fmt.Errorf("id token has no sub claim: %w", errdefs.ErrUnauthorized)
	}
	out := Claims{Issuer: issuer, Subject: subject}
	var err error
	if out.Email, err = stringClaim(raw, "email"); err != nil {
		return Claims{}, err
	}
	if out.Name, err = stringClaim(raw, "name"); err != nil {
		return Claims{}, err
	}
	switch v := raw["email_verified"].(type) {
	case bool:
		out.EmailVerified = v
	case string: // some providers (AWS Cognito) send "true"
		out.EmailVerified = v == "true"
	}

	claim := c.usernameClaim()
	if out.Username, err = stringClaim(raw, claim); err != nil {
		return Claims{}, err
	}
	if out.Username == "" {
		local, _, ok := strings.Cut(out.Email, "@")
		if !ok || local == "" {
			return Claims{}, fmt.Errorf("id token has neither a %q claim nor an email to name the user by; set usernameClaim to a claim the provider sends: %w", claim, errdefs.ErrUnauthorized)
		}
		out.Username = local
	}

	if c.GroupsClaim != "" {
		if out.Groups, err = groupsClaim(raw, c.GroupsClaim); err != nil {
			return Claims{}, err
		}
	}
	return out, nil
}

// stringClaim reads an optional string claim ("" when absent or null).
func stringClaim(raw map[string]any, name string) (string, error) {
	v, ok := raw[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("id token claim %q is a %s, want a string: %w", name, jsonKind(v), errdefs.ErrUnauthorized)
	}
	if err := checkClaimText(name, s); err != nil {
		return "", err
	}
	return s, nil
}

// groupsClaim reads a list of strings, or one string, with duplicates
// and empty entries left out.
func groupsClaim(raw map[string]any, name string) ([]string, error) {
	var items []any
	switch v := raw[name].(type) {
	case nil:
		return nil, nil
	case string:
		items = []any{v}
	case []any:
		items = v
	default:
		return nil, fmt.Errorf("id token groups claim %q is a %s, want a list of strings or a string: %w", name, jsonKind(v), errdefs.ErrUnauthorized)
	}
	var out []string
	seen := map[string]bool{}
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("id token groups claim %q: entry %d is a %s, want a string: %w", name, i, jsonKind(it), errdefs.ErrUnauthorized)
		}
		if err := checkClaimText(name, s); err != nil {
			return nil, err
		}
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, nil
}

// checkClaimText refuses text that cannot safely become a name: too long,
// or with control characters (which would forge lines in logs).
func checkClaimText(name, s string) error {
	if len(s) > maxClaimLen {
		return fmt.Errorf("id token claim %q is %d bytes, over the limit of %d: %w", name, len(s), maxClaimLen, errdefs.ErrUnauthorized)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("id token claim %q holds a control character: %w", name, errdefs.ErrUnauthorized)
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
