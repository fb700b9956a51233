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

// SessionInfo describes a sign-in session. NewSession reads Via, Address
// and UserAgent; Sessions fills the rest.
type SessionInfo struct {
	// Via is how the user signed in: "password", "oidc" or "cli".
	Via       string
	Address   string
	UserAgent string

	ID       string
	User     string
	Created  time.Time
	LastUsed time.Time
	// Expires is when the session ends unless refreshed (the idle
	// expiry, or the absolute one if sooner).
	Expires time.Time
}

// Tokens are what a sign-in or refresh hands the client.
type Tokens struct {
	// Access is the short-lived bearer token.
	Access        string
	AccessExpires time.Time
	// Refresh is the session credential "<sid>.<secret>": the browser
	// cookie's value, or what `skiff login` keeps to get new access
	// tokens.
	Refresh        string
	SessionID      string
	SessionExpires time.Time
}

const maxInfoLen = 256

func clip(s string) string {
	if len(s) > maxInfoLen {
		return strings.ToValidUTF8(s[:maxInfoLen], "")
	}
	return s
}

// NewSession starts a session for a signed-in user (id from
// SignInPassword, SignInOIDC or ExchangeCode): it stores the session and
// returns its tokens. The provider groups in id.Groups (those with
// api.OIDCGroupPrefix) are kept with the session.
func (a *Accounts) NewSession(ctx context.Context, id *auth.Identity, info SessionInfo) (Tokens, error) {
	if id == nil {
		return Tokens{}, fmt.Errorf("no identity to start a session for: %w", errdefs.ErrUnauthorized)
	}
	if id.Token != "" {
		return Tokens{}, fmt.Errorf("an API token cannot start a session: sign in as %s: %w", id.Name, errdefs.ErrForbidden)
	}
	u, err := a.freshUser(ctx, id.Name)
	if err != nil || u.Spec.Disabled {
		return Tokens{}, fmt.Errorf("sessions are for users, and %q is not an enabled user: %w", id.Name, errdefs.ErrUnauthorized)
	}
	sid, err := newID()
	if err != nil {
		return Tokens{}, err
	}
	sec, err := newSecret()
	if err != nil {
		return Tokens{}, err
	}
	var provider []string
	for _, g := range id.Groups {
		if strings.HasPrefix(g, api.OIDCGroupPrefix) && !strings.ContainsRune(g, '\n') {
			provider = append(provider, g)
		}
	}
	now := a.now()
	exp := now.Add(a.sessionTTL)
	if len(provider) > 0 && a.groupsTTL < a.sessionTTL {
		// The provider's groups are read at sign-in only: a session
		// carrying them is short, so that someone removed from a group
		// at the provider loses it by the next sign-in.
		exp = now.Add(a.groupsTTL)
	}
	data := map[string][]byte{
		keyUser: []byte(u.Name), keyUserUID: []byte(u.UID), keyHash: hashSecret(sec),
		keyVia: []byte(clip(info.Via)), keyCreated: formatTime(now), keyExpires: formatTime(exp), keyLastUsed: formatTime(now),
	}
	if info.Address != "" {
		data[keyAddress] = []byte(clip(info.Address))
	}
	if info.UserAgent != "" {
		data[keyUserAgent] = []byte(clip(info.UserAgent))
	}
	if len(provider) > 0 {
		data[keyGroups] = []byte(strings.Join(provider, "\n"))
	}
	if _, err := a.createSecret(ctx, &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: api.SessionSecretPrefix + sid},
		Type:       api.SecretTypeSession,
		Data:       data,
	}); err != nil {
		return Tokens{}, fmt.Errorf("store session for %q: %w", u.Name, err)
	}
	s, _ := a.tables.session(sid)
	if s == nil {
		return Tokens{}, fmt.Errorf("session for %q vanished as it was made: %w", u.Name, errdefs.ErrConflict)
	}
	a.log.Info("session started", "user", u.Name, "session", sid, "via", info.Via, "address", info.Address)
	if all := a.tables.sessionsOf(u.Name); len(all) > MaxSessionsPerUser {
		for _, old := range all[:len(all)-MaxSessionsPerUser] { // oldest first
			if old.id == sid {
				continue
			}
			if err := a.deleteSecret(ctx, api.SessionSecretPrefix+old.id); err != nil {
				a.log.Warn("end oldest session", "user", u.Name, "session", old.id, "err", err)
			}
		}
	}
	return a.tokensFor(s, formatCredential(sid, sec), now), nil
}

// freshUser returns a user from the cache, or from the store when the
// cache has not heard of it yet (one made a moment ago).
func (a *Accounts) freshUser(ctx context.Context, name string) (*api.User, error) {
	if u, ok := a.tables.user(name); ok {
		return u, nil
	}
	u, err := client.For[*api.User](a.backend, "").Get(ctx, name)
	if err != nil {
		return nil, err
	}
	a.tables.putUser(u)
	return u, nil
}

// tokensFor signs a new access token for s; it ends no later than s.
func (a *Accounts) tokensFor(s *session, refresh string, now time.Time) Tokens {
	end := s.expiry()
	exp := now.Add(a.accessTTL)
	if end.Before(exp) {
		exp = end
	}
	return Tokens{
		Access:         a.signer.sign(accessClaims{SID: s.id, Sub: s.user, Exp: exp.Unix(), Iat: now.Unix()}),
		AccessExpires:  time.Unix(exp.Unix(), 0),
		Refresh:        refresh,
		SessionID:      s.id,
		SessionExpires: end,
	}
}

// liveSession returns the session of a credential if it is good now.
func (a *Accounts) liveSession(credential string) (*session, *api.User, bool) {
	sid, sec, ok := parseCredential(credential)
	if !ok {
		return nil, nil, false
	}
	s, ok := a.tables.session(sid)
	if !ok || !secretMatches(sec, s.hash) {
		return nil, nil, false
	}
	return a.sessionLive(s)
}

// sessionLive checks a session's expiry and user.
func (a *Accounts) sessionLive(s *session) (*session, *api.User, bool) {
	if !a.now().Before(s.expiry()) {
		return nil, nil, false
	}
	u, ok := a.tables.liveUser(s.user, s.userUID)
	if !ok {
		return nil, nil, false
	}
	return s, u, true
}

// Refresh returns a new access token for a session credential. The
// credential stays the same; the session's last use is written at most
// once an hour.
func (a *Accounts) Refresh(ctx context.Context, refresh string) (Tokens, error) {
	s, _, ok := a.liveSession(refresh)
	if !ok {
		return Tokens{}, errBadToken
	}
	now := a.now()
	s = a.noteUse(s, now)
	return a.tokensFor(s, refresh, now), nil
}

// noteUse records that s was used at now — in memory at once, and in its
// Secret (by Run, off the request's path) if the stored last use is
// lastUsedEvery old — and returns s as it now is.
func (a *Accounts) noteUse(s *session, now time.Time) *session {
	if now.Sub(s.used) < lastUsedEvery {
		return s
	}
	a.tables.touch(s.id, now)
	a.usesMu.Lock()
	a.uses[s.id] = now
	a.usesMu.Unlock()
	kick(a.useKick)
	if fresh, ok := a.tables.session(s.id); ok {
		return fresh
	}
	return s
}

// persistUses writes the last uses noteUse collected.
func (a *Accounts) persistUses(ctx context.Context) {
	a.usesMu.Lock()
	uses := a.uses
	a.uses = map[string]time.Time{}
	a.usesMu.Unlock()
	for sid, at := range uses {
		if s, ok := a.tables.session(sid); ok && s.used.After(at) {
			at = s.used
		}
		err := client.RetryOnConflict(ctx, func() error {
			sec, err := a.secretsAPI().Get(ctx, api.SessionSecretPrefix+sid)
			if err != nil {
				return err
			}
			if parseTime(sec.Data[keyLastUsed]).After(at) {
				return nil
			}
			sec.Data[keyLastUsed] = formatTime(at)
			out, err := a.secretsAPI().Update(ctx, sec)
			if err == nil {
				a.tables.putSecret(out)
			}
			return err
		})
		if err != nil && !isNotFound(err) && ctx.Err() == nil {
			a.log.Warn("record session use", "session", sid, "err", err)
		}
	}
}

// AuthenticateToken accepts the admin token, access tokens and API
// tokens. Every bad token gets the same answer.
func (a *Accounts) AuthenticateToken(ctx context.Context, token string) (*auth.Identity, error) {
	var id *auth.Identity
	var err error = errBadToken
	switch {
	case strings.HasPrefix(token, accessPrefix):
		id, err = a.authenticateAccess(token)
	case strings.HasPrefix(token, apiPrefix):
		id, err = a.authenticateAPIToken(token)
	}
	// The admin token is skiff_<random>: it may happen to start like the
	// others.
	if err != nil && a.admin != nil {
		if id, err = a.admin.AuthenticateToken(ctx, token); err != nil {
			return nil, errBadToken
		}
	}
	return id, err
}

func (a *Accounts) authenticateAccess(token string) (*auth.Identity, error) {
	now := a.now().Unix()
	c, ok := a.signer.check(token, now)
	if !ok || now >= c.Exp {
		return nil, errBadToken
	}
	s, ok := a.tables.session(c.SID)
	if !ok || s.user != c.Sub {
		return nil, errBadToken
	}
	s, u, ok := a.sessionLive(s)
	if !ok {
		return nil, errBadToken
	}
	return sessionIdentity(u, s, "session"), nil
}

// AuthenticateSession accepts a browser cookie's value: a session
// credential "<sid>.<secret>".
func (a *Accounts) AuthenticateSession(_ context.Context, credential string) (*auth.Identity, error) {
	s, u, ok := a.liveSession(credential)
	if !ok {
		return nil, errBadToken
	}
	// A browser does not refresh: its requests keep the session alive.
	s = a.noteUse(s, a.now())
	return sessionIdentity(u, s, "cookie"), nil
}

// userGroups are a user's groups: the admin's, then extra ones, then
// GroupAuthenticated.
func userGroups(u *api.User, extra []string) []string {
	g := make([]string, 0, len(u.Spec.Groups)+len(extra)+1)
	g = append(g, u.Spec.Groups...)
	g = append(g, extra...)
	return append(g, GroupAuthenticated)
}

func sessionIdentity(u *api.User, s *session, via string) *auth.Identity {
	return &auth.Identity{Name: u.Name, Groups: userGroups(u, s.groups), Session: s.id, Via: via}
}

func (s *session) info() SessionInfo {
	return SessionInfo{Via: s.via, Address: s.address, UserAgent: s.userAgent, ID: s.id, User: s.user,
		Created: s.created, LastUsed: s.used, Expires: s.expiry()}
}

// Sessions lists a user's live sessions ("" = everyone's), oldest first.
func (a *Accounts) Sessions(_ context.Context, user string) []SessionInfo {
	now := a.now()
	var out []SessionInfo
	for _, s := range a.tables.sessionsOf(user) {
		if now.Before(s.expiry()) {
			out = append(out, s.info())
		}
	}
	return out
}

// RevokeSession ends a session: by's own, or anyone's if by is an admin.
// Requests made with it fail from now on and its live ones end.
func (a *Accounts) RevokeSession(ctx context.Context, by *auth.Identity, sid string) error {
	s, ok := a.tables.session(sid)
	if !ok || by == nil || (s.user != by.Name && !auth.IsAdmin(ctx, a, by)) {
		return fmt.Errorf("session %q: %w: list yours with `skiff session list`", sid, errdefs.ErrNotFound)
	}
	if err := a.deleteSecret(ctx, api.SessionSecretPrefix+sid); err != nil {
		return fmt.Errorf("revoke session %q: %w", sid, err)
	}
	a.log.Info("session revoked", "user", s.user, "session", sid, "by", by.Name)
	return nil
}

// RevokeSessions ends every session of user (log out everywhere) and
// says how many there were.
func (a *Accounts) RevokeSessions(ctx context.Context, user string) (int, error) {
	if user == "" {
		return 0, fmt.Errorf("revoke sessions: no user named: %w", errdefs.ErrInvalid)
	}
	n := 0
	for _, s := range a.tables.sessionsOf(user) {
		if err := a.deleteSecret(ctx, api.SessionSecretPrefix+s.id); err != nil {
			return n, fmt.Errorf("revoke the sessions of %q: %w", user, err)
		}
		n++
	}
	if n > 0 {
		a.log.Info("sessions revoked", "user", user, "count", n)
	}
	return n, nil
}
