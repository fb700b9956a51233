package gitpush

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The people of the tests, by token.
var testTokens = map[string]struct {
	name      string
	push      map[string]bool // apps one may push to; "*" all
	read      bool            // may fetch any app
	mayCreate bool
}{
	"tok-dev":      {name: "dev", push: map[string]bool{"*": true}, read: true, mayCreate: true},
	"tok-deployer": {name: "deployer", push: map[string]bool{"web": true}, read: true},
	"tok-viewer":   {name: "viewer", read: true},
	"tok-stranger": {name: "stranger"},
}

// testServer is a Handler behind a TLS loopback server, recording what it
// was asked.
type testServer struct {
	t       testing.TB
	h       *Handler
	srv     *httptest.Server
	root    string
	caFile  string
	receive func(ctx context.Context, p Push, out io.Writer) error

	mu       sync.Mutex
	pushes   []Push
	created  []string
	rpcBytes int64 // bytes of git-receive-pack request bodies read
	slow     bool  // read git-receive-pack request bodies slowly
}

func newTestServer(t testing.TB, opts ...func(*Config)) *testServer {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ts := &testServer{t: t, root: filepath.Join(shortTempDir(t), "git")}
	ts.receive = func(ctx context.Context, p Push, out io.Writer) error {
		fmt.Fprintf(out, "deploying %s\n", p.Update.New[:7])
		return nil
	}
	repos := &Repos{Root: ts.root, HookCommand: []string{os.Args[0], "git-hook"}}
	cfg := Config{
		Repos: repos,
		Authenticate: func(r *http.Request, user, password string) (Identity, error) {
			p, ok := testTokens[password]
			if !ok {
				return Identity{}, fmt.Errorf("token not recognised: %w", errdefs.ErrUnauthorized)
			}
			return Identity{Name: p.name}, nil
		},
		Authorize: func(ctx context.Context, id Identity, app string, push bool) error {
			for _, p := range testTokens {
				if p.name != id.Name {
					continue
				}
				if push && (p.push["*"] || p.push[app]) || !push && p.read {
					return nil
				}
			}
			what := "read"
			if push {
				what = "deploy"
			}
			return fmt.Errorf("role %s lacks %s on app %s: %w", id.Name, what, app, errdefs.ErrForbidden)
		},
		CreateApp: func(ctx context.Context, id Identity, app string) error {
			for _, p := range testTokens {
				if p.name == id.Name && p.mayCreate {
					ts.mu.Lock()
					ts.created = append(ts.created, app)
					ts.mu.Unlock()
					return nil
				}
			}
			return fmt.Errorf("%s may not create apps: %w", id.Name, errdefs.ErrForbidden)
		},
		Receive: func(ctx context.Context, p Push, out io.Writer) error {
			ts.mu.Lock()
			ts.pushes = append(ts.pushes, p)
			f := ts.receive
			ts.mu.Unlock()
			return f(ctx, p, out)
		},
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.h = h
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	mux := http.NewServeMux()
	mux.Handle("/git/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			r.Body = &countingReader{r: r.Body, ts: ts}
		}
		h.ServeHTTP(w, r)
	}))
	ts.srv = httptest.NewTLSServer(mux)
	ts.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.srv.Certificate().Raw})
	if err := os.WriteFile(ts.caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ts.srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

// shortTempDir is a temporary directory with a path short enough for a
// unix socket (108 bytes).
func shortTempDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "gitpush")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (ts *testServer) url(token, app string) string {
	host := strings.TrimPrefix(ts.srv.URL, "https://")
	if token == "" {
		return "https://" + host + "/git/" + app + ".git"
	}
	return "https://anyone:" + token + "@" + host + "/git/" + app + ".git"
}

func (ts *testServer) receivedPushes() []Push {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]Push(nil), ts.pushes...)
}

func (ts *testServer) setReceive(f func(ctx context.Context, p Push, out io.Writer) error) {
	ts.mu.Lock()
	ts.receive = f
	ts.mu.Unlock()
}

// gitEnv is a clean client environment trusting the test server.
func (ts *testServer) gitEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_SSL_CAINFO=" + ts.caFile,
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"LC_ALL=C",
	}
}

// workTree is a client-side repository.
type workTree struct {
	t   testing.TB
	ts  *testServer
	dir string
}

func (ts *testServer) newWorkTree(t testing.TB) *workTree {
	w := &workTree{t: t, ts: ts, dir: t.TempDir()}
	w.must("init", "--quiet", "--initial-branch=main")
	w.commit("README", "hello\n")
	return w
}

func (w *workTree) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = w.dir
	cmd.Env = w.ts.gitEnv(w.dir)
	return cmd
}

// run runs git and returns its combined output and error.
func (w *workTree) run(args ...string) (string, error) {
	out, err := w.cmd(args...).CombinedOutput()
	return string(out), err
}

func (w *workTree) must(args ...string) string {
	w.t.Helper()
	out, err := w.run(args...)
	if err != nil {
		w.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// commit writes a file and commits it, returning the commit.
func (w *workTree) commit(name, content string) string {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.must("add", name)
	w.must("commit", "--quiet", "-m", "change "+name)
	return strings.TrimSpace(w.must("rev-parse", "HEAD"))
}

// bareRef returns what ref points at in app's bare repository, or "".
func (ts *testServer) bareRef(app, ref string) string {
	cmd := exec.Command("git", "rev-parse", "--verify", "--quiet", ref)
	cmd.Dir = filepath.Join(ts.root, app+".git")
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

// objectCount counts the objects in app's bare repository.
func (ts *testServer) objectCount(app string) string {
	cmd := exec.Command("git", "count-objects", "-v")
	cmd.Dir = filepath.Join(ts.root, app+".git")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "error: " + string(out)
	}
	var count, inPack string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		switch k {
		case "count":
			count = v
		case "in-pack":
			inPack = v
		}
	}
	return count + "+" + inPack
}

type countingReader struct {
	r  io.ReadCloser
	ts *testServer
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.ts.mu.Lock()
	slow := c.ts.slow
	c.ts.mu.Unlock()
	if slow {
		time.Sleep(5 * time.Millisecond)
		p = p[:min(len(p), 16<<10)]
	}
	n, err := c.r.Read(p)
	c.ts.mu.Lock()
	c.ts.rpcBytes += int64(n)
	c.ts.mu.Unlock()
	return n, err
}
func (c *countingReader) Close() error { return c.r.Close() }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eventually waits up to 5s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
