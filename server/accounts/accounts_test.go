package accounts

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

func TestConfigValidate(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"ok", Config{Backend: e.reg, KeyDir: t.TempDir()}, ""},
		{"no backend", Config{KeyDir: "x"}, "no backend"},
		{"no key dir", Config{Backend: e.reg}, "no key directory"},
		{"negative", Config{Backend: e.reg, KeyDir: "x", AccessTTL: -time.Second}, "negative"},
		{"access outlives session", Config{Backend: e.reg, KeyDir: "x", AccessTTL: time.Hour, SessionTTL: time.Minute}, "outlive"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestSweepDeletesExpired(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{})
	tok := e.signIn(t, "alice", goodPassword)
	id := e.auth(t, tok.Access)
	short, _, err := e.a.CreateAPIToken(e.ctx, id, TokenRequest{Name: "short", Role: api.RoleViewer, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	long, _, _ := e.a.CreateAPIToken(e.ctx, id, TokenRequest{Name: "long", Role: api.RoleViewer, TTL: 30 * 24 * time.Hour})
	inv, _ := e.a.NewInvite(e.ctx, "alice", time.Hour)
	e.clock.Advance(SessionIdleTTL + time.Second)
	e.a.sweep(e.ctx)
	secrets := client.For[*api.Secret](e.reg, auth.JoinTokenNamespace)
	for _, gone := range []string{api.SessionSecretPrefix + tok.SessionID, api.APITokenSecretPrefix + short.ID, api.InviteSecretPrefix + inv[:idLen]} {
		if _, err := secrets.Get(e.ctx, gone); err == nil {
			t.Errorf("expired %s not deleted", gone)
		}
	}
	for _, kept := range []string{api.APITokenSecretPrefix + long.ID, api.UserPasswordSecretPrefix + "alice"} {
		if _, err := secrets.Get(e.ctx, kept); err != nil {
			t.Errorf("%s: %v, want kept", kept, err)
		}
	}
}

// An admin token is skiff_<random>, which may begin like an access or
// API token.
func TestAdminTokenLookingLikeOthers(t *testing.T) {
	e := newEnv(t)
	for _, tok := range []string{accessPrefix + "abc.def", apiPrefix + "abcdefghij012345_" + strings.Repeat("A", secretLen)} {
		sum := sha256.Sum256([]byte(tok))
		a, err := New(Config{Backend: e.reg, KeyDir: t.TempDir(),
			AdminToken: auth.NewStaticToken(hex.EncodeToString(sum[:]), auth.Identity{Name: "admin", Via: "token"})})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := a.AuthenticateToken(e.ctx, tok); err != nil || id.Name != "admin" {
			t.Errorf("admin token %q = %v, %v", tok, id, err)
		}
		if _, err := a.AuthenticateToken(e.ctx, tok+"x"); err == nil || err.Error() != errBadToken.Error() {
			t.Errorf("wrong token: err = %v, want %q", err, errBadToken)
		}
	}
}

func TestGrants(t *testing.T) {
	e := newEnv(t)
	b := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "devs"}, Role: api.RoleDeveloper,
		Subjects: []api.Subject{{Kind: api.SubjectGroup, Name: "oidc:devs"}}, Namespaces: []string{"team-a"}}
	if _, err := client.For[*api.RoleBinding](e.reg, "").Create(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	id := &auth.Identity{Name: "alice", Groups: []string{"oidc:devs", GroupAuthenticated}}
	eventually(t, "grant", func() bool {
		g := e.a.Grants(id)
		return len(g) == 1 && g[0].Role == api.RoleDeveloper && g[0].Binding == "devs"
	})
}
