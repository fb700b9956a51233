package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// appRepo is a git work tree the test pushes from.
type appRepo struct {
	t   testing.TB
	dir string
	env []string
}

func newAppRepo(t testing.TB, caFile string) *appRepo {
	r := &appRepo{t: t, dir: t.TempDir(), env: append(os.Environ(),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
		"GIT_SSL_CAINFO="+caFile, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *appRepo) git(args ...string) string {
	r.t.Helper()
	out, err := r.run(args...)
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (r *appRepo) run(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// commit writes files (name → content; "" deletes) and commits them.
func (r *appRepo) commit(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			os.Remove(p)
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", "change")
}

// appDockerfile serves /www with busybox httpd on $PORT, and writes the
// GREETING config var to /www/env.txt.
const appDockerfile = `FROM skiff.test/busybox:latest
RUN mkdir -p /www && echo built > /www/built.txt
COPY index.html /www/index.html
CMD ["sh", "-c", "echo \"$GREETING\" > /www/env.txt; exec httpd -f -p $PORT -h /www"]
`

// TestAppsGitPushE2E pushes apps with the real git client to a server
// with its embedded node (real containerd, runc, CNI), and checks what
// issue 7 promises: they answer through the router at their host names, a
// second push reuses cached layers, config vars reach the process with no
// rebuild, a failing release is refused while the old one serves, and
// pushes and a rollback under load lose no request.
func TestAppsGitPushE2E(t *testing.T) {
	n := newTestNode(t, 35)
	n.serverArgs = []string{"--apps-domain", "apps.test", "--build-image", "procfile=" + testimages.Ref("busybox")}
	n.start()
	// Apps go before the node's cleanup deletes pods (their Deployments
	// would make new ones): destroying an app deletes all it owns.
	t.Cleanup(func() { destroyApps(t, n, "shop", "procs") })
	cfg, err := client.LoadConfig(n.srv.config)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeFile(t, t.TempDir(), "ca.pem", cfg.CA)
	host := strings.TrimPrefix(cfg.Server, "https://")
	remote := "https://git:" + cfg.Token + "@" + host + "/git/shop.git"
	router := "http://" + net.JoinHostPort(n.nodeIP, "80")
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(app, path string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, router+path, nil)
		req.Host = app + ".apps.test"
		resp, err := hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), nil
	}
	serves := func(app, path, want string) {
		t.Helper()
		n.eventually(30*time.Second, app+path+" answers "+want, func() (bool, string) {
			code, body, err := get(app, path)
			if err != nil {
				return false, err.Error()
			}
			return code == 200 && body == want, fmt.Sprintf("%d %q", code, body)
		})
	}

	repo := newAppRepo(t, caFile)
	repo.commit(map[string]string{"Dockerfile": appDockerfile, "index.html": "v1\n"})
	start := time.Now()
	out := repo.git("push", remote, "main")
	first := time.Since(start)
	for _, want := range []string{"remote: -----> Building shop", "remote: -----> v1 is live at http://shop.apps.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("first push output lacks %q:\n%s", want, out)
		}
	}
	serves("shop", "/", "v1")
	t.Logf("first push to serving: %s", first.Round(time.Millisecond))

	// skiff ps shows the process types.
	env := []string{"SKIFF_CONFIG=" + n.srv.config}
	ps := runSkiff(t, env, "", "ps", "shop")
	if ps.code != 0 || !strings.Contains(ps.out, "web") || !strings.Contains(ps.out, "1/1") {
		t.Errorf("skiff ps shop: %d\n%s%s", ps.code, ps.out, ps.err)
	}
	info := runSkiff(t, env, "", "apps", "info", "shop", "-o", "json")
	if !strings.Contains(info.out, `"http://shop.apps.test"`) {
		t.Errorf("skiff apps info -o json lacks the URL:\n%s%s", info.out, info.err)
	}

	// Load through the router from here on: not one request may fail.
	var load loadGen
	stopLoad := load.start(func() error {
		code, body, err := get("shop", "/")
		if err != nil {
			return err
		}
		if code != 200 || !strings.HasPrefix(body, "v") {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})

	// A one-line change: cached layers, the new version live.
	repo.commit(map[string]string{"index.html": "v2\n"})
	start = time.Now()
	out = repo.git("push", remote, "main")
	warm := time.Since(start)
	if !strings.Contains(out, "Using cache") {
		t.Errorf("second push reused no layer:\n%s", out)
	}
	serves("shop", "/", "v2")
	t.Logf("warm push to serving: %s", warm.Round(time.Millisecond))

	// Config: a new release with no rebuild, the var in the process.
	set := runSkiff(t, env, "", "config", "set", "-a", "shop", "GREETING=hello")
	if set.code != 0 {
		t.Fatalf("skiff config set: %s%s", set.out, set.err)
	}
	serves("shop", "/env.txt", "hello")

	// A third push, then a rollback to v2's image and config.
	repo.commit(map[string]string{"index.html": "v3\n"})
	repo.git("push", remote, "main")
	serves("shop", "/", "v3")
	rb := runSkiff(t, env, "", "apps", "rollback", "shop", "shop-v2")
	if rb.code != 0 {
		t.Fatalf("skiff apps rollback: %s%s", rb.out, rb.err)
	}
	serves("shop", "/", "v2")
	serves("shop", "/env.txt", "") // v2 had no GREETING

	// A release whose health check fails is refused; v2's pods serve on.
	setDeadline(t, n.client, "shop", 20)
	repo.commit(map[string]string{"Dockerfile": strings.Replace(appDockerfile, "exec httpd", "exit 1; exec httpd", 1), "index.html": "broken\n"})
	out, err = repo.run("push", remote, "main")
	if err == nil || !strings.Contains(out, "failed") || !strings.Contains(out, "keeps serving") {
		t.Errorf("a push whose pods never get healthy: err %v\n%s", err, out)
	}
	serves("shop", "/", "v2")

	// People: a developer pushes over SSH with the key they registered;
	// a viewer's token may fetch but not push, and nothing is received.
	hash, err := caHashOf(cfg.CA)
	if err != nil {
		t.Fatal(err)
	}
	devCfg := signIn(t, n, hash, "dev", "developer")
	eveCfg := signIn(t, n, hash, "eve", "viewer")
	keyDir := t.TempDir()
	mustRun(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(keyDir, "id"))
	runSkiff(t, []string{"SKIFF_CONFIG=" + devCfg}, "", "keys", "add", filepath.Join(keyDir, "id.pub"), "--name", "laptop").must(t)
	repo.env = append(repo.env, "GIT_SSH_COMMAND=ssh -i "+filepath.Join(keyDir, "id")+
		" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
	sshRemote := "ssh://anyone@" + net.JoinHostPort(n.nodeIP, "2222") + "/shop.git"
	repo.commit(map[string]string{"Dockerfile": appDockerfile, "index.html": "v4\n"})
	out = repo.git("push", sshRemote, "main")
	if !strings.Contains(out, "remote: -----> v") || !strings.Contains(out, "is live") {
		t.Errorf("push over SSH:\n%s", out)
	}
	serves("shop", "/", "v4")
	eveToken := strings.TrimSpace(runSkiff(t, []string{"SKIFF_CONFIG=" + eveCfg}, "", "token", "create", "git", "--role", "viewer").must(t).out)
	head := strings.Fields(repo.git("ls-remote", remote, "refs/heads/main"))[0]
	repo.commit(map[string]string{"index.html": "eve was here\n"})
	out, err = repo.run("push", "https://eve:"+eveToken+"@"+host+"/git/shop.git", "main")
	if err == nil || !strings.Contains(out, "may not push") {
		t.Errorf("a viewer's push: err %v\n%s", err, out)
	}
	if now := strings.Fields(repo.git("ls-remote", remote, "refs/heads/main"))[0]; now != head {
		t.Errorf("a refused push moved main from %s to %s", head, now)
	}

	// A push interrupted during its build: the release is untouched, the
	// ref not moved, the build ends, and the next push works.
	repo.commit(map[string]string{"Dockerfile": strings.Replace(appDockerfile, "RUN mkdir", "RUN sleep 20\nRUN mkdir", 1), "index.html": "v5\n"})
	interruptPush(t, repo, remote)
	if now := strings.Fields(repo.git("ls-remote", remote, "refs/heads/main"))[0]; now != head {
		t.Errorf("an interrupted push moved main from %s to %s", head, now)
	}
	n.eventually(30*time.Second, "the interrupted build ended", func() (bool, string) {
		builds, _, _, err := client.For[*api.Build](n.client, "default").List(context.Background(), api.ListOptions{LabelSelector: api.LabelApp + "=shop"})
		if err != nil {
			return false, err.Error()
		}
		for _, b := range builds {
			if b.Status.Phase == api.BuildRunning {
				return false, b.Name + " still running"
			}
		}
		return true, ""
	})
	serves("shop", "/", "v4")

	total, failed, firstErr := stopLoad()
	t.Logf("load through the router: %d requests, %d failed", total, failed)
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the pushes and the rollback; first: %v", failed, total, firstErr)
	}
	if total < 100 {
		t.Errorf("only %d requests sent under load", total)
	}

	// Bad input: each refused with a clear message, v2 untouched.
	bad := []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"Dockerfile": "FROM skiff.test/busybox:latest\nVOLUME /data\n"}, "line 2"},
		{map[string]string{"Dockerfile": "FROM skiff.test/nothere:1\n"}, "nothere"},
		{map[string]string{"Dockerfile": "", "Procfile": "worker: sleep 100\n", "index.html": ""}, "no web process"},
	}
	for _, b := range bad {
		repo.commit(b.files)
		out, err := repo.run("push", remote, "main")
		if err == nil || !strings.Contains(out, b.want) {
			t.Errorf("push of %v: err %v, want a message with %q:\n%s", b.files, err, b.want, out)
		}
	}
	serves("shop", "/", "v4")

	// A Procfile-only app (no Dockerfile): built on the recipe's base.
	app2 := newAppRepo(t, caFile)
	app2.commit(map[string]string{"Procfile": "web: mkdir -p /tmp/w && echo procfile > /tmp/w/index.html && exec httpd -f -p $PORT -h /tmp/w\n"})
	out, err = app2.run("push", "https://git:"+cfg.Token+"@"+host+"/git/procs.git", "main")
	if err != nil {
		t.Fatalf("push of a Procfile-only app: %v\n%s", err, out)
	}
	serves("procs", "/", "procfile")

	// Scale to zero: idle for a minute, the pods stop; the next request
	// is held while the app starts, and succeeds.
	apps := client.For[*api.App](n.client, "default")
	if err := updateApp(context.Background(), n.client, "default", "procs", func(a *api.App) error {
		a.Spec.ScaleToZero = &api.AppScaleToZero{IdleMinutes: 1}
		return nil
	}, func(*api.App) {}); err != nil {
		t.Fatal(err)
	}
	n.eventually(3*time.Minute, "procs idle with no pods", func() (bool, string) {
		a, err := apps.Get(context.Background(), "procs")
		if err != nil {
			return false, err.Error()
		}
		pods, _, _, _ := n.pods().List(context.Background(), api.ListOptions{LabelSelector: api.LabelApp + "=procs"})
		return a.Status.Idle && len(pods) == 0, fmt.Sprintf("idle %v, %d pods", a.Status.Idle, len(pods))
	})
	start = time.Now()
	code, body, err := get("procs", "/")
	wake := time.Since(start)
	if err != nil || code != 200 || body != "procfile" {
		t.Errorf("first request to an idle app: %d %q %v", code, body, err)
	}
	t.Logf("scale from zero: first request answered in %s", wake.Round(time.Millisecond))
}

// signIn makes a user with a role and signs them in; it returns their
// client config.
func signIn(t *testing.T, n *testNode, caHash, user, role string) string {
	t.Helper()
	const pw = "correct horse battery staple"
	runSkiff(t, []string{"SKIFF_CONFIG=" + n.srv.config}, pw+"\n", "users", "create", user, "--role", role, "--password-stdin").must(t)
	path := filepath.Join(t.TempDir(), user+".yaml")
	runSkiff(t, []string{"SKIFF_CONFIG="}, pw+"\n", "login", n.srv.url, "--user", user, "--password-stdin", "--ca-hash", caHash, "--config", path).must(t)
	return path
}

// interruptPush starts a push and kills git once the build is under way.
func interruptPush(t *testing.T, r *appRepo, remote string) {
	t.Helper()
	cmd := exec.Command("git", "push", remote, "main")
	cmd.Dir, cmd.Env = r.dir, r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "RUN sleep 20") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "RUN sleep 20") {
		t.Errorf("the build never started:\n%s", out.String())
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
}

// destroyApps deletes apps with skiff apps destroy and waits until their
// pods are gone.
func destroyApps(t *testing.T, n *testNode, names ...string) {
	env := []string{"SKIFF_CONFIG=" + n.srv.config}
	for _, name := range names {
		if r := runSkiff(t, env, "", "apps", "destroy", name, "--confirm", name); r.code != 0 && !strings.Contains(r.err, "not found") {
			t.Errorf("skiff apps destroy %s: %s%s", name, r.out, r.err)
		}
	}
	n.eventually(60*time.Second, "the apps' pods are gone", func() (bool, string) {
		pods, _, _, err := n.pods().List(context.Background(), api.ListOptions{LabelSelector: api.LabelApp})
		if err != nil {
			return false, err.Error()
		}
		return len(pods) == 0, fmt.Sprintf("%d pods left", len(pods))
	})
}

// setDeadline sets an app's rollout deadline.
func setDeadline(t *testing.T, b client.Backend, app string, seconds int32) {
	t.Helper()
	if err := updateApp(context.Background(), b, "default", app, func(a *api.App) error {
		a.Spec.HealthCheck.DeadlineSeconds = seconds
		return nil
	}, func(*api.App) {}); err != nil {
		t.Fatal(err)
	}
}

// loadGen sends requests back to back from a few goroutines and counts
// the failures.
type loadGen struct {
	total, failed atomic.Int64
	mu            sync.Mutex
	first         error
}

func (l *loadGen) start(do func() error) (stop func() (total, failed int64, first error)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				err := do()
				l.total.Add(1)
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if l.first == nil {
						l.first = fmt.Errorf("at %s: %w", time.Now().Format("15:04:05.000"), err)
					}
					l.mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return func() (int64, int64, error) {
		cancel()
		wg.Wait()
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.total.Load(), l.failed.Load(), l.first
	}
}
