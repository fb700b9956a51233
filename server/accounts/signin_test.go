package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/auth/oidc"
	"github.com/skiffhq/skiff/server/client"
)

const goodPassword = "correct horse battery"

func TestSignInPassword(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{Groups: []string{"team-a"}})
	e.userWithPassword(t, "dora", goodPassword, api.UserSpec{Disabled: true})
	e.user(t, "nopass", api.UserSpec{})

	id, err := e.a.SignInPassword(e.ctx, "Alice", goodPassword, "127.0.0.1:1")
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	if id.Name != "alice" || strings.Join(id.Groups, ",") != "team-a,"+GroupAuthenticated {
		t.Errorf("identity = %+v, want alice in team-a and %s", id, GroupAuthenticated)
	}
	u, _ := client.For[*api.User](e.reg, "").Get(e.ctx, "alice")
	if u.Status.LastSignIn == nil {
		t.Error("status.lastSignIn not set")
	}

	tests := []struct{ name, user, password string }{
		{"wrong password", "alice", "wrong password!"},
		{"unknown user", "mallory", goodPassword},
		{"user without password", "nopass", goodPassword},
		{"disabled user", "dora", goodPassword},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.a.SignInPassword(e.ctx, tt.user, tt.password, "127.0.0.1:1")
			if err == nil || err.Error() != errWrongPassword.Error() || !errdefs.IsUnauthorized(err) {
				t.Errorf("err = %v, want %q", err, errWrongPassword)
			}
		})
	}
}

func TestAccountLimiter(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	for i := range accountFailureBurst {
		if _, err := e.a.SignInPassword(e.ctx, "alice", "wrong password!", "10.0.0.1:1"); !errdefs.IsUnauthorized(err) {
			t.Fatalf("failure %d: err = %v, want unauthorized", i, err)
		}
	}
	_, err := e.a.SignInPassword(e.ctx, "alice", goodPassword, "10.0.0.2:1")
	var tm *auth.TooManyError
	var locked *LockedError
	if !errdefs.IsTooManyRequests(err) || !errors.As(err, &tm) || !errors.As(err, &locked) {
		t.Fatalf("locked account: err = %v, want a *LockedError (429)", err)
	}
	if tm.Seconds() < 1 || tm.Seconds() > 60 || !strings.Contains(err.Error(), `user "alice"`) {
		t.Errorf("err = %q, retry after %d s; want the user named and at most a minute", err, tm.Seconds())
	}
	// Other accounts are not locked.
	e.userWithPassword(t, "bob", goodPassword, api.UserSpec{})
	if _, err := e.a.SignInPassword(e.ctx, "bob", goodPassword, "10.0.0.1:1"); err != nil {
		t.Errorf("other account: %v", err)
	}
	e.clock.Advance(61 * time.Second)
	if _, err := e.a.SignInPassword(e.ctx, "alice", goodPassword, "10.0.0.2:1"); err != nil {
		t.Errorf("after a minute: %v", err)
	}
	// A success gives its token back: the account has one left, not none.
	if _, err := e.a.SignInPassword(e.ctx, "alice", "wrong password!", "10.0.0.2:1"); !errdefs.IsUnauthorized(err) {
		t.Errorf("one more failure: err = %v, want unauthorized", err)
	}
}

func TestSetPasswordRules(t *testing.T) {
	e := newEnv(t)
	e.user(t, "alice", api.UserSpec{})
	tests := []struct {
		user, password string
		ok             bool
	}{
		{"alice", "short", false},
		{"alice", "ALICEalice", true},
		{"alice", "Alice12345", true},
		{"alicealice", "alicealice", false},
		{"alice", strings.Repeat("x", 300), false},
		{"nobody", goodPassword, false},
	}
	e.user(t, "alicealice", api.UserSpec{})
	for _, tt := range tests {
		err := e.a.SetPassword(e.ctx, tt.user, tt.password)
		if (err == nil) != tt.ok {
			t.Errorf("SetPassword(%q, %q) = %v, want ok %v", tt.user, tt.password, err, tt.ok)
		}
	}
	s, err := client.For[*api.Secret](e.reg, auth.JoinTokenNamespace).Get(e.ctx, api.UserPasswordSecretPrefix+"alice")
	if err != nil {
		t.Fatal(err)
	}
	h := string(s.Data[keyPassword])
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "Alice12345") {
		t.Errorf("stored hash = %q, want a PHC argon2id string", h)
	}
	if _, err := e.a.SignInPassword(e.ctx, "alice", "Alice12345", ""); err != nil {
		t.Errorf("sign in with the replaced password: %v", err)
	}
}

func TestInvite(t *testing.T) {
	e := newEnv(t)
	e.user(t, "newbie", api.UserSpec{})
	inv, err := e.a.NewInvite(e.ctx, "newbie", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.NewInvite(e.ctx, "ghost", 0); !errdefs.IsNotFound(err) {
		t.Errorf("invite for an unknown user: err = %v, want not found", err)
	}
	if _, err := e.a.AcceptInvite(e.ctx, inv, "short"); !errdefs.IsInvalid(err) {
		t.Fatalf("short password: err = %v, want invalid", err)
	}
	wrong := inv[:len(inv)-1] + "Q" // a valid last digit of 32 bytes
	if inv[len(inv)-1] == 'Q' {
		wrong = inv[:len(inv)-1] + "A"
	}
	if _, err := e.a.AcceptInvite(e.ctx, wrong, goodPassword); err == nil || err.Error() != errBadInvite.Error() {
		t.Errorf("wrong secret: err = %v, want %q", err, errBadInvite)
	}
	user, err := e.a.AcceptInvite(e.ctx, inv, goodPassword)
	if err != nil || user != "newbie" {
		t.Fatalf("accept = %q, %v; want newbie", user, err)
	}
	if _, err := e.a.SignInPassword(e.ctx, "newbie", goodPassword, ""); err != nil {
		t.Errorf("sign in after invite: %v", err)
	}
	if _, err := e.a.AcceptInvite(e.ctx, inv, "another good one"); err == nil || err.Error() != errBadInvite.Error() {
		t.Errorf("second use: err = %v, want %q", err, errBadInvite)
	}
	// Expiry.
	inv2, _ := e.a.NewInvite(e.ctx, "newbie", time.Hour)
	e.clock.Advance(2 * time.Hour)
	if _, err := e.a.AcceptInvite(e.ctx, inv2, "another good one"); err == nil || err.Error() != errBadInvite.Error() {
		t.Errorf("expired: err = %v, want %q", err, errBadInvite)
	}
}

func TestSignInOIDC(t *testing.T) {
	e := newEnv(t)
	const iss = "https://idp.example.com"
	id, err := e.a.SignInOIDC(e.ctx, oidc.Claims{Issuer: iss, Subject: "1234", Username: "Alice.Smith", Email: "alice@example.com", Name: "Alice Smith", Groups: []string{"devs", "ops"}})
	if err != nil {
		t.Fatalf("first sign-in: %v", err)
	}
	want := "oidc:devs,oidc:ops," + GroupAuthenticated
	if id.Name != "alice-smith" || strings.Join(id.Groups, ",") != want {
		t.Errorf("identity = %+v, want alice-smith with %s", id, want)
	}
	u, err := client.For[*api.User](e.reg, "").Get(e.ctx, "alice-smith")
	if err != nil {
		t.Fatalf("user not made: %v", err)
	}
	if u.Spec.Email != "alice@example.com" || u.Spec.DisplayName != "Alice Smith" || len(u.Spec.Identities) != 1 || u.Status.LastSignIn == nil {
		t.Errorf("user = %+v", u)
	}

	// The provider's user name changed: still found by subject.
	id, err = e.a.SignInOIDC(e.ctx, oidc.Claims{Issuer: iss, Subject: "1234", Username: "asmith"})
	if err != nil || id.Name != "alice-smith" {
		t.Errorf("second sign-in = %v, %v; want alice-smith", id, err)
	}
	// A session keeps the provider groups.
	id, _ = e.a.SignInOIDC(e.ctx, oidc.Claims{Issuer: iss, Subject: "1234", Groups: []string{"devs"}})
	tok, err := e.a.NewSession(e.ctx, id, SessionInfo{Via: "oidc"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.a.AuthenticateToken(e.ctx, tok.Access)
	if err != nil || !strings.Contains(strings.Join(got.Groups, ","), "oidc:devs") {
		t.Errorf("session identity = %+v, %v; want oidc:devs kept", got, err)
	}
	// ... for a day only: the groups are read at sign-in.
	if life := tok.SessionExpires.Sub(e.clock.Now()); life > DefaultProviderGroupsTTL {
		t.Errorf("a session with provider groups lasts %s, want at most %s", life, DefaultProviderGroupsTTL)
	}

	// Name collisions are refused, not taken over.
	e.userWithPassword(t, "bob", goodPassword, api.UserSpec{})
	e.user(t, "carol", api.UserSpec{Identities: []api.UserIdentity{{Issuer: "https://other", Subject: "9"}}})
	for _, name := range []string{"bob", "carol"} {
		_, err := e.a.SignInOIDC(e.ctx, oidc.Claims{Issuer: iss, Subject: "evil-" + name, Username: name})
		if !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "spec.identities") {
			t.Errorf("claiming %s: err = %v, want forbidden telling the admin to link it", name, err)
		}
	}
	// A user an admin made beforehand, with no password or identity, is
	// linked by its verified e-mail only — never by the name alone, which
	// a provider's user chooses.
	e.user(t, "dave", api.UserSpec{Groups: []string{"team-d"}, Email: "dave@example.com"})
	for _, c := range []oidc.Claims{
		{Issuer: iss, Subject: "mallory", Username: "dave"},
		{Issuer: iss, Subject: "mallory", Username: "dave", Email: "dave@example.com"},
		{Issuer: iss, Subject: "mallory", Username: "dave", Email: "mallory@example.com", EmailVerified: true},
	} {
		if _, err := e.a.SignInOIDC(e.ctx, c); !errdefs.IsForbidden(err) {
			t.Errorf("claiming dave with %+v: %v, want Forbidden", c, err)
		}
	}
	id, err = e.a.SignInOIDC(e.ctx, oidc.Claims{Issuer: iss, Subject: "dave-sub", Username: "dave", Email: "Dave@example.com", EmailVerified: true})
	if err != nil || id.Name != "dave" || id.Groups[0] != "team-d" {
		t.Errorf("pre-made user = %+v, %v; want dave linked", id, err)
	}
	// Disabled.
	e.update(t, "alice-smith", func(u *api.User) { u.Spec.Disabled = true })
	eventually(t, "disabled user refused", func() bool {
		_, err := e.a.SignInOIDC(e.ctx, oidc.Claims{Issuer: iss, Subject: "1234"})
		return errdefs.IsForbidden(err)
	})
}

func TestUserNameFrom(t *testing.T) {
	tests := []struct {
		c    oidc.Claims
		want string
	}{
		{oidc.Claims{Username: "Alice"}, "alice"},
		{oidc.Claims{Username: "alice.smith@corp"}, "alice-smith-corp"},
		{oidc.Claims{Username: "--x--"}, "x"},
		{oidc.Claims{Username: "ünï"}, "n"},
		{oidc.Claims{Username: "!!!", Email: "Bob.B@example.com", EmailVerified: true}, "bob-b"},
		{oidc.Claims{Username: "!!!", Email: "Bob.B@example.com"}, ""}, // unverified: not a name
		{oidc.Claims{Username: strings.Repeat("a", 70)}, strings.Repeat("a", 63)},
		{oidc.Claims{}, ""},
	}
	for _, tt := range tests {
		if got := userNameFrom(tt.c); got != tt.want {
			t.Errorf("userNameFrom(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestHashingIsBounded(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	for range maxHashing { // every slot taken by a flood
		if err := e.a.hasher.acquire(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := e.a.SignInPassword(ctx, "alice", goodPassword, ""); !errdefs.IsUnavailable(err) {
		t.Errorf("sign-in with no free slot: err = %v, want unavailable", err)
	}
	for range maxHashing {
		e.a.hasher.release()
	}
	// Waiting for a slot is not the account's failure.
	if _, err := e.a.SignInPassword(e.ctx, "alice", goodPassword, ""); err != nil {
		t.Errorf("sign-in with slots free: %v", err)
	}
}

// TestOIDCNameABindingNames: a first sign-in does not get a user name a
// role binding grants to (made for someone not yet signed in, or left by
// a deleted user).
func TestOIDCNameABindingNames(t *testing.T) {
	e := newEnv(t)
	rb := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "eve-admin"}, Role: api.RoleAdmin, Subjects: []api.Subject{{Kind: api.SubjectUser, Name: "eve"}}}
	if _, err := e.reg.Create(e.ctx, "rolebindings", "", rb); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the binding is seen", func() bool { return e.a.bindingNaming("eve") == "eve-admin" })
	_, err := e.a.SignInOIDC(e.ctx, oidc.Claims{Issuer: "https://idp.example.com", Subject: "x", Username: "eve"})
	if !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), `role binding "eve-admin"`) {
		t.Errorf("claiming a name a binding grants to: %v, want Forbidden naming the binding", err)
	}
	if _, err := client.For[*api.User](e.reg, "").Get(e.ctx, "eve"); !errdefs.IsNotFound(err) {
		t.Errorf("the user was made anyway: %v", err)
	}
}
