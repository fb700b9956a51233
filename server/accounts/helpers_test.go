package accounts

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// clock is a settable time for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	a     *Accounts
	reg   *registry.Registry
	clock *clock
	ctx   context.Context
	// adminToken is the static admin token's value.
	adminToken string
}

// newEnv runs Accounts over a real registry and bbolt store in a
// temporary directory.
func newEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	st, err := store.Open(store.Config{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := reg.EnsureNamespaces(ctx); err != nil {
		tb.Fatal(err)
	}
	pki := filepath.Join(dir, "pki")
	token, _, err := auth.EnsureAdminToken(pki)
	if err != nil {
		tb.Fatal(err)
	}
	hash, _ := auth.LoadTokenHash(pki)
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	a, err := New(Config{
		Backend: reg, KeyDir: pki, Now: c.Now,
		AdminToken: auth.NewStaticToken(hash, auth.Identity{Name: "admin", Groups: []string{api.GroupAdmins}, Via: "token"}),
	})
	if err != nil {
		tb.Fatal(err)
	}
	a.recheckEvery = 20 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if !a.WaitForSync(wctx) {
		tb.Fatal("accounts did not sync")
	}
	return &env{a: a, reg: reg, clock: c, ctx: ctx, adminToken: token}
}

// user makes a User.
func (e *env) user(tb testing.TB, name string, spec api.UserSpec) *api.User {
	tb.Helper()
	u, err := client.For[*api.User](e.reg, "").Create(e.ctx, &api.User{ObjectMeta: api.ObjectMeta{Name: name}, Spec: spec})
	if err != nil {
		tb.Fatalf("create user %s: %v", name, err)
	}
	return u
}

// userWithPassword makes a User with a password.
func (e *env) userWithPassword(tb testing.TB, name, password string, spec api.UserSpec) {
	tb.Helper()
	e.user(tb, name, spec)
	if err := e.a.SetPassword(e.ctx, name, password); err != nil {
		tb.Fatalf("set password: %v", err)
	}
}

// update changes a User.
func (e *env) update(tb testing.TB, name string, change func(u *api.User)) {
	tb.Helper()
	users := client.For[*api.User](e.reg, "")
	err := client.RetryOnConflict(e.ctx, func() error {
		u, err := users.Get(e.ctx, name)
		if err != nil {
			return err
		}
		change(u)
		_, err = users.Update(e.ctx, u)
		return err
	})
	if err != nil {
		tb.Fatalf("update user %s: %v", name, err)
	}
}

// signIn starts a session for a user with a password.
func (e *env) signIn(tb testing.TB, name, password string) Tokens {
	tb.Helper()
	id, err := e.a.SignInPassword(e.ctx, name, password, "127.0.0.1:4000")
	if err != nil {
		tb.Fatalf("sign in %s: %v", name, err)
	}
	tok, err := e.a.NewSession(e.ctx, id, SessionInfo{Via: "password", Address: "127.0.0.1", UserAgent: "test"})
	if err != nil {
		tb.Fatalf("new session: %v", err)
	}
	return tok
}

// eventually waits for cond, failing after a few seconds.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ended(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// pkceChallenge is the S256 code challenge of verifier.
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64.EncodeToString(sum[:])
}

// auth authenticates token, failing the test if it does not: a nil
// identity would make later checks pass for the wrong reason.
func (e *env) auth(tb testing.TB, token string) *auth.Identity {
	tb.Helper()
	id, err := e.a.AuthenticateToken(e.ctx, token)
	if err != nil {
		tb.Fatalf("authenticate: %v", err)
	}
	return id
}
