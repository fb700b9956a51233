package apiserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

func testSSHKey(t *testing.T, comment string) (ssh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + comment
}

// TestSSHKeyRoutes adds, lists and removes SSH keys through the routes:
// each person manages their own; an admin lists and removes anyone's;
// the key then signs its user in (for git over SSH).
func TestSSHKeyRoutes(t *testing.T) {
	s := startAccountsServer(t, nil)
	dev := s.addUser(t, "dev", api.RoleDeveloper, "team-a")
	val := s.addUser(t, "val", api.RoleViewer)
	root := s.addUser(t, "root", api.RoleAdmin)
	ct := []string{"Content-Type", "application/json"}
	body := func(name, key string) string {
		b, _ := json.Marshal(client.SSHKeyRequest{Name: name, PublicKey: key})
		return string(b)
	}

	key, line := testSSHKey(t, "dev@laptop")
	a := s.as(t, dev, "POST", "/auth/v1/sshkeys", body("", line), ct...)
	var k client.SSHKey
	if a.code != http.StatusCreated || json.Unmarshal(a.body, &k) != nil {
		t.Fatalf("add: %d %s", a.code, a.body)
	}
	if k.User != "dev" || k.Name != "dev@laptop" || k.Fingerprint != ssh.FingerprintSHA256(key) || k.Type != "ssh-ed25519" || k.ID == "" {
		t.Errorf("added key = %+v", k)
	}
	gid, err := s.srv.sshAuthenticate(context.Background(), key)
	if aid, ok := gid.Server.(*auth.Identity); err != nil || gid.Name != "dev" || !ok || aid.Via != "ssh-key" || aid.Scope != nil {
		t.Errorf("the added key signs in as %+v, %v; want dev with the server's identity", gid, err)
	}
	if _, err := (&Server{}).GitSSH("127.0.0.1:0", filepath.Join(t.TempDir(), "host_key")); err == nil || !strings.Contains(err.Error(), "apps are not enabled") {
		t.Errorf("GitSSH without apps: %v, want refused", err)
	}
	if ssh, err := s.srv.GitSSH("127.0.0.1:0", filepath.Join(t.TempDir(), "host_key")); err != nil {
		t.Errorf("GitSSH with apps: %v", err)
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ssh.Run(ctx)
	}

	for _, tc := range []struct {
		name, tok, body string
		code            int
		msg             string
	}{
		{"the same key by another", val, body("mine", line), http.StatusConflict, "this key is already registered"},
		{"garbage", dev, body("x", "hello"), http.StatusUnprocessableEntity, "not an SSH public key"},
		{"unknown field", dev, `{"key":"x"}`, http.StatusBadRequest, "unknown field"},
	} {
		a := s.as(t, tc.tok, "POST", "/auth/v1/sshkeys", tc.body, ct...)
		if a.code != tc.code || !strings.Contains(string(a.body), tc.msg) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, a.code, a.body, tc.code, tc.msg)
		}
	}

	list := func(tok, query string) ([]client.SSHKey, answer) {
		t.Helper()
		a := s.as(t, tok, "GET", "/auth/v1/sshkeys"+query, "")
		var l struct{ Items []client.SSHKey }
		if a.code == http.StatusOK {
			if err := json.Unmarshal(a.body, &l); err != nil {
				t.Fatalf("list: %v: %s", err, a.body)
			}
		}
		return l.Items, a
	}
	if ks, a := list(dev, ""); a.code != http.StatusOK || len(ks) != 1 || ks[0].ID != k.ID {
		t.Errorf("dev's list: %d %+v", a.code, ks)
	}
	if ks, a := list(val, ""); a.code != http.StatusOK || len(ks) != 0 {
		t.Errorf("val's list: %d %+v, want none", a.code, ks)
	}
	if _, a := list(val, "?user=dev"); a.code != http.StatusForbidden {
		t.Errorf("val listing dev's: %d %s, want 403", a.code, a.body)
	}
	if ks, a := list(root, "?user=dev"); a.code != http.StatusOK || len(ks) != 1 {
		t.Errorf("an admin listing dev's: %d %+v", a.code, ks)
	}
	if a := s.nodeAsk(t, "n1", "GET", "/auth/v1/sshkeys?user=dev", ""); a.code != http.StatusForbidden {
		t.Errorf("a node listing dev's: %d %s, want 403", a.code, a.body)
	}

	// Removal: not by another (404: whether it exists is not theirs to
	// know), by the owner; an admin removes anyone's.
	if a := s.as(t, val, "DELETE", "/auth/v1/sshkeys/"+k.ID, ""); a.code != http.StatusNotFound {
		t.Errorf("val removing dev's key: %d %s, want 404", a.code, a.body)
	}
	if a := s.as(t, dev, "DELETE", "/auth/v1/sshkeys/"+k.ID, ""); a.code != http.StatusNoContent {
		t.Fatalf("dev removing their key: %d %s", a.code, a.body)
	}
	if _, err := s.accts.AuthenticateSSHKey(context.Background(), key); err == nil {
		t.Error("a removed key still signs in")
	}
	_, other := testSSHKey(t, "")
	a = s.as(t, val, "POST", "/auth/v1/sshkeys", body("desk", other), ct...)
	if a.code != http.StatusCreated || json.Unmarshal(a.body, &k) != nil {
		t.Fatalf("val adds a key: %d %s", a.code, a.body)
	}
	if a := s.as(t, root, "DELETE", "/auth/v1/sshkeys/"+k.ID, ""); a.code != http.StatusNoContent {
		t.Errorf("an admin removing val's key: %d %s", a.code, a.body)
	}
	if ks, _ := list(val, ""); len(ks) != 0 {
		t.Errorf("val's keys after an admin removed them: %+v", ks)
	}
	if a := s.as(t, dev, "DELETE", "/auth/v1/sshkeys/"+fmt.Sprint(strings.Repeat("0", 32)), ""); a.code != http.StatusNotFound {
		t.Errorf("removing a key that is not there: %d %s, want 404", a.code, a.body)
	}
}
