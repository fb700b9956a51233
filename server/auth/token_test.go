package auth

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestAdminToken(t *testing.T) {
	dir := t.TempDir()
	token, created, err := EnsureAdminToken(dir)
	if err != nil || !created || !strings.HasPrefix(token, "skiff_") || len(token) < 40 {
		t.Fatalf("first call: %q %v %v", token, created, err)
	}
	stored, _ := os.ReadFile(filepath.Join(dir, "admin-token.sha256"))
	if strings.Contains(string(stored), token) {
		t.Error("the plain token is stored")
	}
	again, created, err := EnsureAdminToken(dir)
	if err != nil || created || again != "" {
		t.Errorf("second call: %q %v %v; want no token, not created", again, created, err)
	}
	hash, err := LoadTokenHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := NewStaticToken(hash, Identity{Name: "admin", Groups: []string{"g"}})
	ctx := context.Background()
	id, err := a.AuthenticateToken(ctx, token)
	if err != nil || id.Name != "admin" {
		t.Errorf("right token: %v %v", id, err)
	}
	var msgs []string
	for _, bad := range []string{"", "skiff_x", token + "x", strings.ToUpper(token)} {
		_, err := a.AuthenticateToken(ctx, bad)
		if !errdefs.IsUnauthorized(err) {
			t.Errorf("token %q: %v, want unauthorized", bad, err)
			continue
		}
		msgs = append(msgs, err.Error())
	}
	for _, m := range msgs {
		if m != msgs[0] {
			t.Errorf("failures answer differently (%q vs %q): a guesser learns from it", m, msgs[0])
		}
	}
	os.WriteFile(filepath.Join(dir, "admin-token.sha256"), []byte("zz"), 0o600)
	if _, err := LoadTokenHash(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt hash file: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"", "", false},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		got, ok := BearerToken(r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %q %v, want %q %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
	ctx := WithIdentity(context.Background(), &Identity{Name: "x"})
	if id, ok := IdentityFrom(ctx); !ok || id.Name != "x" {
		t.Error("identity not carried by the context")
	}
	if _, ok := IdentityFrom(context.Background()); ok {
		t.Error("identity found in an empty context")
	}
}
