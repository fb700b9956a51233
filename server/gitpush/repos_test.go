package gitpush

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestValidateApp(t *testing.T) {
	for _, tc := range []struct {
		app string
		ok  bool
	}{
		{"web", true},
		{"my-app-2", true},
		{"0a", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"Web", false},
		{"-web", false},
		{"web-", false},
		{"a.b", false},
		{"a_b", false},
		{"../etc", false},
		{"a/b", false},
	} {
		err := ValidateApp(tc.app)
		if got := err == nil; got != tc.ok {
			t.Errorf("ValidateApp(%q) = %v, want ok %v", tc.app, err, tc.ok)
		}
		if err != nil && !errdefs.IsInvalid(err) {
			t.Errorf("ValidateApp(%q) error %v is not of class ErrInvalid", tc.app, err)
		}
	}
}

func gitConfig(t *testing.T, dir, key string) string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", dir, "config", "--get", key).Output()
	if err != nil {
		t.Fatalf("git config --get %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}

func TestReposEnsure(t *testing.T) {
	ctx := context.Background()
	r := &Repos{Root: filepath.Join(t.TempDir(), "git"), HookCommand: []string{"/usr/bin/skiff", "git-hook"}}
	if ok, err := r.Exists("web"); ok || err != nil {
		t.Fatalf("Exists before Ensure = %v, %v; want false, nil", ok, err)
	}
	dir, err := r.Ensure(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(r.Root, "web.git"); dir != want {
		t.Errorf("Ensure path = %q, want %q", dir, want)
	}
	if ok, err := r.Exists("web"); !ok || err != nil {
		t.Errorf("Exists after Ensure = %v, %v; want true, nil", ok, err)
	}
	for key, want := range map[string]string{
		"core.bare":                   "true",
		"receive.denyNonFastForwards": "false",
		"http.receivepack":            "true",
	} {
		if got := gitConfig(t, dir, key); got != want {
			t.Errorf("config %s = %q, want %q", key, got, want)
		}
	}
	head, _ := os.ReadFile(filepath.Join(dir, "HEAD"))
	if got := strings.TrimSpace(string(head)); got != "ref: refs/heads/main" {
		t.Errorf("HEAD = %q, want ref: refs/heads/main", got)
	}
	hook := filepath.Join(dir, "hooks", "pre-receive")
	b, err := os.ReadFile(hook)
	if err != nil {
		t.Fatal(err)
	}
	if want := "exec '/usr/bin/skiff' 'git-hook' pre-receive\n"; !strings.HasSuffix(string(b), want) {
		t.Errorf("pre-receive hook = %q, want it to end %q", b, want)
	}
	if fi, _ := os.Stat(hook); fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("pre-receive hook mode %v is not executable", fi.Mode())
	}

	// Idempotent, and a new hook command is written.
	r.HookCommand = []string{"/opt/it's here/skiff", "git-hook"}
	if _, err := r.Ensure(ctx, "web"); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	b, _ = os.ReadFile(hook)
	if want := `exec '/opt/it'\''s here/skiff' 'git-hook' pre-receive`; !strings.Contains(string(b), want) {
		t.Errorf("rewritten hook = %q, want it to contain %q", b, want)
	}
	if out, err := exec.Command("sh", "-n", hook).CombinedOutput(); err != nil {
		t.Errorf("hook is not valid sh: %v %s", err, out)
	}

	// Stale quarantines go, fresh ones stay.
	stale := filepath.Join(dir, "objects", "tmp_objdir-incoming-old")
	fresh := filepath.Join(dir, "objects", "tmp_objdir-incoming-new")
	os.MkdirAll(stale, 0o755)
	os.MkdirAll(fresh, 0o755)
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(stale, old, old)
	if _, err := r.Ensure(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale quarantine still there (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh quarantine removed: %v", err)
	}

	if err := r.Remove("web"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.Exists("web"); ok {
		t.Errorf("Exists after Remove = true")
	}
	if _, err := r.Ensure(ctx, "Not_Valid"); !errdefs.IsInvalid(err) {
		t.Errorf("Ensure of a bad name: %v, want ErrInvalid", err)
	}
	if _, err := (&Repos{Root: r.Root}).Ensure(ctx, "web"); err == nil || !strings.Contains(err.Error(), "HookCommand") {
		t.Errorf("Ensure without HookCommand: %v, want an error naming HookCommand", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{
		Repos:        &Repos{Root: "/x", HookCommand: []string{"skiff", "git-hook"}},
		Authenticate: func(_ *http.Request, _, _ string) (Identity, error) { return Identity{}, nil },
		Authorize:    func(context.Context, Identity, string, bool) error { return nil },
		Receive:      func(context.Context, Push, io.Writer) error { return nil },
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" when valid
	}{
		{"complete", func(*Config) {}, ""},
		{"no repos", func(c *Config) { c.Repos = nil }, "Repos"},
		{"no hook command", func(c *Config) { c.Repos = &Repos{Root: "/x"} }, "Repos.HookCommand"},
		{"no authenticate", func(c *Config) { c.Authenticate = nil }, "Authenticate"},
		{"no authorize", func(c *Config) { c.Authorize = nil }, "Authorize"},
		{"no receive", func(c *Config) { c.Receive = nil }, "Receive"},
		{"bad branch", func(c *Config) { c.DeployBranches = []string{"main", "a b"} }, `"a b" is not a branch name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
