package accounts

import (
	"crypto/dsa"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// newSSHKey makes an ed25519 key and returns it with its authorized_keys
// line.
func newSSHKey(tb testing.TB, comment string) (ssh.PublicKey, string) {
	tb.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return authorizedLine(tb, pub, comment)
}

func authorizedLine(tb testing.TB, pub any, comment string) (ssh.PublicKey, string) {
	tb.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return k, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + comment
}

func TestParseSSHKey(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed := newSSHKey(t, "ada@laptop")
	_, small := authorizedLine(t, &rsa1024.PublicKey, "old")
	_, good := authorizedLine(t, &rsa2048.PublicKey, "ok")
	_, ecLine := authorizedLine(t, &ec.PublicKey, "ec")
	var dp dsa.PrivateKey
	dsa.GenerateParameters(&dp.Parameters, rand.Reader, dsa.L1024N160)
	dsa.GenerateKey(&dp, rand.Reader)
	dk, err := ssh.NewPublicKey(&dp.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dsaLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(dk)))

	for _, tc := range []struct {
		name, line string
		want       string // "" accepted, else part of the error
		comment    string
	}{
		{"ed25519", ed, "", "ada@laptop"},
		{"ed25519 with options", `no-pty,command="x" ` + ed, "", "ada@laptop"},
		{"rsa 2048", good, "", "ok"},
		{"ecdsa", ecLine, "", "ec"},
		{"empty", "  \n", "give the contents of your public key", ""},
		{"garbage", "hello world", "not an SSH public key", ""},
		{"bad base64", "ssh-ed25519 AAAA!!!! x", "not an SSH public key", ""},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "this is a private key", ""},
		{"two keys", ed + "\n" + good, "more than one key", ""},
		{"rsa 1024", small, "at least 2048 bits", ""},
		{"dsa", dsaLine, "DSA keys are too weak", ""},
	} {
		_, comment, err := ParseSSHKey(tc.line)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case tc.want == "" && comment != tc.comment:
			t.Errorf("%s: comment %q, want %q", tc.name, comment, tc.comment)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errdefs.IsInvalid(err)):
			t.Errorf("%s: err = %v, want invalid saying %q", tc.name, err, tc.want)
		}
	}
}

func TestSSHKeys(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "alice", goodPassword, api.UserSpec{Groups: []string{"team-a"}})
	e.userWithPassword(t, "bob", goodPassword, api.UserSpec{})
	e.userWithPassword(t, "root", goodPassword, api.UserSpec{Groups: []string{api.GroupAdmins}})
	alice := e.auth(t, e.signIn(t, "alice", goodPassword).Access)
	bob := e.auth(t, e.signIn(t, "bob", goodPassword).Access)
	root := e.auth(t, e.signIn(t, "root", goodPassword).Access)

	key, line := newSSHKey(t, "alice@laptop")
	k, err := e.a.AddSSHKey(e.ctx, alice, "", line)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "alice@laptop" || k.User != "alice" || k.Type != ssh.KeyAlgoED25519 || k.Fingerprint != ssh.FingerprintSHA256(key) || len(k.ID) != 32 || !k.Created.Equal(e.clock.Now()) {
		t.Errorf("added key = %+v", k)
	}
	if strings.Contains(k.PublicKey, "alice@laptop") || !strings.HasPrefix(k.PublicKey, "ssh-ed25519 AAAA") {
		t.Errorf("stored key %q: want the key alone", k.PublicKey)
	}
	s, err := client.For[*api.Secret](e.reg, auth.JoinTokenNamespace).Get(e.ctx, SSHKeySecretPrefix+k.ID)
	if err != nil || s.Type != SecretTypeSSHKey || string(s.Data[keyUser]) != "alice" {
		t.Errorf("stored Secret = %+v, %v", s, err)
	}

	id, err := e.a.AuthenticateSSHKey(e.ctx, key)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if id.Name != "alice" || id.Via != "ssh-key" || id.Scope != nil || id.Token != "" || !id.InGroup("team-a") || !id.InGroup(GroupAuthenticated) {
		t.Errorf("identity = %+v", id)
	}

	// The same key again, by anyone, is refused; so are bad requests.
	for _, tc := range []struct {
		name  string
		by    *auth.Identity
		key   string
		keyNm string
		is    func(error) bool
		msg   string
	}{
		{"again", alice, line, "again", errdefs.IsAlreadyExists, "this key is already registered"},
		{"by another", bob, line, "mine", errdefs.IsAlreadyExists, "this key is already registered"},
		{"garbage", alice, "ssh-rsa nonsense", "x", errdefs.IsInvalid, "not an SSH public key"},
		{"no name", alice, strings.Fields(line)[0] + " " + strings.Fields(line)[1], "", errdefs.IsInvalid, "give the key a name"},
		{"an API token", &auth.Identity{Name: "alice", Token: "abc", Scope: &auth.Scope{Role: api.RoleViewer}}, newLine(t), "ci", errdefs.IsForbidden, "an API token cannot"},
		{"the admin token", &auth.Identity{Name: "admin", Groups: []string{api.GroupAdmins}, Via: "token"}, newLine(t), "x", errdefs.IsForbidden, "not an enabled user"},
		{"nobody", nil, newLine(t), "x", errdefs.IsUnauthorized, ""},
	} {
		_, err := e.a.AddSSHKey(e.ctx, tc.by, tc.keyNm, tc.key)
		if !tc.is(err) || !strings.Contains(fmt.Sprint(err), tc.msg) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.msg)
		}
	}

	// An unknown key is refused.
	other, _ := newSSHKey(t, "")
	if _, err := e.a.AuthenticateSSHKey(e.ctx, other); !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "skiff keys add") {
		t.Errorf("unknown key: err = %v, want unauthorized with a hint", err)
	}

	// Lists: own, everyone's.
	bobKey, bobLine := newSSHKey(t, "bob@desk")
	bk, err := e.a.AddSSHKey(e.ctx, bob, "desk", bobLine)
	if err != nil {
		t.Fatal(err)
	}
	if got := keyIDs(t, e, "alice"); got != k.ID {
		t.Errorf("alice's keys = %s, want %s", got, k.ID)
	}
	if got := keyIDs(t, e, ""); !strings.Contains(got, k.ID) || !strings.Contains(got, bk.ID) {
		t.Errorf("everyone's keys = %s", got)
	}

	// A disabled user's keys are refused, and work again once enabled.
	e.update(t, "alice", func(u *api.User) { u.Spec.Disabled = true })
	eventually(t, "alice's key to be refused", func() bool {
		_, err := e.a.AuthenticateSSHKey(e.ctx, key)
		return errdefs.IsUnauthorized(err)
	})
	e.update(t, "alice", func(u *api.User) { u.Spec.Disabled = false })
	eventually(t, "alice's key to work again", func() bool {
		_, err := e.a.AuthenticateSSHKey(e.ctx, key)
		return err == nil
	})

	// Removal: not by another user, by the owner (by fingerprint too) or
	// an admin; the key is refused at once.
	if err := e.a.RemoveSSHKey(e.ctx, bob, k.ID); !errdefs.IsNotFound(err) {
		t.Errorf("bob removing alice's key: err = %v, want not found", err)
	}
	if err := e.a.RemoveSSHKey(e.ctx, alice, k.Fingerprint); err != nil {
		t.Fatalf("remove by fingerprint: %v", err)
	}
	if _, err := e.a.AuthenticateSSHKey(e.ctx, key); !errdefs.IsUnauthorized(err) {
		t.Errorf("removed key: err = %v, want unauthorized", err)
	}
	if err := e.a.RemoveSSHKey(e.ctx, alice, k.ID); !errdefs.IsNotFound(err) {
		t.Errorf("removing twice: err = %v, want not found", err)
	}
	if err := e.a.RemoveSSHKey(e.ctx, root, bk.ID); err != nil {
		t.Errorf("admin removing bob's key: %v", err)
	}
	if _, err := e.a.AuthenticateSSHKey(e.ctx, bobKey); !errdefs.IsUnauthorized(err) {
		t.Errorf("key removed by an admin: err = %v, want unauthorized", err)
	}
	// Once removed, it may be registered again (by someone else, even).
	if _, err := e.a.AddSSHKey(e.ctx, bob, "now mine", line); err != nil {
		t.Errorf("re-adding a removed key: %v", err)
	}
}

func newLine(tb testing.TB) string {
	_, l := newSSHKey(tb, "c")
	return l
}

func keyIDs(tb testing.TB, e *env, user string) string {
	tb.Helper()
	ks, err := e.a.ListSSHKeys(e.ctx, user)
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return strings.Join(ids, ",")
}

// TestSSHKeyOfDeletedUser checks that a user deleted and made again does
// not inherit the old one's keys, and that the key can be registered anew.
func TestSSHKeyOfDeletedUser(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "carol", goodPassword, api.UserSpec{})
	carol := e.auth(t, e.signIn(t, "carol", goodPassword).Access)
	key, line := newSSHKey(t, "carol@pc")
	if _, err := e.a.AddSSHKey(e.ctx, carol, "", line); err != nil {
		t.Fatal(err)
	}
	users := client.For[*api.User](e.reg, "")
	if _, err := users.Delete(e.ctx, "carol", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "carol to be gone", func() bool { _, ok := e.a.tables.user("carol"); return !ok })
	e.userWithPassword(t, "carol", goodPassword, api.UserSpec{})
	eventually(t, "the new carol", func() bool { u, ok := e.a.tables.user("carol"); return ok && u.DeletionTimestamp == nil })
	if _, err := e.a.AuthenticateSSHKey(e.ctx, key); !errdefs.IsUnauthorized(err) {
		t.Errorf("the old carol's key: err = %v, want unauthorized", err)
	}
	carol = e.auth(t, e.signIn(t, "carol", goodPassword).Access)
	if _, err := e.a.AddSSHKey(e.ctx, carol, "", line); err != nil {
		t.Errorf("the new carol adding the key: %v", err)
	}
	if id, err := e.a.AuthenticateSSHKey(e.ctx, key); err != nil || id.Name != "carol" {
		t.Errorf("the new carol's key: %+v, %v", id, err)
	}
}

// TestSSHKeyLimit checks MaxSSHKeysPerUser.
func TestSSHKeyLimit(t *testing.T) {
	e := newEnv(t)
	e.userWithPassword(t, "dan", goodPassword, api.UserSpec{})
	dan := e.auth(t, e.signIn(t, "dan", goodPassword).Access)
	for i := range MaxSSHKeysPerUser {
		if _, err := e.a.AddSSHKey(e.ctx, dan, fmt.Sprintf("k%d", i), newLine(t)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if _, err := e.a.AddSSHKey(e.ctx, dan, "one too many", newLine(t)); !errdefs.IsForbidden(err) || !strings.Contains(err.Error(), "skiff keys remove") {
		t.Errorf("key %d: err = %v, want forbidden with a hint", MaxSSHKeysPerUser+1, err)
	}
}

// BenchmarkAuthenticateSSHKey measures one SSH sign-in's lookup.
func BenchmarkAuthenticateSSHKey(b *testing.B) {
	e := newEnv(b)
	e.userWithPassword(b, "erin", goodPassword, api.UserSpec{})
	erin := e.auth(b, e.signIn(b, "erin", goodPassword).Access)
	key, line := newSSHKey(b, "erin@pc")
	if _, err := e.a.AddSSHKey(e.ctx, erin, "", line); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.a.AuthenticateSSHKey(e.ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}
