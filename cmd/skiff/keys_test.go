package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/skiffhq/skiff/server/client"
)

// keysServer is a stand-in for the /auth/v1/sshkeys routes (the real
// ones are tested in server/apiserver), recording what it was sent.
type keysServer struct {
	srv    *httptest.Server
	config string

	mu      sync.Mutex
	added   []client.SSHKeyRequest
	removed []string
	queries []string
}

func newKeysServer(t *testing.T) *keysServer {
	ks := &keysServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/v1/sshkeys", func(w http.ResponseWriter, r *http.Request) {
		var req client.SSHKeyRequest
		json.NewDecoder(r.Body).Decode(&req)
		ks.mu.Lock()
		ks.added = append(ks.added, req)
		ks.mu.Unlock()
		k, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(req.PublicKey))
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(client.SSHKey{ID: "0123abcd", Name: req.Name, User: "ada", Fingerprint: ssh.FingerprintSHA256(k)})
	})
	mux.HandleFunc("GET /auth/v1/sshkeys", func(w http.ResponseWriter, r *http.Request) {
		ks.mu.Lock()
		ks.queries = append(ks.queries, r.URL.RawQuery)
		ks.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"items": []client.SSHKey{
			{ID: "0123abcd", Name: "laptop\x1b[2J", User: "ada", Type: "ssh-ed25519", Fingerprint: "SHA256:abc", Created: time.Now().Add(-2 * time.Hour)},
		}})
	})
	mux.HandleFunc("DELETE /auth/v1/sshkeys/{id}", func(w http.ResponseWriter, r *http.Request) {
		ks.mu.Lock()
		ks.removed = append(ks.removed, r.PathValue("id"))
		ks.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	ks.srv = httptest.NewTLSServer(mux)
	t.Cleanup(ks.srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ks.srv.Certificate().Raw})
	ks.config = filepath.Join(t.TempDir(), "config.yaml")
	if err := client.WriteConfig(ks.config, client.Config{Server: ks.srv.URL, CA: string(ca), Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	return ks
}

func (ks *keysServer) skiff(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand(strings.NewReader(stdin), &out, &errOut)
	cmd.SetArgs(append(append([]string{"keys"}, args...), "--config", ks.config))
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func writeTestPub(t *testing.T, path, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ssh.NewPublicKey(pub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + comment
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return line
}

func TestKeysAdd(t *testing.T) {
	ks := newKeysServer(t)
	home := t.TempDir()
	t.Setenv("HOME", home)

	// No key at all: the error says how to make one.
	if _, _, err := ks.skiff(t, "", "add"); err == nil || !strings.Contains(err.Error(), "ssh-keygen -t ed25519") {
		t.Errorf("add without a key: %v, want a hint to make one", err)
	}
	// The default files, in order: id_rsa.pub when there is no ed25519 key.
	rsaLine := writeTestPub(t, filepath.Join(home, ".ssh", "id_rsa.pub"), " ada@old")
	out, errOut, err := ks.skiff(t, "", "add")
	if err != nil || !strings.Contains(out, "SSH key 0123abcd") || !strings.Contains(errOut, "git push ssh://127.0.0.1:2222/APP.git") {
		t.Fatalf("add (id_rsa.pub): %v\n%s%s", err, out, errOut)
	}
	edLine := writeTestPub(t, filepath.Join(home, ".ssh", "id_ed25519.pub"), " ada@laptop")
	if _, _, err := ks.skiff(t, "", "add"); err != nil {
		t.Fatal(err)
	}
	other := writeTestPub(t, filepath.Join(t.TempDir(), "k.pub"), "")
	if _, _, err := ks.skiff(t, other+"\n", "add", "-", "--name", "ci runner"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "named.pub")
	named := writeTestPub(t, file, "")
	if _, _, err := ks.skiff(t, "", "add", file); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := []client.SSHKeyRequest{
		{PublicKey: rsaLine}, {PublicKey: edLine}, // the comment names them, on the server
		{Name: "ci runner", PublicKey: other},
		{Name: host, PublicKey: named}, // no comment: the machine's name
	}
	ks.mu.Lock()
	got := ks.added
	ks.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("sent %d keys, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("key %d sent as %+v, want %+v", i, got[i], want[i])
		}
	}

	// A private key is not sent.
	priv := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	if _, _, err := ks.skiff(t, "", "add", priv); err == nil || !strings.Contains(err.Error(), "is a private key") {
		t.Errorf("add of a private key: %v, want refused", err)
	}
	if _, _, err := ks.skiff(t, "", "add", filepath.Join(home, "nope.pub")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("add of a missing file: %v", err)
	}
}

func TestKeysListAndRemove(t *testing.T) {
	ks := newKeysServer(t)
	out, _, err := ks.skiff(t, "", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "0123abcd") || !strings.Contains(out, "SHA256:abc") || !strings.Contains(out, "2h") {
		t.Errorf("list table:\n%s", out)
	}
	if strings.Contains(out, "\x1b") {
		t.Error("a control character in a key's name reached the terminal")
	}
	if out, _, err := ks.skiff(t, "", "list", "--user", "bob", "-o", "json"); err != nil || !strings.Contains(out, `"fingerprint": "SHA256:abc"`) {
		t.Errorf("list -o json: %v\n%s", err, out)
	}
	if _, _, err := ks.skiff(t, "", "list", "-o", "wide"); err == nil || !strings.Contains(err.Error(), "want json or yaml") {
		t.Errorf("list -o wide: %v", err)
	}
	if out, _, err := ks.skiff(t, "", "remove", "0123abcd"); err != nil || !strings.Contains(out, "SSH key 0123abcd removed") {
		t.Errorf("remove: %v\n%s", err, out)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if strings.Join(ks.queries, ",") != ",user=bob" || strings.Join(ks.removed, ",") != "0123abcd" {
		t.Errorf("server saw queries %q, removals %q", ks.queries, ks.removed)
	}
}
