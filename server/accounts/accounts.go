package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/auth/rbac"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/store/atomicfile"
)

// GroupAuthenticated is the group of every signed-in user (not of the
// admin token or of certificates).
const GroupAuthenticated = "skiff:authenticated"

// SigningKeyFile is the access-token signing key under Config.KeyDir.
const SigningKeyFile = "session-signing.key"

// The defaults and limits of Config and of API tokens and invites.
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultSessionTTL = 30 * 24 * time.Hour
	// DefaultProviderGroupsTTL: a session with a provider's groups lasts
	// a day (a new sign-in through the provider is one click).
	DefaultProviderGroupsTTL = 24 * time.Hour
	// SessionIdleTTL ends a session nobody has refreshed for a week.
	SessionIdleTTL = 7 * 24 * time.Hour
	// lastUsedEvery is how stale a session's recorded last use may get
	// before a refresh writes it again (to spare an SD card).
	lastUsedEvery = time.Hour

	DefaultAPITokenTTL = 90 * 24 * time.Hour
	MaxAPITokenTTL     = 365 * 24 * time.Hour
	DefaultInviteTTL   = 7 * 24 * time.Hour
	MaxInviteTTL       = 30 * 24 * time.Hour

	// MaxSessionsPerUser bounds what one account can make the server
	// store: a new sign-in beyond it ends the user's oldest session.
	MaxSessionsPerUser = 50
	// MaxAPITokensPerUser bounds a user's API tokens; beyond it creating
	// one is refused until one is revoked.
	MaxAPITokensPerUser = 100
)

// Config is what Accounts needs.
type Config struct {
	// Backend is the in-process registry.
	Backend client.Backend
	// KeyDir holds the access-token signing key (<data-dir>/pki): made
	// at the first start, 32 random bytes, mode 0600.
	KeyDir string
	// AdminToken is the foundation's static admin token, still accepted
	// by AuthenticateToken. Optional.
	AdminToken auth.TokenAuthenticator
	// AccessTTL is an access token's life (default 15 minutes).
	AccessTTL time.Duration
	// SessionTTL is a session's absolute life (default 30 days); a
	// session unused for SessionIdleTTL ends sooner.
	SessionTTL time.Duration
	// ProviderGroupsTTL is the life of a session that carries groups from
	// an OpenID Connect provider's claim (default DefaultProviderGroupsTTL),
	// which are read only at sign-in.
	ProviderGroupsTTL time.Duration
	Log               *slog.Logger
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Validate says what is missing or wrong.
func (c Config) Validate() error {
	switch {
	case c.Backend == nil:
		return errors.New("accounts: no backend: pass the registry")
	case c.KeyDir == "":
		return errors.New("accounts: no key directory: pass <data-dir>/pki")
	case c.AccessTTL < 0 || c.SessionTTL < 0:
		return errors.New("accounts: negative token lifetime")
	case c.SessionTTL > 0 && c.AccessTTL > c.SessionTTL:
		return fmt.Errorf("accounts: access tokens (%s) would outlive sessions (%s)", c.AccessTTL, c.SessionTTL)
	}
	return nil
}

// Accounts holds the identity system's state and answers for it.
type Accounts struct {
	backend    client.Backend
	admin      auth.TokenAuthenticator
	accessTTL  time.Duration
	sessionTTL time.Duration
	groupsTTL  time.Duration
	log        *slog.Logger
	now        func() time.Time
	signer     *signer
	hasher     *hasher
	dummy      phc // costs an unknown user the work of a known one
	limiter    *accountLimiter
	codes      *codes

	users    *client.Informer[*api.User]
	roles    *client.Informer[*api.Role]
	bindings *client.Informer[*api.RoleBinding]
	secrets  *client.Informer[*api.Secret]

	tables   tables
	policy   atomic.Pointer[rbac.Policy]
	trackers trackers

	// Kicks to Run's loop; each has a buffer of one.
	policyKick, builtInKick, cleanupKick chan struct{}
	cleanupMu                            sync.Mutex
	cleanup                              map[string]bool // users whose sessions to end
	useKick                              chan struct{}
	usesMu                               sync.Mutex
	uses                                 map[string]time.Time // session → last use to store

	// recheckEvery is how often live requests are checked for expiry.
	recheckEvery time.Duration
	synced       chan struct{}
	syncOnce     sync.Once
}

var (
	_ auth.TokenAuthenticator = (*Accounts)(nil)
	_ auth.Authorizer         = (*Accounts)(nil)
)

// New loads or makes the signing key and returns Accounts; call Run.
func New(cfg Config) (*Accounts, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = DefaultAccessTTL
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.ProviderGroupsTTL == 0 {
		cfg.ProviderGroupsTTL = DefaultProviderGroupsTTL
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key, err := ensureSigningKey(cfg.KeyDir)
	if err != nil {
		return nil, err
	}
	dummy := phc{memory: argonMemory, time: argonTime, threads: argonThreads, salt: make([]byte, argonSaltLen), hash: make([]byte, argonKeyLen)}
	if _, err := rand.Read(dummy.salt); err != nil {
		return nil, err
	}
	// Its own credentials are written as the server, whoever's request
	// it serves: the registry takes skiff's credential Secrets only from
	// the server and admins.
	b := client.AsServer(cfg.Backend)
	a := &Accounts{
		backend: b, admin: cfg.AdminToken, accessTTL: cfg.AccessTTL, sessionTTL: cfg.SessionTTL, groupsTTL: cfg.ProviderGroupsTTL,
		log: cfg.Log, now: cfg.Now, signer: newSigner(key), hasher: newHasher(), dummy: dummy,
		limiter:  newAccountLimiter(cfg.Now),
		codes:    newCodes(cfg.Now),
		users:    client.NewInformer[*api.User](b, "", api.ListOptions{}, cfg.Log.With("informer", "users")),
		roles:    client.NewInformer[*api.Role](b, "", api.ListOptions{}, cfg.Log.With("informer", "roles")),
		bindings: client.NewInformer[*api.RoleBinding](b, "", api.ListOptions{}, cfg.Log.With("informer", "rolebindings")),
		secrets:  client.NewInformer[*api.Secret](b, auth.JoinTokenNamespace, api.ListOptions{}, cfg.Log.With("informer", "secrets")),
		tables:   newTables(),
		trackers: trackers{byUser: map[string]map[*tracked]struct{}{}},

		policyKick: make(chan struct{}, 1), builtInKick: make(chan struct{}, 1), cleanupKick: make(chan struct{}, 1),
		cleanup:      map[string]bool{},
		useKick:      make(chan struct{}, 1),
		uses:         map[string]time.Time{},
		recheckEvery: 10 * time.Second,
		synced:       make(chan struct{}),
	}
	// Until the stored roles are read, the built-in ones rule.
	a.policy.Store(rbac.New(api.BuiltInRoles(), api.BuiltInRoleBindings()))
	a.addHandlers()
	return a, nil
}

// ensureSigningKey reads <dir>/session-signing.key, making it first if
// there is none.
func ensureSigningKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, SigningKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("session signing key: %w", err)
		}
		if err := atomicfile.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("session signing key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session signing key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("session signing key %s is corrupt (%d bytes, want 32): delete it to make a new one (everyone signs in again)", path, len(key))
	}
	return key, nil
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// addHandlers feeds the tables and the kicks from the informers.
func (a *Accounts) addHandlers() {
	a.users.AddHandler(client.HandlerFuncs[*api.User]{
		AddFunc: func(u *api.User) { a.putUser(u) },
		UpdateFunc: func(old, u *api.User) {
			a.putUser(u)
			if u.Spec.Disabled && !old.Spec.Disabled || u.UID != old.UID {
				a.endUser(u.Name)
			}
		},
		DeleteFunc: func(u *api.User) {
			a.tables.dropUser(u.Name, u.UID)
			a.endUser(u.Name)
		},
	})
	a.secrets.AddHandler(client.HandlerFuncs[*api.Secret]{
		AddFunc:    func(s *api.Secret) { a.tables.putSecret(s) },
		UpdateFunc: func(_, s *api.Secret) { a.tables.putSecret(s) },
		DeleteFunc: func(s *api.Secret) {
			if user := a.tables.informerDelete(s.Name); user != "" {
				a.trackers.recheck(a, user)
			}
		},
	})
	roleKick := func() { kick(a.policyKick); kick(a.builtInKick) }
	a.roles.AddHandler(client.HandlerFuncs[*api.Role]{
		AddFunc: func(*api.Role) { roleKick() }, UpdateFunc: func(_, _ *api.Role) { roleKick() }, DeleteFunc: func(*api.Role) { roleKick() },
	})
	a.bindings.AddHandler(client.HandlerFuncs[*api.RoleBinding]{
		AddFunc: func(*api.RoleBinding) { roleKick() }, UpdateFunc: func(_, _ *api.RoleBinding) { roleKick() }, DeleteFunc: func(*api.RoleBinding) { roleKick() },
	})
}

func (a *Accounts) putUser(u *api.User) {
	a.tables.putUser(u)
	a.trackers.recheck(a, u.Name)
}

// endUser schedules the end of a disabled or deleted user's sessions
// (their API tokens are refused while the user is disabled or gone, and
// deleted with a deleted user) and ends its live requests now.
func (a *Accounts) endUser(name string) {
	a.trackers.recheck(a, name)
	a.cleanupMu.Lock()
	a.cleanup[name] = true
	a.cleanupMu.Unlock()
	kick(a.cleanupKick)
}

// Run keeps the state until ctx ends: the informers, the built-in roles
// and binding (put back if changed or deleted), the policy (rebuilt at
// each change of a role or binding), the end of disabled and deleted
// users' sessions, the expiry of live requests, and the removal of
// expired sessions, tokens and invites.
func (a *Accounts) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.users.Run(ctx) })
	g.Go(func() error { return a.roles.Run(ctx) })
	g.Go(func() error { return a.bindings.Run(ctx) })
	g.Go(func() error { return a.secrets.Run(ctx) })
	g.Go(func() error { return a.loop(ctx) })
	return g.Wait()
}

func (a *Accounts) loop(ctx context.Context) error {
	if !a.users.WaitForSync(ctx) || !a.roles.WaitForSync(ctx) || !a.bindings.WaitForSync(ctx) || !a.secrets.WaitForSync(ctx) {
		return nil
	}
	if err := a.ensureBuiltIns(ctx); err != nil {
		a.log.Error("ensure built-in roles", "err", err)
		kick(a.builtInKick) // the loop tries again
	}
	a.rebuildPolicy()
	a.syncOnce.Do(func() { close(a.synced) })
	recheck := time.NewTicker(a.recheckEvery)
	defer recheck.Stop()
	sweep := time.NewTicker(time.Hour)
	defer sweep.Stop()
	a.sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.policyKick:
			a.rebuildPolicy()
		case <-a.builtInKick:
			if err := a.ensureBuiltIns(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("ensure built-in roles", "err", err)
				go func() { // try again a little later
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Second):
						kick(a.builtInKick)
					}
				}()
			}
		case <-a.cleanupKick:
			a.cleanupMu.Lock()
			names := a.cleanup
			a.cleanup = map[string]bool{}
			a.cleanupMu.Unlock()
			for name := range names {
				a.cleanupUser(ctx, name)
			}
		case <-a.useKick:
			a.persistUses(ctx)
		case <-recheck.C:
			a.trackers.recheckAll(a)
		case <-sweep.C:
			a.sweep(ctx)
		}
	}
}

// WaitForSync blocks until the stored state is loaded and the policy
// built from it, or ctx ends.
func (a *Accounts) WaitForSync(ctx context.Context) bool {
	select {
	case <-a.synced:
		return true
	case <-ctx.Done():
		return false
	}
}

// cleanupUser ends the sessions of a disabled or deleted user and, when
// the user is gone, removes its password, invites and API tokens too.
func (a *Accounts) cleanupUser(ctx context.Context, name string) {
	u, ok := a.tables.user(name)
	// Credentials made for another user of this name (deleted, then
	// made again) are no one's.
	stale := func(uid string) bool { return !ok || uid != u.UID }
	var doomed []string
	for _, s := range a.tables.sessionsOf(name) {
		if stale(s.userUID) || u.Spec.Disabled {
			doomed = append(doomed, api.SessionSecretPrefix+s.id)
		}
	}
	for _, t := range a.tables.tokensOf(name) {
		if stale(t.ownerUID) {
			doomed = append(doomed, api.APITokenSecretPrefix+t.id)
		}
	}
	for _, i := range a.tables.invitesOf(name) {
		if stale(i.userUID) {
			doomed = append(doomed, api.InviteSecretPrefix+i.id)
		}
	}
	if p := a.tables.password(name); p.phc != "" && stale(p.userUID) {
		doomed = append(doomed, api.UserPasswordSecretPrefix+name)
	}
	for _, s := range doomed {
		if err := a.deleteSecret(ctx, s); err != nil {
			a.log.Error("end a disabled or deleted user's credentials", "user", name, "secret", s, "err", err)
		}
	}
}

// sweep deletes the Secrets of expired sessions, API tokens and
// invites (they are refused already; this keeps the store tidy).
func (a *Accounts) sweep(ctx context.Context) {
	for _, name := range a.tables.expired(a.now()) {
		if err := a.deleteSecret(ctx, name); err != nil {
			a.log.Warn("delete expired credential", "secret", name, "err", err)
		}
	}
}

func (a *Accounts) secretsAPI() *client.Resource[*api.Secret] {
	return client.For[*api.Secret](a.backend, auth.JoinTokenNamespace)
}

// createSecret stores s and puts it in the tables at once.
func (a *Accounts) createSecret(ctx context.Context, s *api.Secret) (*api.Secret, error) {
	s.Namespace = auth.JoinTokenNamespace
	out, err := a.secretsAPI().Create(ctx, s)
	if err != nil {
		return nil, err
	}
	a.tables.putOwn(out)
	return out, nil
}

// deleteSecret removes a Secret from the tables at once and the store;
// one already gone is no error.
func (a *Accounts) deleteSecret(ctx context.Context, name string) error {
	user := a.tables.drop(name)
	if user != "" {
		a.trackers.recheck(a, user)
	}
	if _, err := a.secretsAPI().Delete(ctx, name, api.DeleteOptions{}); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// ensureBuiltIns creates the built-in roles and binding, and puts back
// any that were changed. Roles and bindings people made are not touched.
func (a *Accounts) ensureBuiltIns(ctx context.Context) error {
	var errs []error
	for _, want := range api.BuiltInRoles() {
		have, ok := a.roles.Get("", want.Name)
		if ok && have.Description == want.Description && slices.EqualFunc(have.Rules, want.Rules, ruleEqual) && have.Labels[api.BuiltInLabel] == "true" {
			continue
		}
		errs = append(errs, putBack(ctx, client.For[*api.Role](a.backend, ""), want, func(have *api.Role) {
			have.Description, have.Rules = want.Description, want.Rules
		}))
	}
	for _, want := range api.BuiltInRoleBindings() {
		have, ok := a.bindings.Get("", want.Name)
		if ok && have.Role == want.Role && slices.Equal(have.Subjects, want.Subjects) && slices.Equal(have.Namespaces, want.Namespaces) && have.Labels[api.BuiltInLabel] == "true" {
			continue
		}
		errs = append(errs, putBack(ctx, client.For[*api.RoleBinding](a.backend, ""), want, func(have *api.RoleBinding) {
			have.Role, have.Subjects, have.Namespaces = want.Role, want.Subjects, want.Namespaces
		}))
	}
	return errors.Join(errs...)
}

// putBack creates want, or sets the stored one's contents with set.
func putBack[T api.Object](ctx context.Context, r *client.Resource[T], want T, set func(T)) error {
	name := want.GetObjectMeta().Name
	return client.RetryOnConflict(ctx, func() error {
		have, err := r.Get(ctx, name)
		if isNotFound(err) {
			_, err = r.Create(ctx, want)
			return err
		}
		if err != nil {
			return err
		}
		set(have)
		m := have.GetObjectMeta()
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels[api.BuiltInLabel] = "true"
		_, err = r.Update(ctx, have)
		return err
	})
}

func ruleEqual(a, b api.PolicyRule) bool {
	return slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.Resources, b.Resources) && slices.Equal(a.ResourceNames, b.ResourceNames)
}

// rebuildPolicy makes the policy from the cached roles and bindings.
func (a *Accounts) rebuildPolicy() {
	a.policy.Store(rbac.New(a.roles.List(), a.bindings.List()))
}

// Grants lists the roles id holds under the current policy, and where
// (for `skiff whoami`).
func (a *Accounts) Grants(id *auth.Identity) []rbac.Grant { return a.policy.Load().Roles(id) }

// Allowed is Authorize without the explanation of a refusal.
func (a *Accounts) Allowed(_ context.Context, id *auth.Identity, at auth.Attributes) bool {
	return a.policy.Load().Allowed(id, at)
}

// Authorize decides with the current policy.
func (a *Accounts) Authorize(_ context.Context, id *auth.Identity, at auth.Attributes) error {
	return a.policy.Load().Authorize(id, at)
}

func parseRV(rv string) uint64 {
	n, _ := strconv.ParseUint(rv, 10, 64)
	return n
}
