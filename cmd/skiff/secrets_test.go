package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
	"github.com/skiffhq/skiff/server/store/encrypt"
)

// secretsDataDir is a data directory as a server leaves it: a key file and
// a state.db holding n Secrets.
func secretsDataDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	st, _, err := encrypt.Open(filepath.Join(dir, "pki", encrypt.KeyFile), store.Config{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, _ := registry.New(registry.Config{Store: st})
	ctx := context.Background()
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		s := &api.Secret{ObjectMeta: api.ObjectMeta{GenerateName: "s-"}, StringData: map[string]string{"password": "cli-secret-value"}}
		if _, err := reg.Create(ctx, "secrets", "default", s); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runSecretsKey(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(strings.NewReader(""), &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String() + errOut.String(), err
}

// keyLine matches a status row: the key's name, active or not, its
// creation time and how many Secrets it seals.
var keyLine = regexp.MustCompile(`(?m)^(key-[0-9a-f-]+)\s+(yes\s+)?\S+\s+(\d+)$`)

func TestSecretsKeyStatusAndRotate(t *testing.T) {
	dir := secretsDataDir(t, 3)
	out, err := runSecretsKey(t, "server", "secrets-key", "status", "--data-dir", dir)
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	rows := keyLine.FindAllStringSubmatch(out, -1)
	if len(rows) != 1 || rows[0][2] == "" || rows[0][3] != "3" {
		t.Fatalf("status: want one active key sealing 3 secrets, got\n%s", out)
	}
	first := rows[0][1]

	out, err = runSecretsKey(t, "server", "secrets-key", "rotate", "--data-dir", dir)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	rows = keyLine.FindAllStringSubmatch(out, -1)
	if len(rows) != 1 || rows[0][1] == first || rows[0][3] != "3" || !strings.Contains(out, "now encrypted with key "+rows[0][1]) {
		t.Fatalf("rotate: want one new key sealing 3 secrets, got\n%s", out)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "state.db"))
	if bytes.Contains(raw, []byte(first)) || bytes.Count(raw, []byte("skiff:enc:aesgcm:v1:"+rows[0][1]+":")) != 3 {
		t.Errorf("state.db after rotate does not hold exactly 3 values sealed with %s and none with %s", rows[0][1], first)
	}
	if bytes.Contains(raw, []byte("cli-secret-value")) {
		t.Error("state.db holds a secret value in plain text")
	}

	out, err = runSecretsKey(t, "server", "secrets-key", "reencrypt", "--data-dir", dir)
	if err != nil || len(keyLine.FindAllStringSubmatch(out, -1)) != 1 {
		t.Errorf("reencrypt: %v\n%s", err, out)
	}
}

func TestSecretsKeyBadInput(t *testing.T) {
	dir := secretsDataDir(t, 1)
	keyFile := filepath.Join(dir, "pki", encrypt.KeyFile)
	keys, _ := os.ReadFile(keyFile)

	// The server holds the store.
	st, _, err := encrypt.Open(keyFile, store.Config{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"status", "rotate", "reencrypt"} {
		if out, err := runSecretsKey(t, "server", "secrets-key", verb, "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "locked by another process") {
			t.Errorf("%s while a server runs: %v\n%s", verb, err, out)
		}
	}
	st.Close()
	if after, _ := os.ReadFile(keyFile); !bytes.Equal(after, keys) {
		t.Error("a refused verb changed the key file")
	}

	os.WriteFile(keyFile, []byte("{not json"), 0o600)
	if _, err := runSecretsKey(t, "server", "secrets-key", "rotate", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Errorf("rotate with a corrupt key file: %v", err)
	}
	os.Remove(keyFile)
	if _, err := runSecretsKey(t, "server", "secrets-key", "status", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("status without a key file: %v", err)
	}
	if _, err := runSecretsKey(t, "server", "secrets-key", "status", "--data-dir", t.TempDir()); err == nil {
		t.Error("status of an empty data directory succeeded")
	}
}
