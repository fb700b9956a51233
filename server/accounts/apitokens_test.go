package accounts

import (
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

func TestAPITokens(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	e.userWithPassword(t, "root", goodPassword, api.UserSpec{Groups: []string{api.GroupAdmins}})
	tok := e.signIn(t, "alice", goodPassword)
	alice := e.auth(t, tok.Access)
	rt := e.signIn(t, "root", goodPassword)
	root := e.auth(t, rt.Access)

	bad := []struct {
		name  string
		owner *auth.Identity
		req   TokenRequest
		is    func(error) bool
	}{
		{"no name", alice, TokenRequest{Role: api.RoleViewer}, errdefs.IsInvalid},
		{"unknown role", alice, TokenRequest{Name: "x", Role: "wizard"}, errdefs.IsInvalid},
		{"no role", alice, TokenRequest{Name: "x"}, errdefs.IsInvalid},
		{"bad namespace", alice, TokenRequest{Name: "x", Role: api.RoleViewer, Namespaces: []string{"Not_A_NS"}}, errdefs.IsInvalid},
		{"over a year", alice, TokenRequest{Name: "x", Role: api.RoleViewer, TTL: 366 * 24 * time.Hour}, errdefs.IsInvalid},
		{"never expiring, not admin", alice, TokenRequest{Name: "x", Role: api.RoleViewer, TTL: -1}, errdefs.IsInvalid},
		{"the admin token", &auth.Identity{Name: "admin", Groups: []string{api.GroupAdmins}}, TokenRequest{Name: "x", Role: api.RoleViewer}, errdefs.IsForbidden},
	}
	for _, tt := range bad {
		if _, _, err := e.a.CreateAPIToken(e.ctx, tt.owner, tt.req); !tt.is(err) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}

	info, secret, err := e.a.CreateAPIToken(e.ctx, alice, TokenRequest{Name: "ci deploy", Role: api.RoleDeveloper, Namespaces: []string{"team-a", "team-b"}, TTL: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, apiPrefix+info.ID+"_") || info.Owner != "alice" || !info.Expires.Equal(e.clock.Now().Add(48*time.Hour)) {
		t.Errorf("token = %+v, %q", info, secret)
	}
	id, err := e.a.AuthenticateToken(e.ctx, secret)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if id.Name != "alice" || id.Token != info.ID || id.Via != "api-token" || id.Scope == nil ||
		id.Scope.Role != api.RoleDeveloper || strings.Join(id.Scope.Namespaces, ",") != "team-a,team-b" {
		t.Errorf("identity = %+v (scope %+v)", id, id.Scope)
	}
	// An API token cannot make more.
	if _, _, err := e.a.CreateAPIToken(e.ctx, id, TokenRequest{Name: "x", Role: api.RoleViewer}); !errdefs.IsForbidden(err) {
		t.Errorf("token making a token: err = %v, want forbidden", err)
	}
	// Only the hash is stored.
	s, _ := client.For[*api.Secret](e.reg, auth.JoinTokenNamespace).Get(e.ctx, api.APITokenSecretPrefix+info.ID)
	for k, v := range s.Data {
		if strings.Contains(string(v), secret[len(apiPrefix)+idLen+1:]) {
			t.Errorf("key %s holds the secret", k)
		}
	}
	// A changed secret is refused with the same words.
	i := len(secret) - 10
	c := byte('a')
	if secret[i] == 'a' {
		c = 'b'
	}
	mutated := secret[:i] + string(c) + secret[i+1:]
	if _, err := e.a.AuthenticateToken(e.ctx, mutated); err == nil || err.Error() != errBadToken.Error() {
		t.Errorf("mutated token: err = %v, want %q", err, errBadToken)
	}

	forever, fsecret, err := e.a.CreateAPIToken(e.ctx, root, TokenRequest{Name: "backup", Role: api.RoleViewer, TTL: -1})
	if err != nil || !forever.Expires.IsZero() {
		t.Fatalf("admin's never-expiring token = %+v, %v", forever, err)
	}
	def, _, _ := e.a.CreateAPIToken(e.ctx, alice, TokenRequest{Name: "default", Role: api.RoleViewer})
	if !def.Expires.Equal(e.clock.Now().Add(DefaultAPITokenTTL)) {
		t.Errorf("default expiry %v, want 90 days", def.Expires)
	}
	if got := e.a.APITokens(e.ctx, "alice"); len(got) != 2 {
		t.Errorf("alice's tokens = %+v, want 2", got)
	}
	if got := e.a.APITokens(e.ctx, ""); len(got) != 3 {
		t.Errorf("all tokens = %d, want 3", len(got))
	}

	// Expiry.
	e.clock.Advance(49 * time.Hour)
	if _, err := e.a.AuthenticateToken(e.ctx, secret); err == nil || err.Error() != errBadToken.Error() {
		t.Errorf("expired token: err = %v, want %q", err, errBadToken)
	}
	if _, err := e.a.AuthenticateToken(e.ctx, fsecret); err != nil {
		t.Errorf("never-expiring token: %v", err)
	}

	// Revocation: not by someone else, by the owner or an admin.
	if err := e.a.RevokeAPIToken(e.ctx, alice, forever.ID); !errdefs.IsNotFound(err) {
		t.Errorf("alice revoking root's token: err = %v, want not found", err)
	}
	fid := e.auth(t, fsecret)
	live, stop := e.a.Track(e.ctx, fid)
	defer stop()
	if err := e.a.RevokeAPIToken(e.ctx, root, forever.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.AuthenticateToken(e.ctx, fsecret); err == nil {
		t.Error("revoked token accepted")
	}
	if !ended(live) {
		t.Error("revoked token's request goes on")
	}
	if err := e.a.RevokeAPIToken(e.ctx, root, def.ID); err != nil {
		t.Errorf("admin revoking alice's token: %v", err)
	}
}
