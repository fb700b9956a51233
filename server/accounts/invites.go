package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// errBadInvite is the one answer to an invite that is malformed, unknown,
// used or expired.
var errBadInvite = fmt.Errorf("this invite link is not valid (used, expired or mistyped): ask an admin for a new one: %w", errdefs.ErrUnauthorized)

// NewInvite makes a one-time secret with which user may set a password
// (ttl 0: DefaultInviteTTL; at most MaxInviteTTL). The secret is shown
// once; the server keeps its hash.
func (a *Accounts) NewInvite(ctx context.Context, user string, ttl time.Duration) (string, error) {
	switch {
	case ttl == 0:
		ttl = DefaultInviteTTL
	case ttl < 0 || ttl > MaxInviteTTL:
		return "", fmt.Errorf("invite lifetime %s: use up to %s: %w", ttl, MaxInviteTTL, errdefs.ErrInvalid)
	}
	u, err := client.For[*api.User](a.backend, "").Get(ctx, user)
	if err != nil {
		return "", fmt.Errorf("invite %q: %w", user, err)
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	sec, err := newSecret()
	if err != nil {
		return "", err
	}
	now := a.now()
	if _, err := a.createSecret(ctx, &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: api.InviteSecretPrefix + id},
		Type:       api.SecretTypeInvite,
		Data: map[string][]byte{
			keyUser: []byte(user), keyUserUID: []byte(u.UID), keyHash: hashSecret(sec), keyCreated: formatTime(now), keyExpires: formatTime(now.Add(ttl)),
		},
	}); err != nil {
		return "", fmt.Errorf("store invite for %q: %w", user, err)
	}
	a.log.Info("invite made", "user", user, "invite", id, "expires", now.Add(ttl))
	return formatCredential(id, sec), nil
}

// AcceptInvite sets the password of the invite's user, spends the
// invite, and returns the user's name.
func (a *Accounts) AcceptInvite(ctx context.Context, secret, password string) (string, error) {
	id, sec, ok := parseCredential(secret)
	if !ok {
		return "", errBadInvite
	}
	inv, ok := a.tables.invite(id)
	if !ok || !secretMatches(sec, inv.hash) || !a.now().Before(inv.expires) {
		return "", errBadInvite
	}
	if u, err := a.freshUser(ctx, inv.user); err != nil || u.UID != inv.userUID || u.Spec.Disabled {
		return "", errBadInvite // the user was deleted, or disabled meanwhile
	}
	if err := checkPassword(inv.user, password); err != nil {
		return "", err // the invite stays good: try a better password
	}
	// Spend it first, with a precondition, so that two at once cannot
	// both use it.
	s, err := a.secretsAPI().Get(ctx, api.InviteSecretPrefix+id)
	if isNotFound(err) {
		return "", errBadInvite
	}
	if err != nil {
		return "", err
	}
	a.tables.drop(s.Name)
	if _, err := a.secretsAPI().Delete(ctx, s.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &s.UID, ResourceVersion: &s.ResourceVersion}}); err != nil {
		if isNotFound(err) || errdefs.IsConflict(err) {
			return "", errBadInvite
		}
		return "", fmt.Errorf("spend invite: %w", err)
	}
	if err := a.SetPassword(ctx, inv.user, password); err != nil {
		return "", err
	}
	a.log.Info("invite accepted", "user", inv.user, "invite", id)
	return inv.user, nil
}
