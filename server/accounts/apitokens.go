package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// TokenRequest asks for an API token.
type TokenRequest struct {
	// Name says what the token is for ("ci-deploy"); 1 to 63 characters.
	Name string
	// Role is the Role the token acts with (never more than its owner
	// may do).
	Role string
	// Namespaces limit the token to these namespaces; none: wherever the
	// owner's bindings reach.
	Namespaces []string
	// TTL is the token's life: 0 is DefaultAPITokenTTL, at most
	// MaxAPITokenTTL; negative never expires, which only an admin may ask.
	TTL time.Duration
}

// TokenInfo describes an API token (never its secret).
type TokenInfo struct {
	ID         string
	Name       string
	Owner      string
	Role       string
	Namespaces []string
	Created    time.Time
	// Expires is zero for a token that never expires.
	Expires time.Time
}

func (t *apiToken) info() TokenInfo {
	return TokenInfo{ID: t.id, Name: t.name, Owner: t.owner, Role: t.role, Namespaces: t.namespaces, Created: t.created, Expires: t.expires}
}

// CreateAPIToken makes an API token for owner and returns it with its
// value, skiff_pat_<id>_<secret>, which is shown once and kept hashed.
func (a *Accounts) CreateAPIToken(ctx context.Context, owner *auth.Identity, req TokenRequest) (TokenInfo, string, error) {
	if owner == nil {
		return TokenInfo{}, "", fmt.Errorf("no owner for the API token: %w", errdefs.ErrUnauthorized)
	}
	if owner.Token != "" {
		return TokenInfo{}, "", fmt.Errorf("an API token cannot make API tokens: sign in as %s: %w", owner.Name, errdefs.ErrForbidden)
	}
	u, err := a.freshUser(ctx, owner.Name)
	if err != nil || u.Spec.Disabled {
		return TokenInfo{}, "", fmt.Errorf("API tokens belong to users, and %q is not an enabled user: sign in as one: %w", owner.Name, errdefs.ErrForbidden)
	}
	var errs api.FieldErrors
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 63 || strings.ContainsAny(name, "\n\x00") {
		errs = append(errs, api.Invalid("name", req.Name, "give the token a name of 1 to 63 characters that says what it is for"))
	}
	if req.Role == "" {
		errs = append(errs, api.Required("role", "name the role the token acts with (admin, developer, viewer or one of yours)"))
	} else if _, ok := a.roles.Get("", req.Role); !ok && !a.roleStored(ctx, req.Role) {
		errs = append(errs, api.Invalid("role", req.Role, "no such role: list them with `skiff get roles`"))
	}
	for _, ns := range req.Namespaces {
		if p := api.IsDNS1123Label(ns); len(p) > 0 {
			errs = append(errs, api.Invalid("namespaces", ns, strings.Join(p, "; ")))
		}
	}
	if n := len(a.tables.tokensOf(u.Name)); n >= MaxAPITokensPerUser {
		return TokenInfo{}, "", fmt.Errorf("%s has %d API tokens, the most one user may have: revoke some with `skiff token revoke`: %w", u.Name, n, errdefs.ErrForbidden)
	}
	now := a.now()
	var exp time.Time
	switch {
	case req.TTL == 0:
		exp = now.Add(DefaultAPITokenTTL)
	case req.TTL < 0 && !auth.IsAdmin(ctx, a, owner):
		errs = append(errs, api.Invalid("ttl", req.TTL.String(), fmt.Sprintf("only admins may make tokens that never expire: give a lifetime of up to %s", MaxAPITokenTTL)))
	case req.TTL > MaxAPITokenTTL:
		errs = append(errs, api.Invalid("ttl", req.TTL.String(), fmt.Sprintf("at most %s: make a new token when it ends", MaxAPITokenTTL)))
	case req.TTL > 0:
		exp = now.Add(req.TTL)
	}
	if len(errs) > 0 {
		return TokenInfo{}, "", fmt.Errorf("API token: %w", errs)
	}
	id, err := newID()
	if err != nil {
		return TokenInfo{}, "", err
	}
	sec, err := newSecret()
	if err != nil {
		return TokenInfo{}, "", err
	}
	data := map[string][]byte{
		keyName: []byte(name), keyUser: []byte(u.Name), keyUserUID: []byte(u.UID), keyRole: []byte(req.Role),
		keyHash: hashSecret(sec), keyCreated: formatTime(now),
	}
	if len(req.Namespaces) > 0 {
		data[keyNS] = []byte(strings.Join(req.Namespaces, "\n"))
	}
	if !exp.IsZero() {
		data[keyExpires] = formatTime(exp)
	}
	if _, err := a.createSecret(ctx, &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: api.APITokenSecretPrefix + id},
		Type:       api.SecretTypeAPIToken,
		Data:       data,
	}); err != nil {
		return TokenInfo{}, "", fmt.Errorf("store API token %q: %w", name, err)
	}
	t, ok := a.tables.token(id)
	if !ok {
		return TokenInfo{}, "", fmt.Errorf("API token %q vanished as it was made: %w", name, errdefs.ErrConflict)
	}
	a.log.Info("API token made", "user", u.Name, "token", id, "name", name, "role", req.Role)
	return t.info(), formatAPIToken(id, sec), nil
}

// roleStored reports whether a role the cache has not heard of yet
// exists (one made a moment ago).
func (a *Accounts) roleStored(ctx context.Context, name string) bool {
	_, err := client.For[*api.Role](a.backend, "").Get(ctx, name)
	return err == nil
}

// liveToken returns the token with this id if it, and its owner, are
// good now.
func (a *Accounts) liveToken(id string) (*apiToken, *api.User, bool) {
	t, ok := a.tables.token(id)
	if !ok || !t.expires.IsZero() && !a.now().Before(t.expires) {
		return nil, nil, false
	}
	u, ok := a.tables.liveUser(t.owner, t.ownerUID)
	return t, u, ok
}

func (a *Accounts) authenticateAPIToken(token string) (*auth.Identity, error) {
	id, sec, ok := parseAPIToken(token)
	if !ok {
		return nil, errBadToken
	}
	t, ok := a.tables.token(id)
	if !ok || !secretMatches(sec, t.hash) {
		return nil, errBadToken
	}
	t, u, ok := a.liveToken(id)
	if !ok {
		return nil, errBadToken
	}
	return &auth.Identity{
		Name: u.Name, Groups: userGroups(u, nil), Token: t.id, Via: "api-token",
		Scope: &auth.Scope{Role: t.role, Namespaces: append([]string(nil), t.namespaces...)},
	}, nil
}

// APITokens lists owner's tokens ("" = everyone's), oldest first.
func (a *Accounts) APITokens(_ context.Context, owner string) []TokenInfo {
	var out []TokenInfo
	for _, t := range a.tables.tokensOf(owner) {
		out = append(out, t.info())
	}
	return out
}

// RevokeAPIToken deletes a token: by's own, or anyone's if by is an
// admin. Requests made with it fail from now on and its live ones end.
func (a *Accounts) RevokeAPIToken(ctx context.Context, by *auth.Identity, id string) error {
	t, ok := a.tables.token(id)
	if !ok || by == nil || (t.owner != by.Name && !auth.IsAdmin(ctx, a, by)) {
		return fmt.Errorf("API token %q: %w: list yours with `skiff token list`", id, errdefs.ErrNotFound)
	}
	if err := a.deleteSecret(ctx, api.APITokenSecretPrefix+id); err != nil {
		return fmt.Errorf("revoke API token %q: %w", id, err)
	}
	a.log.Info("API token revoked", "user", t.owner, "token", id, "by", by.Name)
	return nil
}
