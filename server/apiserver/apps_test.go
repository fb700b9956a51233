package apiserver

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/gitpush"
)

// TestClaimRepo: a repository is its app's; one a deleted app of the
// same name left (claimed by another UID, or older than the app) is
// taken away before anyone fetches its history.
func TestClaimRepo(t *testing.T) {
	repos := &gitpush.Repos{Root: t.TempDir(), HookCommand: []string{"false"}}
	s := &Server{apps: &AppsConfig{Repos: repos}, log: slog.New(slog.DiscardHandler)}
	created := time.Now().Add(-time.Minute).Truncate(time.Second)
	app := &api.App{ObjectMeta: api.ObjectMeta{Name: "shop", UID: "uid-new", CreationTimestamp: api.NewTime(created)}}
	mkRepo := func(age time.Duration, owner string) string {
		dir := repos.Path("shop")
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		desc := filepath.Join(dir, "description")
		os.WriteFile(desc, []byte("x"), 0o600)
		when := created.Add(age)
		os.Chtimes(desc, when, when)
		if owner != "" {
			os.WriteFile(filepath.Join(dir, appUIDFile), []byte(owner), 0o600)
		}
		return dir
	}
	gone := func(dir string) bool { _, err := os.Stat(dir); return os.IsNotExist(err) }

	if err := s.claimRepo(app); err != nil {
		t.Fatalf("no repository yet: %v", err)
	}
	dir := mkRepo(time.Second, "")
	if err := s.claimRepo(app); err != nil || gone(dir) {
		t.Fatalf("the app's first push's repository: %v, removed %v", err, gone(dir))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, appUIDFile)); string(b) != "uid-new" {
		t.Errorf("claimed for %q, want uid-new", b)
	}
	if err := s.claimRepo(app); err != nil || gone(dir) {
		t.Fatalf("its own repository again: %v, removed %v", err, gone(dir))
	}
	dir = mkRepo(time.Second, "uid-old")
	if err := s.claimRepo(app); err != nil || !gone(dir) {
		t.Errorf("another app's repository: %v, removed %v", err, gone(dir))
	}
	dir = mkRepo(-time.Hour, "")
	if err := s.claimRepo(app); err != nil || !gone(dir) {
		t.Errorf("an unclaimed repository older than the app: %v, removed %v", err, gone(dir))
	}
}
