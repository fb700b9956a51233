package gitpush

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestInterruptedPushLeavesRefs(t *testing.T) {
	ts := newTestServer(t)
	w := ts.newWorkTree(t)
	first := strings.TrimSpace(w.must("rev-parse", "HEAD"))
	w.must("push", ts.url("tok-dev", "web"), "main")

	big := make([]byte, 8<<20) // random, so the pack stays ~8 MiB
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(w.dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	w.must("add", "big.bin")
	w.must("commit", "--quiet", "-m", "big")
	ts.mu.Lock()
	ts.rpcBytes, ts.slow = 0, true
	ts.mu.Unlock()

	cmd := w.cmd("push", ts.url("tok-dev", "web"), "main")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // git and its git-remote-https
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pack to start arriving", func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		return ts.rpcBytes > 1<<20
	})
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	ts.mu.Lock()
	ts.slow = false
	ts.mu.Unlock()

	if got := ts.bareRef("web", "refs/heads/main"); got != first {
		t.Errorf("bare main = %q after an interrupted push, want %q", got, first)
	}
	if n := len(ts.receivedPushes()); n != 1 {
		t.Errorf("Receive called %d times, want 1 (the first push only)", n)
	}
	eventually(t, "receive-pack to drop its quarantine", func() bool {
		m, _ := filepath.Glob(filepath.Join(ts.root, "web.git", "objects", "tmp_objdir-incoming-*"))
		return len(m) == 0
	})

	w.must("push", ts.url("tok-dev", "web"), "main")
	head := strings.TrimSpace(w.must("rev-parse", "HEAD"))
	if got := ts.bareRef("web", "refs/heads/main"); got != head {
		t.Errorf("bare main = %q after the next push, want %q", got, head)
	}
	if n := len(ts.receivedPushes()); n != 2 {
		t.Errorf("Receive called %d times, want 2", n)
	}
}

func TestCloneAndFetch(t *testing.T) {
	ts := newTestServer(t)
	w := ts.newWorkTree(t)
	w.must("push", ts.url("tok-dev", "web"), "main")

	c := &workTree{t: t, ts: ts, dir: t.TempDir()}
	c.must("clone", "--quiet", ts.url("tok-viewer", "web"), "app")
	got, err := os.ReadFile(filepath.Join(c.dir, "app", "README"))
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("cloned README = %q, %v; want hello", got, err)
	}

	next := w.commit("two", "2\n")
	w.must("push", ts.url("tok-dev", "web"), "main")
	c.dir = filepath.Join(c.dir, "app")
	c.must("fetch", "--quiet", "origin")
	if got := strings.TrimSpace(c.must("rev-parse", "origin/main")); got != next {
		t.Errorf("fetched origin/main = %q, want %q", got, next)
	}

	out, err := c.run("clone", ts.url("tok-stranger", "web"), filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(out, `stranger may not fetch from app "web"`) {
		t.Errorf("clone by a stranger: err %v, want refused with a reason:\n%s", err, out)
	}
	out, err = c.run("clone", ts.url("tok-viewer", "nothing-here"), filepath.Join(t.TempDir(), "y"))
	if err == nil || !strings.Contains(out, "skiff apps create nothing-here") {
		t.Errorf("clone of a missing app: err %v, want not found with a hint:\n%s", err, out)
	}
}

// TestRefusedAtPackRequest checks the second authorization, on the pack
// request itself, for a client that skips the advertisement.
func TestRefusedAtPackRequest(t *testing.T) {
	ts := newTestServer(t)
	w := ts.newWorkTree(t)
	w.must("push", ts.url("tok-dev", "web"), "main")
	ts.mu.Lock()
	ts.rpcBytes = 0
	ts.mu.Unlock()
	for _, tc := range []struct {
		token, path string
		want        int
	}{
		{"tok-viewer", "/git/web.git/git-receive-pack", http.StatusForbidden},
		{"tok-stranger", "/git/web.git/git-upload-pack", http.StatusForbidden},
		{"", "/git/web.git/git-receive-pack", http.StatusUnauthorized},
		{"tok-dev", "/git/web.git/objects/info/packs", http.StatusNotFound},
		{"tok-dev", "/git/web.git/info/refs", http.StatusForbidden}, // dumb protocol
	} {
		method := http.MethodPost
		if strings.Contains(tc.path, "/info/") || strings.Contains(tc.path, "/objects/") {
			method = http.MethodGet
		}
		req, _ := http.NewRequest(method, ts.srv.URL+tc.path, strings.NewReader("0000PACK..."))
		if tc.token != "" {
			req.SetBasicAuth("x", tc.token)
		}
		resp, err := ts.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s as %q: status %d, want %d", method, tc.path, tc.token, resp.StatusCode, tc.want)
		}
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") != `Basic realm="skiff"` {
			t.Errorf("401 without WWW-Authenticate: Basic realm=\"skiff\"")
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.rpcBytes != 0 {
		t.Errorf("%d request bytes read by refused requests, want 0", ts.rpcBytes)
	}
}

func TestMaxPushBytes(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxPushBytes = 1 << 20 })
	w := ts.newWorkTree(t)
	first := strings.TrimSpace(w.must("rev-parse", "HEAD"))
	w.must("push", ts.url("tok-dev", "web"), "main")
	big := make([]byte, 2<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(w.dir, "big.bin"), big, 0o644)
	w.must("add", "big.bin")
	w.must("commit", "--quiet", "-m", "big")
	out, err := w.run("push", ts.url("tok-dev", "web"), "main")
	if err == nil || !strings.Contains(out, "pack exceeds maximum allowed size") {
		t.Errorf("push over MaxPushBytes: err %v, want refused for its size:\n%s", err, out)
	}
	if got := ts.bareRef("web", "refs/heads/main"); got != first {
		t.Errorf("bare main = %q, want unchanged %q", got, first)
	}
}
