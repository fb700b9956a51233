package gitpush

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
)

// Identity is who is pushing or fetching, as Config.Authenticate found it.
// It is kept minimal so that this package does not depend on server/auth;
// the server adapts its own identity to and from it.
type Identity struct {
	// Name is the person's or robot's user name.
	Name string
	// Server is what the server's Authenticate found, handed back to its
	// Authorize, CreateApp and Receive untouched (skiff puts its
	// *auth.Identity here, groups and token scope included).
	Server any
}

// ZeroID is the object name git uses for "no object": the Old of a ref
// being created and the New of a ref being deleted.
const ZeroID = "0000000000000000000000000000000000000000"

// RefUpdate is one line of what a pre-receive hook reads: a ref moving from
// Old to New.
type RefUpdate struct {
	Old, New string
	// Ref is the full ref name, e.g. refs/heads/main.
	Ref string
}

// Branch returns the branch name of a refs/heads/ ref, or "" for any other
// ref (a tag, a note).
func (u RefUpdate) Branch() string {
	b, ok := strings.CutPrefix(u.Ref, "refs/heads/")
	if !ok {
		return ""
	}
	return b
}

// IsCreate reports whether the update creates the ref.
func (u RefUpdate) IsCreate() bool { return isZero(u.Old) }

// IsDelete reports whether the update deletes the ref.
func (u RefUpdate) IsDelete() bool { return isZero(u.New) }

func isZero(id string) bool { return strings.Trim(id, "0") == "" }

var objectID = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// parseRefUpdates reads the "old new ref" lines git gives a pre-receive
// hook on its stdin.
func parseRefUpdates(r io.Reader) ([]RefUpdate, error) {
	var ups []RefUpdate
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || !objectID.MatchString(f[0]) || !objectID.MatchString(f[1]) || !strings.HasPrefix(f[2], "refs/") {
			return nil, fmt.Errorf("ref update line %d %q: want \"<old-id> <new-id> refs/...\"", n, line)
		}
		ups = append(ups, RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ref updates: %w", err)
	}
	return ups, nil
}

// Push is a push to an app's deploy branch, handed to Config.Receive while
// git waits with the new objects received but the refs not yet moved.
type Push struct {
	// App is the app pushed to.
	App string
	// Pusher is who pushed.
	Pusher Identity
	// Update is the deploy branch's update: Update.New is the commit to
	// build and release.
	Update RefUpdate
	// Updates is every ref update of the push, Update included.
	Updates []RefUpdate
	// Repo is the bare repository's directory.
	Repo string
	// Env is the environment git needs to read the pushed objects, which
	// until the hook succeeds live in a quarantine directory: GIT_DIR and
	// the quarantine's GIT_OBJECT_DIRECTORY and
	// GIT_ALTERNATE_OBJECT_DIRECTORIES. Command sets it.
	Env []string

	git string
}

// Command returns a git command that runs in the pushed repository with the
// pushed objects visible, e.g. p.Command(ctx, "archive", p.Update.New) to
// read the tree to build.
func (p Push) Command(ctx context.Context, args ...string) *exec.Cmd {
	git := p.git
	if git == "" {
		git = "git"
	}
	cmd := exec.CommandContext(ctx, git, args...)
	cmd.Dir = p.Repo
	cmd.Env = append(baseEnv(), p.Env...)
	return cmd
}
