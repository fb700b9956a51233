package gitpush

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPushDeploysAndStreamsOutput(t *testing.T) {
	ts := newTestServer(t)
	w := ts.newWorkTree(t)
	head := strings.TrimSpace(w.must("rev-parse", "HEAD"))

	var secondWritten time.Time
	var objType string
	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error {
		b, err := p.Command(ctx, "cat-file", "-t", p.Update.New).Output()
		if err != nil {
			return fmt.Errorf("read the pushed commit: %w", err)
		}
		objType = strings.TrimSpace(string(b))
		fmt.Fprintln(out, "building step 1")
		time.Sleep(500 * time.Millisecond)
		secondWritten = time.Now()
		fmt.Fprintln(out, "released v1")
		return nil
	})

	cmd := w.cmd("push", "--progress", ts.url("tok-dev", "web"), "main")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("git push: %v\n%s", err, all.String())
	}
	first, ok1 := arrived["remote: building step 1"]
	_, ok2 := arrived["remote: released v1"]
	if !ok1 || !ok2 {
		t.Fatalf("git push output lacks the Receive lines as remote: lines:\n%s", all.String())
	}
	if !first.Before(secondWritten) {
		t.Errorf("first line arrived at %v, after the second was written at %v: output is not streamed", first, secondWritten)
	}

	pushes := ts.receivedPushes()
	if len(pushes) != 1 {
		t.Fatalf("Receive called %d times, want 1", len(pushes))
	}
	p := pushes[0]
	want := RefUpdate{Old: ZeroID, New: head, Ref: "refs/heads/main"}
	if p.App != "web" || p.Pusher.Name != "dev" || p.Update != want {
		t.Errorf("Receive got app %q pusher %q update %+v, want web dev %+v", p.App, p.Pusher.Name, p.Update, want)
	}
	if objType != "commit" {
		t.Errorf("pushed object seen from Receive as %q, want commit (quarantine env not passed?)", objType)
	}
	if got := ts.bareRef("web", "refs/heads/main"); got != head {
		t.Errorf("bare main = %q, want %q", got, head)
	}

	// A force push over it is allowed, as on Heroku and Dokku.
	w.must("commit", "--quiet", "--amend", "-m", "rewritten")
	amended := strings.TrimSpace(w.must("rev-parse", "HEAD"))
	w.must("push", "--force", ts.url("tok-dev", "web"), "main")
	if got := ts.bareRef("web", "refs/heads/main"); got != amended {
		t.Errorf("after force push bare main = %q, want %q", got, amended)
	}
	if p := ts.receivedPushes()[1]; p.Update.Old != head || p.Update.New != amended {
		t.Errorf("force push update %+v, want %s -> %s", p.Update, head, amended)
	}
}

// scanLinesOrCR splits git's stderr on \n and \r (progress lines).
func scanLinesOrCR(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func TestReceiveErrorRefusesPush(t *testing.T) {
	ts := newTestServer(t)
	w := ts.newWorkTree(t)
	first := strings.TrimSpace(w.must("rev-parse", "HEAD"))
	w.must("push", ts.url("tok-dev", "web"), "main")

	second := w.commit("Procfile", "web: ./nothing\n")
	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error {
		fmt.Fprintln(out, "building...")
		return errors.New("build failed: ./nothing is not executable")
	})
	out, err := w.run("push", ts.url("tok-dev", "web"), "main")
	if err == nil {
		t.Fatalf("git push succeeded, want it to fail:\n%s", out)
	}
	for _, want := range []string{"remote: building...", "build failed: ./nothing is not executable", "pre-receive hook declined"} {
		if !strings.Contains(out, want) {
			t.Errorf("git push output lacks %q:\n%s", want, out)
		}
	}
	if got := ts.bareRef("web", "refs/heads/main"); got != first {
		t.Errorf("bare main = %q after a refused push, want it unchanged at %q", got, first)
	}

	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error { return nil })
	w.must("push", ts.url("tok-dev", "web"), "main")
	if got := ts.bareRef("web", "refs/heads/main"); got != second {
		t.Errorf("bare main = %q after the retry, want %q", got, second)
	}
}

func TestPushAuthentication(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name, token, want string
	}{
		{"no credentials", "", "could not read Username"},
		{"wrong token", "tok-nobody", "Authentication failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := ts.newWorkTree(t)
			out, err := w.run("push", ts.url(tc.token, "web"), "main")
			if err == nil {
				t.Fatalf("git push succeeded, want an authentication failure:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("git push output lacks %q:\n%s", tc.want, out)
			}
			if n := len(ts.receivedPushes()); n != 0 {
				t.Errorf("Receive called %d times, want 0", n)
			}
		})
	}
	if ok, _ := ts.h.cfg.Repos.Exists("web"); ok {
		t.Errorf("an unauthenticated push made a repository")
	}
}

func TestPushForbiddenBeforePack(t *testing.T) {
	ts := newTestServer(t)
	w := ts.newWorkTree(t)
	w.must("push", ts.url("tok-dev", "api"), "main") // makes the app
	ts.mu.Lock()
	ts.pushes, ts.rpcBytes = nil, 0
	ts.mu.Unlock()
	before := ts.objectCount("api")

	w.commit("more", "x\n")
	for _, tc := range []struct{ token, app, want string }{
		{"tok-viewer", "api", `viewer may not push to app "api"`},
		{"tok-deployer", "api", `deployer may not push to app "api"`},
	} {
		out, err := w.run("push", ts.url(tc.token, tc.app), "main")
		if err == nil {
			t.Fatalf("%s: git push succeeded, want it refused:\n%s", tc.token, out)
		}
		if !strings.Contains(out, tc.want) || !strings.Contains(out, "lacks deploy on app api") {
			t.Errorf("%s: git push output lacks %q and the reason:\n%s", tc.token, tc.want, out)
		}
		t.Logf("what git shows:\n%s", out)
	}
	ts.mu.Lock()
	sent := ts.rpcBytes
	ts.mu.Unlock()
	if sent != 0 {
		t.Errorf("%d bytes of pack data were read from refused pushes, want 0", sent)
	}
	if n := len(ts.receivedPushes()); n != 0 {
		t.Errorf("Receive called %d times, want 0", n)
	}
	if after := ts.objectCount("api"); after != before {
		t.Errorf("objects in the repository went from %s to %s after refused pushes", before, after)
	}

	// An app one may not deploy and that has no repository yet.
	out, err := w.run("push", ts.url("tok-viewer", "fresh"), "main")
	if err == nil {
		t.Fatalf("git push to fresh by a viewer succeeded:\n%s", out)
	}
	if ok, _ := ts.h.cfg.Repos.Exists("fresh"); ok {
		t.Errorf("a refused push made the repository of fresh")
	}
}

func TestPushToNewApp(t *testing.T) {
	ts := newTestServer(t)
	w := ts.newWorkTree(t)

	w.must("push", ts.url("tok-dev", "brand-new"), "main")
	ts.mu.Lock()
	created := ts.created
	ts.mu.Unlock()
	if len(created) != 1 || created[0] != "brand-new" {
		t.Errorf("CreateApp calls %v, want [brand-new]", created)
	}
	if n := len(ts.receivedPushes()); n != 1 {
		t.Errorf("Receive called %d times, want 1", n)
	}

	out, err := w.run("push", ts.url("tok-deployer", "other"), "main")
	if err == nil {
		t.Fatalf("push to a new app by one who may not create apps succeeded:\n%s", out)
	}
	for _, want := range []string{`app "other" does not exist`, "skiff apps create other", "not found"} {
		if !strings.Contains(out, want) {
			t.Errorf("git push output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("what git shows:\n%s", out)
	if ok, _ := ts.h.cfg.Repos.Exists("other"); ok {
		t.Errorf("the refused push made a repository")
	}

	for _, bad := range []string{"Bad_Name", "-x"} {
		out, err := w.run("push", ts.url("tok-dev", bad), "main")
		if err == nil || !strings.Contains(out, "must be a DNS label") {
			t.Errorf("push to %q: err %v, want refused as a bad name:\n%s", bad, err, out)
		}
	}
}

func TestNonDeployBranchIsStored(t *testing.T) {
	ts := newTestServer(t)
	w := ts.newWorkTree(t)
	w.must("checkout", "--quiet", "-b", "feature")
	head := w.commit("feature.txt", "wip\n")
	out := w.must("push", ts.url("tok-dev", "web"), "feature")
	if !strings.Contains(out, "remote: skiff: stored feature without deploying") {
		t.Errorf("git push output lacks the stored note:\n%s", out)
	}
	if n := len(ts.receivedPushes()); n != 0 {
		t.Errorf("Receive called %d times for a non-deploy branch, want 0", n)
	}
	if got := ts.bareRef("web", "refs/heads/feature"); got != head {
		t.Errorf("bare feature = %q, want %q", got, head)
	}

	// master deploys too; deleting the deploy branch is refused.
	w.must("push", ts.url("tok-dev", "web"), "feature:master")
	if n := len(ts.receivedPushes()); n != 1 {
		t.Errorf("Receive called %d times after pushing master, want 1", n)
	}
	out, err := w.run("push", ts.url("tok-dev", "web"), ":master")
	if err == nil || !strings.Contains(out, "cannot be deleted") {
		t.Errorf("deleting master: err %v, want refused with a reason:\n%s", err, out)
	}
	if got := ts.bareRef("web", "refs/heads/master"); got != head {
		t.Errorf("bare master = %q after a refused delete, want %q", got, head)
	}
	w.must("push", ts.url("tok-dev", "web"), ":feature") // other branches may go

	// HEAD follows the deployed branch, so a clone checks out master.
	c := &workTree{t: t, ts: ts, dir: t.TempDir()}
	out = c.must("clone", ts.url("tok-viewer", "web"), "app")
	c.dir = filepath.Join(c.dir, "app")
	if got := strings.TrimSpace(c.must("rev-parse", "--abbrev-ref", "HEAD")); got != "master" {
		t.Errorf("clone checked out %q, want master:\n%s", got, out)
	}
}

func TestAppBranchDeploys(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.AppBranch = func(_ context.Context, app string) (string, error) {
			if app == "broken" {
				return "", errors.New("the app could not be read")
			}
			return "production", nil
		}
	})
	w := ts.newWorkTree(t)
	w.commit("a.txt", "a\n")
	out := w.must("push", ts.url("tok-dev", "web"), "main")
	if !strings.Contains(out, "stored main without deploying; push to production to deploy") {
		t.Errorf("a push to main when the app deploys production:\n%s", out)
	}
	w.must("push", ts.url("tok-dev", "web"), "main:production")
	if n := len(ts.receivedPushes()); n != 1 {
		t.Errorf("Receive called %d times after pushing production, want 1", n)
	}
	if out, err := w.run("push", ts.url("tok-dev", "broken"), "main"); err == nil || !strings.Contains(out, "the deploy branch of app broken") {
		t.Errorf("a push when the app's branch cannot be read: err %v\n%s", err, out)
	}
}

// TestRevokedCredentialsStopAPush: Track's context ends mid-build (a
// token revoked, say), the push's Receive sees it end, and the push is
// refused with its refs unmoved.
func TestRevokedCredentialsStopAPush(t *testing.T) {
	revoke := make(chan struct{})
	ts := newTestServer(t, func(c *Config) {
		c.Track = func(ctx context.Context, id Identity) (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(ctx)
			go func() {
				select {
				case <-revoke:
					cancel(errors.New("the token was revoked"))
				case <-ctx.Done():
				}
			}()
			return ctx, func() { cancel(context.Canceled) }
		}
	})
	ts.setReceive(func(ctx context.Context, p Push, out io.Writer) error {
		fmt.Fprintln(out, "building")
		close(revoke)
		<-ctx.Done()
		return fmt.Errorf("stopped: %w", context.Cause(ctx))
	})
	w := ts.newWorkTree(t)
	w.commit("a.txt", "a\n")
	out, err := w.run("push", ts.url("tok-dev", "web"), "main")
	if err == nil || !strings.Contains(out, "the token was revoked") {
		t.Errorf("a push whose credentials ended mid-build: err %v\n%s", err, out)
	}
	if got := ts.bareRef("web", "refs/heads/main"); got != "" {
		t.Errorf("main moved to %q", got)
	}
}
