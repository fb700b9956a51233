package gitpush

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// sshTest is an SSHServer on loopback in front of a testServer's Handler,
// with a key for each person of testTokens (registered) and one nobody
// registered ("unknown").
type sshTest struct {
	ts   *testServer
	srv  *SSHServer
	keys string // directory of the private keys, by person
	// records are what SSHConfig.Record heard.
	mu      sync.Mutex
	records []SSHRecord
}

func newSSHTest(t *testing.T, ts *testServer) *sshTest {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("the ssh client is not installed (apt-get install openssh-client)")
	}
	st := &sshTest{ts: ts, keys: t.TempDir()}
	registered := map[string]string{} // fingerprint → person
	for _, who := range []string{"dev", "deployer", "viewer", "stranger", "unknown"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, who)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(st.keys, who), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if who != "unknown" {
			k, _ := ssh.NewPublicKey(pub)
			registered[ssh.FingerprintSHA256(k)] = who
		}
	}
	srv, err := NewSSHServer(ts.h, SSHConfig{
		Addr:        "127.0.0.1:0",
		HostKeyPath: filepath.Join(st.keys, "host", "ssh_host_ed25519_key"),
		AuthenticateKey: func(ctx context.Context, key ssh.PublicKey) (Identity, error) {
			who, ok := registered[ssh.FingerprintSHA256(key)]
			if !ok {
				return Identity{}, fmt.Errorf("key not registered: %w", errdefs.ErrUnauthorized)
			}
			return Identity{Name: who}, nil
		},
		Record: func(r SSHRecord) {
			st.mu.Lock()
			st.records = append(st.records, r)
			st.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	st.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("SSH Run: %v", err)
		}
	})
	return st
}

// url is app's repository over SSH; the user name is ignored.
func (st *sshTest) url(app string) string {
	return "ssh://anyone@" + st.srv.Addr().String() + "/" + app + ".git"
}

// sshCommand is GIT_SSH_COMMAND for who's key.
func (st *sshTest) sshCommand(who string) string {
	return "ssh -F /dev/null -i " + filepath.Join(st.keys, who) +
		" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
}

// git is a git command in w as who, over SSH.
func (st *sshTest) git(w *workTree, who string, args ...string) *exec.Cmd {
	cmd := w.cmd(args...)
	cmd.Env = append(cmd.Env, "GIT_SSH_COMMAND="+st.sshCommand(who))
	return cmd
}

func (st *sshTest) run(t *testing.T, w *workTree, who string, args ...string) (string, error) {
	t.Helper()
	out, err := st.git(w, who, args...).CombinedOutput()
	return string(out), err
}

func (st *sshTest) must(t *testing.T, w *workTree, who string, args ...string) string {
	t.Helper()
	out, err := st.run(t, w, who, args...)
	if err != nil {
		t.Fatalf("git %s as %s over SSH: %v\n%s", strings.Join(args, " "), who, err, out)
	}
	return out
}

func TestSSHPushDeploysAndStreamsOutput(t *testing.T) {
	ts := newTestServer(t)
	st := newSSHTest(t, ts)
	w := ts.newWorkTree(t)
	head := strings.TrimSpace(w.must("rev-parse", "HEAD"))

	var secondWritten time.Time
	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error {
		b, err := p.Command(ctx, "cat-file", "-t", p.Update.New).Output()
		if err != nil || strings.TrimSpace(string(b)) != "commit" {
			return fmt.Errorf("read the pushed commit: %q, %v", b, err)
		}
		fmt.Fprintln(out, "building step 1")
		time.Sleep(500 * time.Millisecond)
		secondWritten = time.Now()
		fmt.Fprintln(out, "released v1")
		return nil
	})

	cmd := st.git(w, "dev", "push", "--progress", st.url("web"), "main")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var order []string
	arrived := map[string]time.Time{}
	var all strings.Builder
	sc := bufio.NewScanner(stderr)
	sc.Split(scanLinesOrCR)
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line + "\n")
		for _, want := range []string{"remote: building step 1", "remote: released v1"} {
			if strings.Contains(line, want) {
				arrived[want] = time.Now()
				order = append(order, want)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git push over SSH: %v\n%s", err, all.String())
	}
	if strings.Join(order, "|") != "remote: building step 1|remote: released v1" {
		t.Fatalf("remote: lines %q, want the Receive's two lines in order:\n%s", order, all.String())
	}
	if first := arrived["remote: building step 1"]; !first.Before(secondWritten) {
		t.Errorf("first line arrived at %v, after the second was written at %v: output is not streamed", first, secondWritten)
	}
	pushes := ts.receivedPushes()
	if len(pushes) != 1 {
		t.Fatalf("Receive called %d times, want 1", len(pushes))
	}
	want := RefUpdate{Old: ZeroID, New: head, Ref: "refs/heads/main"}
	if p := pushes[0]; p.App != "web" || p.Pusher.Name != "dev" || p.Update != want {
		t.Errorf("Receive got app %q pusher %q update %+v, want web dev %+v", p.App, p.Pusher.Name, p.Update, want)
	}
	if got := ts.bareRef("web", "refs/heads/main"); got != head {
		t.Errorf("bare main = %q, want %q", got, head)
	}
	ts.mu.Lock()
	created := strings.Join(ts.created, ",")
	ts.mu.Unlock()
	if created != "web" {
		t.Errorf("CreateApp called for %q, want web (the push made the app)", created)
	}

	// A refused build refuses the push: the refs stay, git exits non-zero
	// and says why.
	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error {
		fmt.Fprintln(out, "step 1/2: RUN make")
		return errors.New("the build failed at step 1")
	})
	next := w.commit("two", "2\n")
	out, err := st.run(t, w, "dev", "push", st.url("web"), "main")
	if err == nil || !strings.Contains(out, "remote: step 1/2: RUN make") || !strings.Contains(out, "the build failed at step 1") {
		t.Errorf("push of a failing build: err %v, want refused with the reason:\n%s", err, out)
	}
	if got := ts.bareRef("web", "refs/heads/main"); got != head {
		t.Errorf("bare main = %q after a refused build, want %q (not %q)", got, head, next)
	}
}

func TestSSHRefusals(t *testing.T) {
	ts := newTestServer(t)
	st := newSSHTest(t, ts)
	w := ts.newWorkTree(t)
	st.must(t, w, "dev", "push", st.url("web"), "main")
	before := ts.objectCount("web")
	head := ts.bareRef("web", "refs/heads/main")
	w.commit("two", "2\n")

	for _, tc := range []struct {
		who, app, want string
	}{
		{"viewer", "web", `viewer may not push to app "web"`},
		{"deployer", "api", `skiff apps create api`}, // may not create apps
		{"stranger", "web", `stranger may not push to app "web"`},
		{"unknown", "web", "Permission denied (publickey)"},
	} {
		out, err := st.run(t, w, tc.who, "push", st.url(tc.app), "main")
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("push to %s as %s: err %v, want refused saying %q:\n%s", tc.app, tc.who, err, tc.want, out)
		}
	}
	if n := len(ts.receivedPushes()); n != 1 {
		t.Errorf("Receive called %d times, want 1 (the first push only)", n)
	}
	if got := ts.objectCount("web"); got != before {
		t.Errorf("objects in web.git = %s after refused pushes, want %s: a refused push received objects", got, before)
	}
	if got := ts.bareRef("web", "refs/heads/main"); got != head {
		t.Errorf("bare main = %q after refused pushes, want %q", got, head)
	}
	if ok, _ := ts.h.cfg.Repos.Exists("api"); ok {
		t.Error("a refused push made the api repository")
	}
	// The deployer may push to web.
	st.must(t, w, "deployer", "push", st.url("web"), "main")
	// Each push was recorded: allowed ones with git's exit status,
	// refused ones with why (the unknown key never signed in).
	st.mu.Lock()
	recs := append([]SSHRecord(nil), st.records...)
	st.mu.Unlock()
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s %s %s %v %d", r.Identity.Name, r.App, r.Service, r.Allowed, r.Exit))
		if !r.Allowed && r.Reason == "" || r.Address == "" {
			t.Errorf("record %+v lacks a reason or an address", r)
		}
	}
	want := []string{"dev web git-receive-pack true 0", "viewer web git-receive-pack false 1", "deployer api git-receive-pack false 1",
		"stranger web git-receive-pack false 1", "deployer web git-receive-pack true 0"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Anything but git is refused, with exit status 1.
	for _, command := range [][]string{{"ls", "-la"}, {}, {"git-upload-archive", "'web.git'"}, {"git-receive-pack", "'../etc.git'"}} {
		args := append(strings.Fields(st.sshCommand("dev")), "-p", portOf(st.srv.Addr().String()), "anyone@127.0.0.1")
		args = append(args, command...)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "this server only serves git push and fetch") {
			t.Errorf("ssh %q: %v, want exit status 1 saying only git is served:\n%s", command, err, out)
		}
	}
}

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, "]:")
	if port == "" {
		_, port, _ = strings.Cut(addr, ":")
	}
	return port
}

func TestSSHCloneAndFetch(t *testing.T) {
	ts := newTestServer(t)
	st := newSSHTest(t, ts)
	w := ts.newWorkTree(t)
	st.must(t, w, "dev", "push", st.url("web"), "main")

	c := &workTree{t: t, ts: ts, dir: t.TempDir()}
	st.must(t, c, "viewer", "clone", "--quiet", st.url("web"), "app")
	got, err := os.ReadFile(filepath.Join(c.dir, "app", "README"))
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("cloned README = %q, %v; want hello", got, err)
	}
	next := w.commit("two", "2\n")
	st.must(t, w, "dev", "push", st.url("web"), "main")
	c.dir = filepath.Join(c.dir, "app")
	for _, proto := range []string{"version=2", "version=0"} {
		st.must(t, c, "viewer", "-c", "protocol.version="+strings.TrimPrefix(proto, "version="), "fetch", "--quiet", "origin")
		if got := strings.TrimSpace(c.must("rev-parse", "origin/main")); got != next {
			t.Errorf("fetched (%s) origin/main = %q, want %q", proto, got, next)
		}
	}
	// Other spellings of the path.
	for _, u := range []string{"ssh://x@" + st.srv.Addr().String() + "/web", "ssh://x@" + st.srv.Addr().String() + "/git/web.git"} {
		st.must(t, c, "viewer", "ls-remote", u)
	}

	out, err := st.run(t, c, "stranger", "clone", st.url("web"), filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(out, `stranger may not fetch from app "web"`) {
		t.Errorf("clone by a stranger: err %v, want refused with a reason:\n%s", err, out)
	}
	out, err = st.run(t, c, "viewer", "clone", st.url("nothing-here"), filepath.Join(t.TempDir(), "y"))
	if err == nil || !strings.Contains(out, "skiff apps create nothing-here") {
		t.Errorf("clone of a missing app: err %v, want not found with a hint:\n%s", err, out)
	}
}

// TestSSHKilledPushLeavesRefs kills the pusher while Receive runs: its
// context ends, the refs stay, and the next push works.
func TestSSHKilledPushLeavesRefs(t *testing.T) {
	ts := newTestServer(t)
	st := newSSHTest(t, ts)
	w := ts.newWorkTree(t)
	st.must(t, w, "dev", "push", st.url("web"), "main")
	first := ts.bareRef("web", "refs/heads/main")

	started := make(chan struct{})
	ended := make(chan error, 1)
	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error {
		fmt.Fprintln(out, "building...")
		close(started)
		select {
		case <-ctx.Done():
			ended <- ctx.Err()
			return ctx.Err()
		case <-time.After(20 * time.Second):
			ended <- errors.New("the context did not end")
			return errors.New("too slow")
		}
	})
	w.commit("two", "2\n")
	cmd := st.git(w, "dev", "push", st.url("web"), "main")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // git and its ssh
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatal("Receive did not start")
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("Receive's context after the pusher was killed: %v, want canceled", err)
	}
	eventually(t, "receive-pack to drop its quarantine", func() bool {
		m, _ := filepath.Glob(filepath.Join(ts.root, "web.git", "objects", "tmp_objdir-incoming-*"))
		return len(m) == 0
	})
	if got := ts.bareRef("web", "refs/heads/main"); got != first {
		t.Errorf("bare main = %q after a killed push, want %q", got, first)
	}

	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error { return nil })
	st.must(t, w, "dev", "push", st.url("web"), "main")
	if got, head := ts.bareRef("web", "refs/heads/main"), strings.TrimSpace(w.must("rev-parse", "HEAD")); got != head {
		t.Errorf("bare main = %q after the next push, want %q", got, head)
	}
}

func TestSSHHostKeyKept(t *testing.T) {
	ts := newTestServer(t)
	st := newSSHTest(t, ts)
	path := filepath.Join(st.keys, "host", "ssh_host_ed25519_key")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key %s: %v, mode %v; want 0600", path, err, fi.Mode())
	}
	again, err := NewSSHServer(ts.h, SSHConfig{Addr: "127.0.0.1:0", HostKeyPath: path, AuthenticateKey: st.srv.cfg.AuthenticateKey})
	if err != nil {
		t.Fatal(err)
	}
	defer again.ln.Close()
	if a, b := ssh.FingerprintSHA256(st.srv.HostKey()), ssh.FingerprintSHA256(again.HostKey()); a != b || again.HostKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("host key after a restart: %s, want the same %s (ed25519)", b, a)
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSSHServer(ts.h, SSHConfig{Addr: "127.0.0.1:0", HostKeyPath: path, AuthenticateKey: st.srv.cfg.AuthenticateKey}); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("corrupt host key: err = %v, want a hint", err)
	}
	if _, err := NewSSHServer(ts.h, SSHConfig{}); !errdefs.IsInvalid(err) {
		t.Errorf("empty config: err = %v, want invalid", err)
	}
}

func TestParseSSHCommand(t *testing.T) {
	for _, tc := range []struct {
		raw, service, app, err string
	}{
		{"git-receive-pack '/web.git'", "git-receive-pack", "web", ""},
		{"git-receive-pack 'web.git'", "git-receive-pack", "web", ""},
		{"git-upload-pack 'web'", "git-upload-pack", "web", ""},
		{"git-upload-pack '/git/my-app.git'", "git-upload-pack", "my-app", ""},
		{"git receive-pack '/web.git'", "git-receive-pack", "web", ""},
		{`git-upload-pack /web.git`, "git-upload-pack", "web", ""},
		{`git-upload-pack 'w'\''eb.git'`, "", "", "DNS label"},
		{"git-receive-pack '/../etc.git'", "", "", "DNS label"},
		{"git-receive-pack '/a/b.git'", "", "", "DNS label"},
		{"git-receive-pack", "", "", "no repository named"},
		{"git-receive-pack 'web.git' extra", "", "", "more than one argument"},
		{"git-receive-pack 'web.git", "", "", "unterminated quote"},
		{"git-receive-pack web;rm", "", "", "unexpected"},
		{"git-upload-archive 'web.git'", "", "", "not a git command"},
		{"ls -la", "", "", "not a git command"},
		{"", "", "", "a shell is not served"},
	} {
		service, app, err := parseSSHCommand(tc.raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.raw, err, tc.err)
			}
			continue
		}
		if err != nil || service != tc.service || app != tc.app {
			t.Errorf("%q = %q, %q, %v; want %q, %q", tc.raw, service, app, err, tc.service, tc.app)
		}
	}
}

// A server whose context has ended before Run returns at once (its
// listener is closed too: the server alone, closed before it serves,
// would serve on).
func TestSSHRunWithEndedContext(t *testing.T) {
	ts := newTestServer(t)
	st := newSSHTest(t, ts)
	path := filepath.Join(st.keys, "host", "ssh_host_ed25519_key")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		srv, err := NewSSHServer(ts.h, SSHConfig{Addr: "127.0.0.1:0", HostKeyPath: path, AuthenticateKey: st.srv.cfg.AuthenticateKey})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run with an ended context: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run with an ended context still serves after 5 s")
		}
	}
}
