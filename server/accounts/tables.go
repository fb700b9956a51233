package accounts

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func isNotFound(err error) bool { return errdefs.IsNotFound(err) }

// The keys of the identity system's Secrets.
const (
	keyUser      = "user"
	keyUserUID   = "user-uid"
	keyHash      = "secret-sha256"
	keyPassword  = "argon2id"
	keyVia       = "via"
	keyAddress   = "address"
	keyUserAgent = "user-agent"
	keyGroups    = "groups" // one per line
	keyCreated   = "created"
	keyExpires   = "expires" // RFC 3339; absent: never
	keyLastUsed  = "last-used"
	keyName      = "name"
	keyRole      = "role"
	keyNS        = "namespaces" // one per line
)

// session is a sign-in, as its Secret says.
type session struct {
	id, user, userUID       string
	hash                    []byte
	via, address, userAgent string
	groups                  []string // the provider's, kept from sign-in
	created, expires, used  time.Time
}

// expiry is when s ends if not used again.
func (s *session) expiry() time.Time {
	idle := s.used.Add(SessionIdleTTL)
	if idle.Before(s.expires) {
		return idle
	}
	return s.expires
}

// apiToken is an API token, as its Secret says.
type apiToken struct {
	id, name, owner, ownerUID, role string
	namespaces                      []string
	hash                            []byte
	created, expires                time.Time // expires zero: never
}

// storedPassword is a user's argon2id hash, and the UID of the user it
// was set for (a user deleted and made again has none).
type storedPassword struct{ phc, userUID string }

// invite is a one-time link to set a user's password.
type invite struct {
	id, user, userUID string
	hash              []byte
	expires           time.Time
}

// tables are the in-memory state, fed by the informers and by this
// server's own writes (so that a session works, and a revocation holds,
// the moment the call returns, before the informer hears of it). A
// Secret's state is taken only if its resourceVersion is not older than
// what the table holds, and a name this server deleted stays deleted
// (a tombstone) until the informer reports the deletion.
type tables struct {
	mu         sync.RWMutex
	users      map[string]*api.User
	byIdentity map[string]string // issuer "\x00" subject → user
	sessions   map[string]*session
	tokens     map[string]*apiToken
	invites    map[string]*invite
	passwords  map[string]storedPassword
	rv         map[string]uint64 // Secret name → resourceVersion held
	gone       map[string]time.Time
	userRV     map[string]uint64
}

func newTables() tables {
	return tables{
		users: map[string]*api.User{}, byIdentity: map[string]string{},
		sessions: map[string]*session{}, tokens: map[string]*apiToken{}, invites: map[string]*invite{},
		passwords: map[string]storedPassword{}, rv: map[string]uint64{}, gone: map[string]time.Time{}, userRV: map[string]uint64{},
	}
}

func identityKey(issuer, subject string) string { return issuer + "\x00" + subject }

func (t *tables) putUser(u *api.User) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rv := parseRV(u.ResourceVersion)
	if old, ok := t.users[u.Name]; ok {
		if old.UID == u.UID && rv < t.userRV[u.Name] {
			return // stale
		}
		t.unindexLocked(old)
	}
	t.users[u.Name] = u
	t.userRV[u.Name] = rv
	for _, id := range u.Spec.Identities {
		t.byIdentity[identityKey(id.Issuer, id.Subject)] = u.Name
	}
}

func (t *tables) unindexLocked(u *api.User) {
	for _, id := range u.Spec.Identities {
		if k := identityKey(id.Issuer, id.Subject); t.byIdentity[k] == u.Name {
			delete(t.byIdentity, k)
		}
	}
}

func (t *tables) dropUser(name, uid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.users[name]; ok && old.UID == uid {
		t.unindexLocked(old)
		delete(t.users, name)
		delete(t.userRV, name)
	}
}

func (t *tables) user(name string) (*api.User, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	u, ok := t.users[name]
	return u, ok
}

// liveUser returns the user if it exists, is enabled, and has uid (a
// user deleted and made again is someone else; a credential naming no
// uid is no credential of this package's).
func (t *tables) liveUser(name, uid string) (*api.User, bool) {
	u, ok := t.user(name)
	if !ok || u.Spec.Disabled || u.DeletionTimestamp != nil || uid == "" || u.UID != uid {
		return nil, false
	}
	return u, true
}

func (t *tables) userByIdentity(issuer, subject string) (*api.User, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	name, ok := t.byIdentity[identityKey(issuer, subject)]
	if !ok {
		return nil, false
	}
	u, ok := t.users[name]
	return u, ok
}

func parseTime(b []byte) time.Time {
	if len(b) == 0 {
		return time.Time{}
	}
	tm, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		// Corrupt: treat as long past, so the credential is refused.
		return time.Unix(1, 0)
	}
	return tm
}

func formatTime(t time.Time) []byte { return []byte(t.UTC().Format(time.RFC3339)) }

func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\n")
}

// putOwn takes in a Secret this server just wrote: a name it deleted
// before may live again.
func (t *tables) putOwn(s *api.Secret) {
	t.mu.Lock()
	delete(t.gone, s.Name)
	t.mu.Unlock()
	t.putSecret(s)
}

// putSecret takes in the state a Secret of skiff-system holds, if it is
// one of this package's.
func (t *tables) putSecret(s *api.Secret) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, gone := t.gone[s.Name]; gone || s.DeletionTimestamp != nil {
		return
	}
	rv := parseRV(s.ResourceVersion)
	if rv < t.rv[s.Name] {
		return
	}
	d := s.Data
	switch {
	case s.Type == api.SecretTypeSession && strings.HasPrefix(s.Name, api.SessionSecretPrefix):
		id := strings.TrimPrefix(s.Name, api.SessionSecretPrefix)
		ns := &session{
			id: id, user: string(d[keyUser]), userUID: string(d[keyUserUID]), hash: d[keyHash],
			via: string(d[keyVia]), address: string(d[keyAddress]), userAgent: string(d[keyUserAgent]),
			groups:  providerGroups(lines(d[keyGroups])),
			created: parseTime(d[keyCreated]), expires: parseTime(d[keyExpires]), used: parseTime(d[keyLastUsed]),
		}
		// A use noted in memory and not stored yet stays noted.
		if old, ok := t.sessions[id]; ok && old.used.After(ns.used) {
			ns.used = old.used
		}
		t.sessions[id] = ns
	case s.Type == api.SecretTypeAPIToken && strings.HasPrefix(s.Name, api.APITokenSecretPrefix):
		id := strings.TrimPrefix(s.Name, api.APITokenSecretPrefix)
		t.tokens[id] = &apiToken{
			id: id, name: string(d[keyName]), owner: string(d[keyUser]), ownerUID: string(d[keyUserUID]),
			role: string(d[keyRole]), namespaces: lines(d[keyNS]), hash: d[keyHash],
			created: parseTime(d[keyCreated]), expires: parseTime(d[keyExpires]),
		}
	case s.Type == api.SecretTypeInvite && strings.HasPrefix(s.Name, api.InviteSecretPrefix):
		id := strings.TrimPrefix(s.Name, api.InviteSecretPrefix)
		t.invites[id] = &invite{id: id, user: string(d[keyUser]), userUID: string(d[keyUserUID]), hash: d[keyHash], expires: parseTime(d[keyExpires])}
	case s.Type == api.SecretTypePassword && strings.HasPrefix(s.Name, api.UserPasswordSecretPrefix):
		t.passwords[strings.TrimPrefix(s.Name, api.UserPasswordSecretPrefix)] = storedPassword{phc: string(d[keyPassword]), userUID: string(d[keyUserUID])}
	default:
		return
	}
	t.rv[s.Name] = rv
}

// drop removes a Secret's state and remembers it is gone; it returns the
// user it belonged to ("" if none).
func (t *tables) drop(name string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gone[name] = time.Now()
	return t.removeLocked(name)
}

// informerDelete removes a Secret's state on the informer's word, which
// also ends the tombstone.
func (t *tables) informerDelete(name string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.gone, name)
	return t.removeLocked(name)
}

func (t *tables) removeLocked(name string) string {
	delete(t.rv, name)
	var user string
	switch {
	case strings.HasPrefix(name, api.SessionSecretPrefix):
		id := strings.TrimPrefix(name, api.SessionSecretPrefix)
		if s, ok := t.sessions[id]; ok {
			user = s.user
		}
		delete(t.sessions, id)
	case strings.HasPrefix(name, api.APITokenSecretPrefix):
		id := strings.TrimPrefix(name, api.APITokenSecretPrefix)
		if s, ok := t.tokens[id]; ok {
			user = s.owner
		}
		delete(t.tokens, id)
	case strings.HasPrefix(name, api.InviteSecretPrefix):
		delete(t.invites, strings.TrimPrefix(name, api.InviteSecretPrefix))
	case strings.HasPrefix(name, api.UserPasswordSecretPrefix):
		delete(t.passwords, strings.TrimPrefix(name, api.UserPasswordSecretPrefix))
	}
	return user
}

func (t *tables) session(id string) (*session, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.sessions[id]
	return s, ok
}

// touch records a session's use in memory.
func (t *tables) touch(id string, used time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.sessions[id]; ok {
		c := *s
		c.used = used
		t.sessions[id] = &c
	}
}

func (t *tables) token(id string) (*apiToken, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.tokens[id]
	return s, ok
}

func (t *tables) invite(id string) (*invite, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.invites[id]
	return s, ok
}

func (t *tables) password(user string) storedPassword {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.passwords[user]
}

func (t *tables) hasPassword(user string) bool { return t.password(user).phc != "" }

func (t *tables) sessionsOf(user string) []*session {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*session
	for _, s := range t.sessions {
		if user == "" || s.user == user {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *session) int { return a.created.Compare(b.created) })
	return out
}

func (t *tables) tokensOf(owner string) []*apiToken {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*apiToken
	for _, s := range t.tokens {
		if owner == "" || s.owner == owner {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *apiToken) int { return a.created.Compare(b.created) })
	return out
}

func (t *tables) invitesOf(user string) []*invite {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*invite
	for _, s := range t.invites {
		if s.user == user {
			out = append(out, s)
		}
	}
	return out
}

// expired names the Secrets of credentials past their end, and forgets
// tombstones old enough that no late event can revive their names.
func (t *tables) expired(now time.Time) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id, s := range t.sessions {
		if !now.Before(s.expiry()) {
			out = append(out, api.SessionSecretPrefix+id)
		}
	}
	for id, s := range t.tokens {
		if !s.expires.IsZero() && !now.Before(s.expires) {
			out = append(out, api.APITokenSecretPrefix+id)
		}
	}
	for id, s := range t.invites {
		if !now.Before(s.expires) {
			out = append(out, api.InviteSecretPrefix+id)
		}
	}
	for name, at := range t.gone {
		if time.Since(at) > time.Hour {
			delete(t.gone, name)
		}
	}
	return out
}

// providerGroups keeps the groups a session may carry: a provider's,
// prefixed oidc:. Whatever else a stored session says (a forged one)
// adds nothing.
func providerGroups(gs []string) []string {
	out := gs[:0]
	for _, g := range gs {
		if strings.HasPrefix(g, api.OIDCGroupPrefix) {
			out = append(out, g)
		}
	}
	return out
}
