package gitpush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Repos is the set of bare app repositories under one root directory,
// <data-dir>/git, one <app>.git per app. Its methods are safe for concurrent
// use: they only run git and write whole files.
type Repos struct {
	// Root is the directory holding the repositories; Ensure creates it.
	Root string
	// HookCommand is the program, with its leading arguments, that each
	// repository's pre-receive hook runs, e.g. {"/usr/bin/skiff", "git-hook"}.
	// It must end up calling RunHook. Required.
	HookCommand []string
	// Git is the git binary; "git" (found on PATH) when empty.
	Git string
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// ValidateApp reports whether app can name an app repository: a DNS label
// (lowercase letters, digits and '-', at most 63 characters, starting and
// ending with a letter or digit), the same rule as an App's name.
func ValidateApp(app string) error {
	if !dnsLabel.MatchString(app) {
		return fmt.Errorf("app name %q: must be a DNS label (lowercase letters, digits and '-', 1-63 characters, starting and ending with a letter or digit): %w", app, errdefs.ErrInvalid)
	}
	return nil
}

// Path returns the repository directory of app, <Root>/<app>.git, whether
// it exists or not. app must be valid (see ValidateApp).
func (r *Repos) Path(app string) string {
	return filepath.Join(r.Root, app+".git")
}

// Exists reports whether app has a repository.
func (r *Repos) Exists(app string) (bool, error) {
	if err := ValidateApp(app); err != nil {
		return false, err
	}
	_, err := os.Stat(filepath.Join(r.Path(app), "HEAD"))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("app %q repository: %w", app, err)
	}
}

// Ensure makes app's bare repository if it does not exist and (re)writes
// its configuration and pre-receive hook, so that a changed HookCommand
// takes effect on the next push. It returns the repository's path.
//
// The repository allows what Heroku and Dokku allow: force pushes
// (receive.denyNonFastForwards false) and pushes over HTTP
// (http.receivepack true); the initial branch is main.
func (r *Repos) Ensure(ctx context.Context, app string) (string, error) {
	if err := ValidateApp(app); err != nil {
		return "", err
	}
	if len(r.HookCommand) == 0 {
		return "", fmt.Errorf("repos: HookCommand is empty; set it to the command that runs gitpush.RunHook, e.g. skiff git-hook")
	}
	dir := r.Path(app)
	ok, err := r.Exists(app)
	if err != nil {
		return "", err
	}
	if !ok {
		if err := os.MkdirAll(r.Root, 0o700); err != nil {
			return "", fmt.Errorf("make git root %s: %w", r.Root, err)
		}
		// Initialise in a temporary directory and rename, so that a
		// half-made repository never looks like one.
		tmp, err := os.MkdirTemp(r.Root, "."+app+".init-")
		if err != nil {
			return "", fmt.Errorf("app %q repository: %w", app, err)
		}
		defer os.RemoveAll(tmp)
		if _, err := r.git(ctx, "", "init", "--quiet", "--bare", "--initial-branch=main", tmp); err != nil {
			return "", fmt.Errorf("app %q repository: %w", app, err)
		}
		if err := r.configure(ctx, tmp); err != nil {
			return "", fmt.Errorf("app %q repository: %w", app, err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if ok, _ := r.Exists(app); !ok { // lost a race with another Ensure: fine
				return "", fmt.Errorf("app %q repository: %w", app, err)
			}
		}
	}
	if err := r.configure(ctx, dir); err != nil {
		return "", fmt.Errorf("app %q repository: %w", app, err)
	}
	removeStaleQuarantines(dir, time.Now().Add(-staleQuarantine))
	return dir, nil
}

// staleQuarantine is the age after which a push's quarantine directory is
// garbage: no push takes a day.
const staleQuarantine = 24 * time.Hour

// removeStaleQuarantines removes the quarantine directories of pushes that
// died without cleaning up (git receive-pack killed), older than before.
func removeStaleQuarantines(repo string, before time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(repo, "objects", "tmp_objdir-incoming-*"))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.ModTime().Before(before) {
			os.RemoveAll(d)
		}
	}
}

// Remove deletes app's repository, if it has one.
func (r *Repos) Remove(app string) error {
	if err := ValidateApp(app); err != nil {
		return err
	}
	if err := os.RemoveAll(r.Path(app)); err != nil {
		return fmt.Errorf("remove app %q repository: %w", app, err)
	}
	return nil
}

func (r *Repos) configure(ctx context.Context, dir string) error {
	for _, kv := range [][2]string{
		{"receive.denyNonFastForwards", "false"},
		{"http.receivepack", "true"},
		{"core.logAllRefUpdates", "true"}, // a reflog, to find a force-pushed-over commit
	} {
		if _, err := r.git(ctx, dir, "config", kv[0], kv[1]); err != nil {
			return err
		}
	}
	hook := hookScript(r.HookCommand)
	path := filepath.Join(dir, "hooks", "pre-receive")
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, hook) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, hook, 0o755); err != nil {
		return fmt.Errorf("write pre-receive hook: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write pre-receive hook: %w", err)
	}
	return nil
}

// hookScript is the pre-receive hook: it execs the hook command, which
// reads the ref updates on stdin and talks to the Handler.
func hookScript(cmd []string) []byte {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Written by skiff: hands the push to the skiff server. Rewritten on every push.\nexec")
	for _, a := range cmd {
		b.WriteString(" '" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	b.WriteString(" pre-receive\n")
	return []byte(b.String())
}

func (r *Repos) gitBin() string {
	if r.Git != "" {
		return r.Git
	}
	return "git"
}

// git runs git with a clean configuration (no system or user config).
func (r *Repos) git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.gitBin(), args...)
	cmd.Dir = dir
	cmd.Env = baseEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// baseEnv is the environment every git skiff runs starts from: PATH, and
// no system or user configuration.
func baseEnv() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{"PATH=" + path, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent", "LC_ALL=C"}
}
