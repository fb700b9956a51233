package auth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
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

	js := NewJoinTokens(tok.Secret, nil)
	g, err := js.AuthenticateJoin(context.Background(), tok.Secret)
	if err != nil || g.TokenID != DefaultJoinTokenID || g.Node != "" {
		t.Fatalf("join secret: %+v %v", g, err)
	}
	if _, err := js.AuthenticateJoin(context.Background(), s); err == nil {
		t.Error("the whole token was accepted as the secret")
	}
	if _, err := js.AuthenticateJoin(context.Background(), "nope"); err != errBadToken {
		t.Errorf("a wrong secret: %v, want the one bad-token answer", err)
	}
	n := &Identity{Name: "system:node:pi", Groups: []string{GroupNodes}}
	if n.NodeName() != "pi" {
		t.Errorf("NodeName %q", n.NodeName())
	}
}

// TestStoredJoinTokens: a token made by NewJoinTokenSecret is accepted
// with its secret until it expires, says which node it may rejoin as,
// and a wrong secret, an unknown id or a revoked token all get the one
// bad-token answer.
func TestStoredJoinTokens(t *testing.T) {
	now := time.Now()
	stored := map[string]*api.Secret{}
	get := func(_ context.Context, name string) (*api.Secret, error) {
		if s, ok := stored[name]; ok {
			return s, nil
		}
		return nil, errdefs.ErrNotFound
	}
	js := NewJoinTokens("the-default-secret-0123", get)
	sec, secret, err := NewJoinTokenSecret(time.Hour, "pi-1", "reinstall pi-1", now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprint(sec.Data), strings.SplitN(secret, ".", 2)[1]) {
		t.Fatal("the stored Secret holds the secret itself")
	}
	if _, err := ParseJoinToken(JoinToken{CAHash: strings.Repeat("ab", 32), Secret: secret}.String()); err != nil {
		t.Fatalf("the printed token does not parse: %v", err)
	}
	stored[sec.Name] = sec
	g, err := js.AuthenticateJoin(context.Background(), secret)
	if err != nil || g.Node != "pi-1" || g.TokenID != string(sec.Data[api.JoinTokenIDKey]) {
		t.Fatalf("stored token: %+v, %v", g, err)
	}
	id, _, _ := strings.Cut(secret, ".")
	for _, bad := range []string{id + ".wrong", "zzzzzz.whatever-secret", id, "", "not-a-token"} {
		if _, err := js.AuthenticateJoin(context.Background(), bad); err != errBadToken {
			t.Errorf("%q: %v, want the one bad-token answer", bad, err)
		}
	}
	js.now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, err := js.AuthenticateJoin(context.Background(), secret); !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired token: %v, want Unauthorized saying it expired", err)
	}
	delete(stored, sec.Name)
	if _, err := js.AuthenticateJoin(context.Background(), secret); err != errBadToken {
		t.Errorf("a revoked token: %v", err)
	}
}
