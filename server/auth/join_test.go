package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJoinToken(t *testing.T) {
	dir := t.TempDir()
	hash := strings.Repeat("0a", 32)
	tok, err := EnsureJoinToken(dir, hash)
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if !strings.HasPrefix(s, "SK10"+hash+"::") {
		t.Fatalf("token %q", s)
	}
	if fi, err := os.Stat(filepath.Join(dir, NodeTokenFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	again, err := EnsureJoinToken(dir, hash)
	if err != nil || again != tok {
		t.Fatalf("second start: %v %v, want the same token", again, err)
	}
	moved, err := EnsureJoinToken(dir, strings.Repeat("0b", 32))
	if err != nil || moved.Secret != tok.Secret || moved.CAHash == tok.CAHash {
		t.Fatalf("new CA: %v %v, want the same secret with the new hash", moved, err)
	}
	parsed, err := ParseJoinToken(" " + s + "\n")
	if err != nil || parsed != tok {
		t.Fatalf("parse: %v %v", parsed, err)
	}
	for in, want := range map[string]string{
		"K10" + hash + "::" + tok.Secret:       "must start with",
		"SK10" + hash + tok.Secret:             `no "::"`,
		"SK10" + hash[:10] + "::" + tok.Secret: "64 hex digits",
		"SK10" + hash + "::short":              "too short",
	} {
		_, err := ParseJoinToken(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseJoinToken(%q) = %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), tok.Secret) {
			t.Errorf("the error for %q echoes the secret", in)
		}
	}

	js := NewJoinSecret(tok.Secret)
	id, err := js.AuthenticateToken(context.Background(), tok.Secret)
	if err != nil || !id.InGroup(GroupBootstrappers) || id.NodeName() != "" {
		t.Fatalf("join secret: %v %v", id, err)
	}
	if _, err := js.AuthenticateToken(context.Background(), s); err == nil {
		t.Error("the whole token was accepted as the secret")
	}
	if _, err := js.AuthenticateToken(context.Background(), "nope"); err != errBadToken {
		t.Errorf("a wrong secret: %v, want the one bad-token answer", err)
	}
	n := &Identity{Name: "system:node:pi", Groups: []string{GroupNodes}}
	if n.NodeName() != "pi" {
		t.Errorf("NodeName %q", n.NodeName())
	}
}
