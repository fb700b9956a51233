package accounts

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/auth/oidc"
	"github.com/skiffhq/skiff/server/client"
)

// errWrongPassword is the one answer to a failed password sign-in: a
// wrong password, an unknown user, a user without a password, and a
// disabled user are told apart by nobody.
var errWrongPassword = fmt.Errorf("wrong user name or password: %w", errdefs.ErrUnauthorized)

// maxUserNameLen bounds the names the limiter remembers.
const maxUserNameLen = 253

// SignInPassword checks a user's password. Each user name has its own
// failure limit (a *LockedError, class ErrTooManyRequests, once it is
// used up), and each name from each address (remote, the client's
// RemoteAddr) too; an address the user signed in from before is held to
// the second only, so a guesser cannot lock the owner out. Unknown users
// cost the same argon2id work as known ones.
func (a *Accounts) SignInPassword(ctx context.Context, user, password, remote string) (*auth.Identity, error) {
	user = strings.ToLower(strings.TrimSpace(user))
	if user == "" || len(user) > maxUserNameLen || len(password) > maxPasswordLength {
		return nil, errWrongPassword
	}
	done, err := a.limiter.attempt(user, auth.AddressKey(remote))
	if err != nil {
		// Debug: a flood is thousands a second (the audit log keeps a
		// sample, with counts).
		a.log.Debug("sign-in refused: account locked", "user", user, "address", remote)
		return nil, err
	}
	stored := a.tables.password(user)
	match, err := a.hasher.verify(ctx, stored.phc, password, a.dummy)
	if err != nil {
		done(aborted) // no answer: the server is busy, or the client left
		return nil, err
	}
	u, ok := a.tables.liveUser(user, stored.userUID)
	if match && !ok {
		// Perhaps made a moment ago, before the cache heard of it.
		if fu, err := a.freshUser(ctx, user); err == nil && !fu.Spec.Disabled && fu.DeletionTimestamp == nil && stored.userUID != "" && fu.UID == stored.userUID {
			u, ok = fu, true
		}
	}
	if !match || !ok {
		done(failed)
		a.log.Info("sign-in failed", "user", user, "address", remote)
		return nil, errWrongPassword
	}
	done(succeeded)
	a.recordSignIn(ctx, user)
	return &auth.Identity{Name: u.Name, Groups: userGroups(u, nil), Via: "password"}, nil
}

// recordSignIn sets the user's status.lastSignIn (best effort).
func (a *Accounts) recordSignIn(ctx context.Context, name string) {
	users := client.For[*api.User](a.backend, "")
	err := client.RetryOnConflict(ctx, func() error {
		u, err := users.Get(ctx, name)
		if err != nil {
			return err
		}
		t := api.NewTime(a.now())
		u.Status.LastSignIn = &t
		out, err := users.UpdateStatus(ctx, u)
		if err == nil {
			a.tables.putUser(out)
		}
		return err
	})
	if err != nil {
		a.log.Warn("record sign-in", "user", name, "err", err)
	}
}

// SignInOIDC signs in a person an OpenID Connect provider vouched for.
// The User is found by issuer and subject (spec.identities), never by
// name or email; the first sign-in creates it, named after the claimed
// user name. A User of that name already linked to another account, or
// with a password, is not taken over. The provider's groups become
// groups with api.OIDCGroupPrefix.
func (a *Accounts) SignInOIDC(ctx context.Context, c oidc.Claims) (*auth.Identity, error) {
	if c.Issuer == "" || c.Subject == "" {
		return nil, fmt.Errorf("the provider's answer has no issuer or subject: %w", errdefs.ErrUnauthorized)
	}
	u, ok := a.tables.userByIdentity(c.Issuer, c.Subject)
	if !ok {
		var err error
		if u, err = a.linkOIDC(ctx, c); err != nil {
			return nil, err
		}
	}
	if u.Spec.Disabled || u.DeletionTimestamp != nil {
		return nil, fmt.Errorf("user %q is disabled: ask an admin to enable it: %w", u.Name, errdefs.ErrForbidden)
	}
	a.recordSignIn(ctx, u.Name)
	var groups []string
	for _, g := range c.Groups {
		if g != "" && !strings.ContainsAny(g, "\n\x00") && len(g) <= maxInfoLen {
			groups = append(groups, api.OIDCGroupPrefix+g)
		}
	}
	return &auth.Identity{Name: u.Name, Groups: userGroups(u, groups), Via: "oidc"}, nil
}

// linkOIDC makes the User of a first sign-in, or links a User an admin
// made for this person beforehand (one with no identities and no
// password, whose spec.email is the provider's verified e-mail).
func (a *Accounts) linkOIDC(ctx context.Context, c oidc.Claims) (*api.User, error) {
	name := userNameFrom(c)
	if name == "" {
		return nil, fmt.Errorf("the provider gave no usable user name for subject %q: an admin can make a user and add {issuer: %s, subject: %s} to its spec.identities: %w",
			c.Subject, c.Issuer, c.Subject, errdefs.ErrForbidden)
	}
	users := client.For[*api.User](a.backend, "")
	refuse := func() error {
		return fmt.Errorf("a user named %q already exists and is not linked to this %s account (a user made beforehand is linked when its spec.email is the account's verified e-mail): an admin can link it by adding {issuer: %s, subject: %s} to the user's spec.identities: %w",
			name, c.Issuer, c.Issuer, c.Subject, errdefs.ErrForbidden)
	}
	var out *api.User
	err := client.RetryOnConflict(ctx, func() error {
		have, err := users.Get(ctx, name)
		switch {
		case isNotFound(err):
			// A name a role binding already grants to (made for someone
			// not yet signed in, or left by a deleted user) is not given
			// to whoever claims it first.
			if b := a.bindingNaming(name); b != "" {
				return fmt.Errorf("role binding %q names a user %q who has not signed in yet: an admin makes that User first (with spec.email, which links the provider's verified e-mail) or adds {issuer: %s, subject: %s} to its spec.identities: %w",
					b, name, c.Issuer, c.Subject, errdefs.ErrForbidden)
			}
			u := &api.User{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.UserSpec{
				DisplayName: c.Name, Email: c.Email,
				Identities: []api.UserIdentity{{Issuer: c.Issuer, Subject: c.Subject}},
			}}
			out, err = users.Create(ctx, u)
			if errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("made at the same time: %w", errdefs.ErrConflict) // look again
			}
			return err
		case err != nil:
			return err
		}
		for _, id := range have.Spec.Identities {
			if id.Issuer == c.Issuer && id.Subject == c.Subject {
				out = have
				return nil
			}
		}
		// A user an admin made beforehand is linked only by its verified
		// e-mail: a provider's user name is whatever its owner typed.
		if len(have.Spec.Identities) > 0 || a.tables.hasPassword(name) ||
			have.Spec.Email == "" || !c.EmailVerified || !equalFoldASCII(have.Spec.Email, c.Email) {
			return refuse()
		}
		have.Spec.Identities = append(have.Spec.Identities, api.UserIdentity{Issuer: c.Issuer, Subject: c.Subject})
		if have.Spec.Email == "" {
			have.Spec.Email = c.Email
		}
		if have.Spec.DisplayName == "" {
			have.Spec.DisplayName = c.Name
		}
		out, err = users.Update(ctx, have)
		return err
	})
	if err != nil {
		if errdefs.IsForbidden(err) {
			a.log.Warn("oidc sign-in refused: name taken", "user", name, "issuer", c.Issuer, "subject", c.Subject)
		}
		return nil, err
	}
	a.tables.putUser(out)
	a.log.Info("oidc user linked", "user", name, "issuer", c.Issuer, "subject", c.Subject)
	return out, nil
}

var notNameChar = regexp.MustCompile(`[^a-z0-9-]+`)

// userNameFrom makes a valid DNS-1123 label from the claimed user name
// (else the email's local part): lower-cased, other characters as
// hyphens, at most 63 characters.
func userNameFrom(c oidc.Claims) string {
	cands := []string{c.Username}
	if c.EmailVerified { // an unverified address says nothing about its holder
		cands = append(cands, strings.SplitN(c.Email, "@", 2)[0])
	}
	for _, cand := range cands {
		n := notNameChar.ReplaceAllString(strings.ToLower(cand), "-")
		if len(n) > 63 {
			n = n[:63]
		}
		n = strings.Trim(n, "-")
		if n != "" && len(api.IsDNS1123Label(n)) == 0 {
			return n
		}
	}
	return ""
}

// SetPassword sets (or replaces) a user's password: at least
// MinPasswordLength characters, not the user name.
func (a *Accounts) SetPassword(ctx context.Context, user, password string) error {
	u, err := client.For[*api.User](a.backend, "").Get(ctx, user)
	if err != nil {
		return fmt.Errorf("set password of %q: %w", user, err)
	}
	a.tables.putUser(u)
	if err := checkPassword(user, password); err != nil {
		return err
	}
	h, err := a.hasher.hash(ctx, password)
	if err != nil {
		return err
	}
	name := api.UserPasswordSecretPrefix + user
	data := map[string][]byte{keyUser: []byte(user), keyUserUID: []byte(u.UID), keyPassword: []byte(h)}
	err = client.RetryOnConflict(ctx, func() error {
		s, err := a.secretsAPI().Get(ctx, name)
		if isNotFound(err) {
			_, err = a.createSecret(ctx, &api.Secret{
				ObjectMeta: api.ObjectMeta{Name: name},
				Type:       api.SecretTypePassword,
				Data:       data,
			})
			if errdefs.IsAlreadyExists(err) {
				return errors.Join(err, errdefs.ErrConflict)
			}
			return err
		}
		if err != nil {
			return err
		}
		s.Data = data
		out, err := a.secretsAPI().Update(ctx, s)
		if err == nil {
			a.tables.putOwn(out)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of %q: %w", user, err)
	}
	// A new password ends the old one's sessions (whoever knew it, the
	// reason for a reset often, is signed out everywhere) and the user's
	// invites (an old link would set another).
	if n, err := a.RevokeSessions(ctx, user); err != nil {
		return fmt.Errorf("password of %q set, but its sessions not ended: %w", user, err)
	} else if n > 0 {
		a.log.Info("sessions ended by a new password", "user", user, "sessions", n)
	}
	for _, inv := range a.tables.invitesOf(user) {
		if err := a.deleteSecret(ctx, api.InviteSecretPrefix+inv.id); err != nil {
			return fmt.Errorf("password of %q set, but its invite %s not spent: %w", user, inv.id, err)
		}
	}
	a.log.Info("password set", "user", user)
	return nil
}

// bindingNaming is the name of a RoleBinding with user name as a
// subject, or "".
func (a *Accounts) bindingNaming(name string) string {
	for _, b := range a.bindings.List() {
		for _, sub := range b.Subjects {
			if sub.Kind == api.SubjectUser && sub.Name == name {
				return b.Name
			}
		}
	}
	return ""
}

// equalFoldASCII compares e-mail addresses without case, in ASCII only
// (Unicode folding would match the Kelvin sign to a k).
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 0x80 || y >= 0x80 {
			if x != y {
				return false
			}
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
