package accounts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

func TestSessionTokens(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{Groups: []string{"team-a"}})
	tok := e.signIn(t, "alice", goodPassword)
	if !strings.HasPrefix(tok.Access, accessPrefix) || tok.SessionID == "" || !strings.HasPrefix(tok.Refresh, tok.SessionID+".") {
		t.Fatalf("tokens = %+v", tok)
	}
	if want := e.clock.Now().Add(DefaultAccessTTL); !tok.AccessExpires.Equal(want) {
		t.Errorf("access expires %v, want %v", tok.AccessExpires, want)
	}
	id, err := e.a.AuthenticateToken(e.ctx, tok.Access)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if id.Name != "alice" || id.Session != tok.SessionID || id.Via != "session" || id.Groups[0] != "team-a" {
		t.Errorf("identity = %+v", id)
	}
	id, err = e.a.AuthenticateSession(e.ctx, tok.Refresh)
	if err != nil || id.Via != "cookie" || id.Session != tok.SessionID {
		t.Errorf("cookie identity = %+v, %v", id, err)
	}
	// The refresh credential is a session credential, not a bearer token.
	if _, err := e.a.AuthenticateToken(e.ctx, tok.Refresh); err == nil {
		t.Error("refresh credential accepted as a bearer token")
	}
	// The admin token still works.
	if id, err := e.a.AuthenticateToken(e.ctx, e.adminToken); err != nil || id.Name != "admin" {
		t.Errorf("admin token = %+v, %v", id, err)
	}

	// The secret is stored hashed only.
	s, err := client.For[*api.Secret](e.reg, auth.JoinTokenNamespace).Get(e.ctx, api.SessionSecretPrefix+tok.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s.Data {
		if strings.Contains(string(v), tok.Refresh[len(tok.SessionID)+1:]) {
			t.Errorf("session secret key %s holds the plain secret", k)
		}
	}

	// The access token expires; a refresh gives a new one.
	e.clock.Advance(DefaultAccessTTL + time.Second)
	if _, err := e.a.AuthenticateToken(e.ctx, tok.Access); err == nil || err.Error() != errBadToken.Error() {
		t.Errorf("expired access token: err = %v, want %q", err, errBadToken)
	}
	tok2, err := e.a.Refresh(e.ctx, tok.Refresh)
	if err != nil || tok2.Refresh != tok.Refresh || tok2.Access == tok.Access {
		t.Fatalf("refresh = %+v, %v", tok2, err)
	}
	if _, err := e.a.AuthenticateToken(e.ctx, tok2.Access); err != nil {
		t.Errorf("refreshed access token: %v", err)
	}

	// Idle expiry: a refresh a day later bumps last use, a week of
	// silence ends the session.
	e.clock.Advance(24 * time.Hour)
	if _, err := e.a.Refresh(e.ctx, tok.Refresh); err != nil {
		t.Fatalf("refresh a day later: %v", err)
	}
	if got := e.a.Sessions(e.ctx, "alice"); len(got) != 1 || !got[0].LastUsed.Equal(e.clock.Now()) || got[0].UserAgent != "test" {
		t.Errorf("sessions = %+v, want one used now", got)
	}
	// A browser's cookie keeps it alive too, and the use is stored.
	e.clock.Advance(3 * time.Hour)
	if _, err := e.a.AuthenticateSession(e.ctx, tok.Refresh); err != nil {
		t.Fatal(err)
	}
	eventually(t, "last use stored", func() bool {
		s, err := client.For[*api.Secret](e.reg, auth.JoinTokenNamespace).Get(e.ctx, api.SessionSecretPrefix+tok.SessionID)
		return err == nil && parseTime(s.Data[keyLastUsed]).Equal(e.clock.Now())
	})
	e.clock.Advance(SessionIdleTTL + time.Second)
	if _, err := e.a.Refresh(e.ctx, tok.Refresh); err == nil {
		t.Error("refresh after a week idle accepted")
	}
	if got := e.a.Sessions(e.ctx, "alice"); len(got) != 0 {
		t.Errorf("sessions after idle expiry = %+v, want none", got)
	}
}

func TestSessionAbsoluteExpiry(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	tok := e.signIn(t, "alice", goodPassword)
	for range 4 { // refresh every 6 days: never idle
		e.clock.Advance(6 * 24 * time.Hour)
		if _, err := e.a.Refresh(e.ctx, tok.Refresh); err != nil {
			t.Fatalf("refresh at %v: %v", e.clock.Now(), err)
		}
	}
	e.clock.Advance(6*24*time.Hour + time.Second) // 30 days and a second
	if _, err := e.a.Refresh(e.ctx, tok.Refresh); err == nil {
		t.Error("refresh after 30 days accepted; sessions last 30")
	}
}

func TestRevokeSession(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	e.userWithPassword(t, "bob", goodPassword, api.UserSpec{})
	tok := e.signIn(t, "alice", goodPassword)
	other := e.signIn(t, "alice", goodPassword)
	id, err := e.a.AuthenticateToken(e.ctx, tok.Access)
	if err != nil {
		t.Fatal(err)
	}
	live, stop := e.a.Track(e.ctx, id)
	defer stop()

	bob := &auth.Identity{Name: "bob", Groups: []string{GroupAuthenticated}}
	if err := e.a.RevokeSession(e.ctx, bob, tok.SessionID); !errdefs.IsNotFound(err) {
		t.Errorf("bob revoking alice's session: err = %v, want not found", err)
	}
	if err := e.a.RevokeSession(e.ctx, id, tok.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.AuthenticateToken(e.ctx, tok.Access); err == nil || err.Error() != errBadToken.Error() {
		t.Errorf("revoked session's access token: err = %v, want %q", err, errBadToken)
	}
	if _, err := e.a.AuthenticateSession(e.ctx, tok.Refresh); err == nil {
		t.Error("revoked session's cookie accepted")
	}
	if !ended(live) || !errors.Is(context.Cause(live), ErrCredentialEnded) {
		t.Errorf("tracked request not ended at once (cause %v)", context.Cause(live))
	}
	// The revocation holds once the informer has heard of it too.
	eventually(t, "session secret gone", func() bool {
		_, err := client.For[*api.Secret](e.reg, auth.JoinTokenNamespace).Get(e.ctx, api.SessionSecretPrefix+tok.SessionID)
		return errdefs.IsNotFound(err)
	})
	time.Sleep(50 * time.Millisecond)
	if _, err := e.a.AuthenticateToken(e.ctx, tok.Access); err == nil {
		t.Error("revoked session came back")
	}
	if _, err := e.a.AuthenticateToken(e.ctx, other.Access); err != nil {
		t.Errorf("the other session: %v", err)
	}
	// An admin revokes anyone's; log out everywhere ends the rest.
	admin := &auth.Identity{Name: "admin", Groups: []string{api.GroupAdmins}}
	third := e.signIn(t, "alice", goodPassword)
	if err := e.a.RevokeSession(e.ctx, admin, third.SessionID); err != nil {
		t.Errorf("admin revoke: %v", err)
	}
	if n, err := e.a.RevokeSessions(e.ctx, "alice"); err != nil || n != 1 {
		t.Errorf("RevokeSessions = %d, %v; want 1", n, err)
	}
	if _, err := e.a.AuthenticateToken(e.ctx, other.Access); err == nil {
		t.Error("session survived log out everywhere")
	}
}

func TestDisableUser(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	e.userWithPassword(t, "bob", goodPassword, api.UserSpec{})
	tok := e.signIn(t, "alice", goodPassword)
	bobTok := e.signIn(t, "bob", goodPassword)
	sid := e.auth(t, tok.Access)
	_, pat, err := e.a.CreateAPIToken(e.ctx, sid, TokenRequest{Name: "ci", Role: api.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := e.a.AuthenticateToken(e.ctx, pat)
	if err != nil {
		t.Fatal(err)
	}
	bid := e.auth(t, bobTok.Access)
	sctx, stop1 := e.a.Track(e.ctx, sid)
	defer stop1()
	pctx, stop2 := e.a.Track(e.ctx, pid)
	defer stop2()
	bctx, stop3 := e.a.Track(e.ctx, bid)
	defer stop3()

	e.update(t, "alice", func(u *api.User) { u.Spec.Disabled = true })
	eventually(t, "tracked requests ended", func() bool { return ended(sctx) && ended(pctx) })
	for name, tk := range map[string]string{"access": tok.Access, "api": pat} {
		if _, err := e.a.AuthenticateToken(e.ctx, tk); err == nil || err.Error() != errBadToken.Error() {
			t.Errorf("%s token of a disabled user: err = %v, want %q", name, err, errBadToken)
		}
	}
	if _, err := e.a.Refresh(e.ctx, tok.Refresh); err == nil {
		t.Error("refresh of a disabled user accepted")
	}
	eventually(t, "sessions deleted", func() bool { return len(e.a.Sessions(e.ctx, "alice")) == 0 })
	if ended(bctx) {
		t.Error("bob's request ended too")
	}
	if _, err := e.a.SignInPassword(e.ctx, "alice", goodPassword, ""); err == nil || err.Error() != errWrongPassword.Error() {
		t.Errorf("disabled sign-in: err = %v, want %q", err, errWrongPassword)
	}
	// Enabled again: the API token works again (sessions are gone).
	e.update(t, "alice", func(u *api.User) { u.Spec.Disabled = false })
	eventually(t, "API token good again", func() bool { _, err := e.a.AuthenticateToken(e.ctx, pat); return err == nil })
	if _, err := e.a.AuthenticateToken(e.ctx, tok.Access); err == nil {
		t.Error("session came back after re-enabling")
	}

	// Deleted, then made again under the same name: the old credentials
	// are someone else's, and are cleaned up.
	if _, err := client.For[*api.User](e.reg, "").Delete(e.ctx, "alice", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "API token refused", func() bool { _, err := e.a.AuthenticateToken(e.ctx, pat); return err != nil })
	e.user(t, "alice", api.UserSpec{})
	eventually(t, "credentials cleaned up", func() bool {
		return len(e.a.APITokens(e.ctx, "alice")) == 0 && !e.a.tables.hasPassword("alice")
	})
	if _, err := e.a.AuthenticateToken(e.ctx, pat); err == nil {
		t.Error("a deleted user's API token works for the new user of that name")
	}
	if _, err := e.a.SignInPassword(e.ctx, "alice", goodPassword, ""); err == nil {
		t.Error("a deleted user's password works for the new user of that name")
	}
}

func TestTrackExpiry(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	tok := e.signIn(t, "alice", goodPassword)
	id := e.auth(t, tok.Access)
	ctx, stop := e.a.Track(e.ctx, id)
	defer stop()
	// An expired access token does not end a watch; the session's end does.
	e.clock.Advance(time.Hour)
	time.Sleep(60 * time.Millisecond)
	if ended(ctx) {
		t.Fatal("request ended with its access token")
	}
	e.clock.Advance(SessionIdleTTL)
	eventually(t, "request ended with its session", func() bool { return ended(ctx) })

	// The admin token is not tracked; stop ends the context.
	admin := e.auth(t, e.adminToken)
	actx, astop := e.a.Track(e.ctx, admin)
	if ended(actx) {
		t.Error("admin request ended")
	}
	astop()
	if !ended(actx) {
		t.Error("stop did not end the context")
	}
}

func TestCodes(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	id, err := e.a.SignInPassword(e.ctx, "alice", goodPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	verifier := strings.Repeat("v", 50)
	challenge := pkceChallenge(verifier)
	const redirect = "http://127.0.0.1:38421/callback"
	info := SessionInfo{Via: "cli", UserAgent: "skiff login"}

	for _, bad := range []string{"https://127.0.0.1:1/cb", "http://example.com:80/cb", "http://127.0.0.1/cb", "http://10.0.0.1:80/"} {
		if _, err := e.a.IssueCode(id, info, challenge, bad); !errdefs.IsInvalid(err) {
			t.Errorf("redirect %q: err = %v, want invalid", bad, err)
		}
	}
	if _, err := e.a.IssueCode(id, info, "plain", redirect); !errdefs.IsInvalid(err) {
		t.Errorf("plain challenge: err = %v, want invalid", err)
	}
	for _, ok := range []string{"http://localhost:1234/", "http://[::1]:9/x"} {
		if _, err := e.a.IssueCode(id, info, challenge, ok); err != nil {
			t.Errorf("redirect %q: %v", ok, err)
		}
	}

	code, err := e.a.IssueCode(id, info, challenge, redirect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.ExchangeCode(e.ctx, code, verifier, "http://127.0.0.1:1/other"); !errdefs.IsUnauthorized(err) {
		t.Errorf("other redirect: err = %v, want unauthorized", err)
	}
	// That spent it.
	if _, err := e.a.ExchangeCode(e.ctx, code, verifier, redirect); !errdefs.IsUnauthorized(err) {
		t.Errorf("spent code: err = %v, want unauthorized", err)
	}
	code, _ = e.a.IssueCode(id, info, challenge, redirect)
	if _, err := e.a.ExchangeCode(e.ctx, code, strings.Repeat("w", 50), redirect); !errdefs.IsUnauthorized(err) {
		t.Errorf("wrong verifier: err = %v, want unauthorized", err)
	}
	code, _ = e.a.IssueCode(id, info, challenge, redirect)
	tok, err := e.a.ExchangeCode(e.ctx, code, verifier, redirect)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if got, err := e.a.AuthenticateToken(e.ctx, tok.Access); err != nil || got.Name != "alice" {
		t.Errorf("session from code = %+v, %v", got, err)
	}
	if s := e.a.Sessions(e.ctx, "alice"); len(s) != 1 || s[0].Via != "cli" {
		t.Errorf("sessions = %+v, want one via cli", s)
	}
	if _, err := e.a.ExchangeCode(e.ctx, code, verifier, redirect); !errdefs.IsUnauthorized(err) {
		t.Errorf("second exchange: err = %v, want unauthorized", err)
	}
	code, _ = e.a.IssueCode(id, info, challenge, redirect)
	e.clock.Advance(codeTTL + time.Second)
	if _, err := e.a.ExchangeCode(e.ctx, code, verifier, redirect); !errdefs.IsUnauthorized(err) {
		t.Errorf("expired code: err = %v, want unauthorized", err)
	}
}

func TestSigningKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := ensureSigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SigningKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("key file = %v, %v; want 32 bytes, 0600", fi, err)
	}
	k2, err := ensureSigningKey(dir)
	if err != nil || string(k1) != string(k2) {
		t.Errorf("second load gave another key (%v)", err)
	}
	os.WriteFile(filepath.Join(dir, SigningKeyFile), []byte("short"), 0o600)
	if _, err := ensureSigningKey(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("short key: err = %v, want corrupt", err)
	}
}

func TestSessionsPerUserBounded(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	id, err := e.a.SignInPassword(e.ctx, "alice", goodPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	var first Tokens
	for i := range MaxSessionsPerUser + 1 {
		tok, err := e.a.NewSession(e.ctx, id, SessionInfo{Via: "password"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok
		}
		e.clock.Advance(time.Second)
	}
	if n := len(e.a.Sessions(e.ctx, "alice")); n != MaxSessionsPerUser {
		t.Errorf("%d sessions, want %d", n, MaxSessionsPerUser)
	}
	if _, err := e.a.AuthenticateSession(e.ctx, first.Refresh); err == nil {
		t.Error("the oldest session survived")
	}
}
