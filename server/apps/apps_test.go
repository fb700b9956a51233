package apps

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/gitpush"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// env is a Service over a real registry and bbolt store.
type env struct {
	reg *registry.Registry
	svc *Service
	ctx context.Context
	// builds records the requests the fake builder saw.
	builds []BuildRequest
	// buildErr, when set, fails the next build.
	buildErr error
	// builderNodes are the nodes a test's Builder says the build went to.
	builderNodes []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(store.Config{Path: filepath.Join(dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{reg: reg, ctx: ctx}
	e.svc, err = New(Config{
		Backend: reg, BuildDir: filepath.Join(dir, "builds"), NodeName: "n1", Poll: 10 * time.Millisecond,
		Builder: func(ctx context.Context, req BuildRequest) (BuildResult, error) {
			e.builds = append(e.builds, req)
			data, err := os.ReadFile(filepath.Join(req.ContextDir, "Dockerfile"))
			if err != nil {
				return BuildResult{}, err
			}
			req.Out.Write([]byte("Step 1/1 : " + string(data)))
			if err := e.buildErr; err != nil {
				e.buildErr = nil
				return BuildResult{}, err
			}
			return BuildResult{Image: req.Image + "@sha256:" + strings.Repeat("ab", 32), Kind: "dockerfile",
				Processes: map[string]string{"web": ""}, Port: 8080, Steps: 1, Arch: "arm64"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// controller plays the app controller: it settles every release the
// way decide says and records the app's status.
func (e *env) controller(t *testing.T, decide func(*api.Release) (api.ReleasePhase, string)) func() {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			rels, _, _, err := client.For[*api.Release](e.reg, "default").List(ctx, api.ListOptions{})
			if err != nil {
				continue
			}
			for _, r := range rels {
				if r.Status.Phase != api.ReleasePending && r.Status.Phase != "" {
					continue
				}
				r.Status.Phase, r.Status.Message = decide(r)
				if _, err := client.For[*api.Release](e.reg, "default").UpdateStatus(ctx, r); err != nil {
					continue
				}
				if r.Status.Phase != api.ReleaseSucceeded {
					continue
				}
				client.RetryOnConflict(ctx, func() error {
					a, err := client.For[*api.App](e.reg, "default").Get(ctx, r.Spec.App)
					if err != nil {
						return err
					}
					a.Status.Release, a.Status.Version = r.Name, r.Spec.Version
					a.Status.URLs = []string{"http://" + a.Name + ".apps.test"}
					_, err = client.For[*api.App](e.reg, "default").UpdateStatus(ctx, a)
					return err
				})
			}
		}
	}()
	return func() { cancel(); <-done }
}

// repo makes a git repository with a Dockerfile and returns it and the
// commit.
func repo(t *testing.T, dockerfile string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run("add", ".")
	run("commit", "-q", "-m", "first")
	return dir, run("rev-parse", "HEAD")
}

func push(dir, commit string) gitpush.Push {
	u := gitpush.RefUpdate{Old: gitpush.ZeroID, New: commit, Ref: "refs/heads/main"}
	return gitpush.Push{App: "shop", Pusher: gitpush.Identity{Name: "alice"}, Update: u, Updates: []gitpush.RefUpdate{u},
		Repo: filepath.Join(dir, ".git")}
}

func TestReceiveBuildsAndReleases(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Create(e.ctx, "default", "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetConfig(e.ctx, "default", "shop", map[string]string{"GREETING": "hi"}, nil, "alice"); err != nil {
		t.Fatal(err)
	}
	stop := e.controller(t, func(*api.Release) (api.ReleasePhase, string) { return api.ReleaseSucceeded, "" })
	defer stop()
	dir, commit := repo(t, "FROM busybox\n")
	var out bytes.Buffer
	if err := e.svc.Receive(e.ctx, push(dir, commit), &out); err != nil {
		t.Fatalf("Receive: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Building shop from " + commit[:7], "Step 1/1 : FROM busybox", "Releasing v1", "v1 is live at http://shop.apps.test"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("push output lacks %q:\n%s", want, out.String())
		}
	}
	// The build saw the commit's tree, executable bits included.
	if len(e.builds) != 1 {
		t.Fatalf("%d builds, want 1", len(e.builds))
	}
	rel, err := client.For[*api.Release](e.reg, "default").Get(e.ctx, "shop-v1")
	if err != nil {
		t.Fatal(err)
	}
	if rel.Annotations[api.AnnotationImageNode] != "n1" || rel.Annotations[api.AnnotationImageArch] != "arm64" {
		t.Errorf("a release of an arm64 image built on n1 does not say so: %v", rel.Annotations)
	}
	if rel.Spec.Commit != commit || rel.Spec.Port != 8080 || rel.Spec.CreatedBy != "alice" || !strings.HasPrefix(rel.Spec.Image, "skiff.local/apps/shop:shop-") {
		t.Errorf("release spec = %+v", rel.Spec)
	}
	snap, err := client.For[*api.Secret](e.reg, "default").Get(e.ctx, rel.Spec.Config)
	if err != nil || string(snap.Data["GREETING"]) != "hi" {
		t.Fatalf("config snapshot = %v, %v", snap, err)
	}
	builds, _, _, _ := client.For[*api.Build](e.reg, "default").List(e.ctx, api.ListOptions{})
	if len(builds) != 1 || builds[0].Status.Phase != api.BuildSucceeded || builds[0].Status.Node != "n1" || builds[0].Status.CompletionTime == nil {
		t.Fatalf("builds = %+v", builds)
	}
	log, err := os.ReadFile(e.svc.LogPath("default", builds[0].Name))
	if err != nil || !strings.Contains(string(log), "FROM busybox") {
		t.Errorf("build log = %q, %v", log, err)
	}

	// A config change makes v2 with the same image and the new config.
	rel2, err := e.svc.SetConfig(e.ctx, "default", "shop", map[string]string{"GREETING": "hello"}, nil, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if rel2.Spec.Version != 2 || rel2.Spec.Image != rel.Spec.Image || rel2.Spec.Description != "Set GREETING" || rel2.Spec.ConfigHash == rel.Spec.ConfigHash {
		t.Fatalf("v2 = %+v", rel2.Spec)
	}
	if !maps.Equal(rel2.Annotations, rel.Annotations) {
		t.Errorf("v2, the same image, is annotated %v, v1 %v", rel2.Annotations, rel.Annotations)
	}
	// The same value again: nothing to release.
	if r, err := e.svc.SetConfig(e.ctx, "default", "shop", map[string]string{"GREETING": "hello"}, nil, "bob"); err != nil || r != nil {
		t.Fatalf("unchanged config: %v, %v", r, err)
	}
	waitVersion(t, e, 2)
	// A rollback returns v1's image and config, and puts the config back.
	rel3, err := e.svc.Rollback(e.ctx, "default", "shop", "", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if rel3.Spec.Version != 3 || rel3.Spec.Description != "Rollback to v1" || rel3.Spec.Image != rel.Spec.Image {
		t.Fatalf("v3 = %+v", rel3.Spec)
	}
	if snap, err := client.For[*api.Secret](e.reg, "default").Get(e.ctx, rel3.Spec.Config); err != nil || string(snap.Data["GREETING"]) != "hi" {
		t.Fatalf("v3's config snapshot = %v, %v; want v1's", snap, err)
	}
	cfg, _ := e.svc.config(e.ctx, "default", "shop")
	if string(cfg["GREETING"]) != "hi" {
		t.Errorf("config after rollback = %q, want v1's", cfg)
	}
	// v4 has no config vars at all; a rollback to it runs none, not the
	// app's config of now.
	if _, err := e.svc.SetConfig(e.ctx, "default", "shop", nil, []string{"GREETING"}, "dan"); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, e, 4)
	if _, err := e.svc.SetConfig(e.ctx, "default", "shop", map[string]string{"OTHER": "x"}, nil, "dan"); err != nil {
		t.Fatal(err)
	}
	rel6, err := e.svc.Rollback(e.ctx, "default", "shop", "v4", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := client.For[*api.Secret](e.reg, "default").Get(e.ctx, rel6.Spec.Config); err != nil || len(snap.Data) != 0 {
		t.Fatalf("a rollback to a release with no config vars has %v, %v", snap.Data, err)
	}
	if _, err := e.svc.Rollback(e.ctx, "default", "shop", "v9", "carol"); !errdefs.IsNotFound(err) {
		t.Errorf("rollback to a missing release: %v", err)
	}
	// The same config hashes the same in two releases; another, not.
	relX, err := e.svc.SetConfig(e.ctx, "default", "shop", map[string]string{"EXTRA": "1"}, nil, "bob")
	if err != nil {
		t.Fatal(err)
	}
	relY, err := e.svc.SetConfig(e.ctx, "default", "shop", nil, []string{"EXTRA"}, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if relY.Spec.ConfigHash != rel6.Spec.ConfigHash || relX.Spec.ConfigHash == rel6.Spec.ConfigHash {
		t.Errorf("config hashes: v6 %s, then %s, then %s; want the first = the last != the middle", rel6.Spec.ConfigHash, relX.Spec.ConfigHash, relY.Spec.ConfigHash)
	}

}

func waitVersion(t *testing.T, e *env, v int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		a, err := client.For[*api.App](e.reg, "default").Get(e.ctx, "shop")
		if err == nil && a.Status.Version == v {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("app never reached v%d", v)
}

func TestReceiveRefusesFailedBuildsAndReleases(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Create(e.ctx, "default", "shop"); err != nil {
		t.Fatal(err)
	}
	stop := e.controller(t, func(r *api.Release) (api.ReleasePhase, string) {
		if r.Spec.Version == 1 {
			return api.ReleaseSucceeded, ""
		}
		return api.ReleaseFailed, "web: readiness probe failed: HTTP 500"
	})
	defer stop()
	dir, commit := repo(t, "FROM busybox\n")
	// A build that fails makes no release.
	e.buildErr = errors.New("line 1: FROM nope: the image is not here")
	var out bytes.Buffer
	err := e.svc.Receive(e.ctx, push(dir, commit), &out)
	if err == nil || !strings.Contains(err.Error(), "FROM nope") {
		t.Fatalf("failed build: %v", err)
	}
	if rels, _ := e.svc.Releases(e.ctx, "default", "shop"); len(rels) != 0 {
		t.Fatalf("a failed build made releases: %v", rels)
	}
	builds, _, _, _ := client.For[*api.Build](e.reg, "default").List(e.ctx, api.ListOptions{})
	if len(builds) != 1 || builds[0].Status.Phase != api.BuildFailed || !strings.Contains(builds[0].Status.Message, "FROM nope") {
		t.Fatalf("builds = %+v", builds)
	}
	if err := e.svc.Receive(e.ctx, push(dir, commit), &out); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, e, 1)
	// A release that fails is the push's error, naming what keeps serving.
	out.Reset()
	err = e.svc.Receive(e.ctx, push(dir, commit), &out)
	if err == nil || !strings.Contains(err.Error(), "release v2 failed: web: readiness probe failed: HTTP 500; v1 keeps serving") {
		t.Fatalf("failed release: %v\n%s", err, out.String())
	}
	// Rollback without a target skips the failed release.
	if _, err := e.svc.Rollback(e.ctx, "default", "shop", "", "x"); err == nil || !errors.Is(err, errdefs.ErrBadRequest) {
		t.Errorf("rollback with only one good release: %v", err)
	}
}

// TestBuildStatusNamesItsNode: while a build runs on a builder node, and
// after it failed there, its status names that node; one that fell back
// to the server's node names the server's.
func TestBuildStatusNamesItsNode(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Create(e.ctx, "default", "shop"); err != nil {
		t.Fatal(err)
	}
	builds := client.For[*api.Build](e.reg, "default")
	var running []string // the node the status named during each build
	e.svc.cfg.Builder = func(ctx context.Context, req BuildRequest) (BuildResult, error) {
		for _, n := range e.builderNodes {
			req.Node(n)
		}
		bs, _, _, err := builds.List(ctx, api.ListOptions{})
		if err != nil {
			return BuildResult{}, err
		}
		for _, b := range bs {
			if b.Status.Phase == api.BuildRunning {
				running = append(running, b.Status.Node)
			}
		}
		return BuildResult{}, errors.New("line 2: RUN false: exit status 1")
	}
	dir, commit := repo(t, "FROM busybox\nRUN false\n")
	for _, tc := range []struct {
		nodes []string
		want  string
	}{
		{nil, "n1"},
		{[]string{"builder-1"}, "builder-1"},
		{[]string{"builder-1", "n1"}, "n1"}, // busy: built on the server's node
	} {
		e.builderNodes, running = tc.nodes, nil
		before, _, _, _ := builds.List(e.ctx, api.ListOptions{})
		if err := e.svc.Receive(e.ctx, push(dir, commit), io.Discard); err == nil {
			t.Fatal("a failing build was accepted")
		}
		after, _, _, _ := builds.List(e.ctx, api.ListOptions{})
		if len(after) != len(before)+1 {
			t.Fatalf("%d builds before the push, %d after", len(before), len(after))
		}
		last := after[0]
		for _, b := range after {
			if !slices.ContainsFunc(before, func(o *api.Build) bool { return o.Name == b.Name }) {
				last = b
			}
		}
		if !slices.Equal(running, []string{tc.want}) || last.Status.Phase != api.BuildFailed || last.Status.Node != tc.want {
			t.Errorf("builder sent to %v: status named %v while running, %s on %q after; want %s", tc.nodes, running, last.Status.Phase, last.Status.Node, tc.want)
		}
	}
}

func TestSetConfigRefusesBadNames(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Create(e.ctx, "default", "shop"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "1A", "A-B", "A B"} {
		if _, err := e.svc.SetConfig(e.ctx, "default", "shop", map[string]string{k: "v"}, nil, "x"); !errors.Is(err, errdefs.ErrBadRequest) {
			t.Errorf("SetConfig(%q) = %v, want a bad request", k, err)
		}
	}
	// Before any release the config is kept and no release made.
	r, err := e.svc.SetConfig(e.ctx, "default", "shop", map[string]string{"A": "1"}, nil, "x")
	if err != nil || r != nil {
		t.Fatalf("SetConfig before a deploy = %v, %v", r, err)
	}
}

func TestAppNamesAreUniqueAcrossNamespaces(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Create(e.ctx, "default", "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[*api.Namespace](e.reg, "").Create(e.ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-a"}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Create(e.ctx, "team-a", "shop")
	if err == nil || !strings.Contains(err.Error(), "unique in the cluster") {
		t.Fatalf("second app named shop: %v", err)
	}
	a, err := e.svc.Find(e.ctx, "shop")
	if err != nil || a.Namespace != "default" {
		t.Fatalf("Find = %v, %v", a, err)
	}
	if _, err := e.svc.Find(e.ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("Find(nope) = %v", err)
	}
}

func TestExtractBounds(t *testing.T) {
	mk := func(files map[string]string) *tar.Reader {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for name, body := range files {
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
			tw.Write([]byte(body))
		}
		tw.Close()
		return tar.NewReader(&buf)
	}
	if err := extract(mk(map[string]string{"a": "12345", "b": "12345"}), t.TempDir(), 3<<20, 10); err != nil {
		t.Errorf("10 bytes with a bound of 3 MiB: %v", err)
	}
	if err := extract(mk(map[string]string{"a": strings.Repeat("x", 2<<20), "b": strings.Repeat("y", 2<<20)}), t.TempDir(), 3<<20, 10); err == nil || !strings.Contains(err.Error(), "more than 3 MiB") {
		t.Errorf("4 MiB with a bound of 3 MiB: %v", err)
	}
	if err := extract(mk(map[string]string{"a": "12345", "b": "12345"}), t.TempDir(), 8, 10); err == nil || !strings.Contains(err.Error(), "more than 0 MiB") {
		t.Errorf("10 bytes with a bound of 8: %v", err)
	}
	if err := extract(mk(map[string]string{"a": "1", "b": "2", "c": "3"}), t.TempDir(), 100, 2); err == nil || !strings.Contains(err.Error(), "more than 2 files") {
		t.Errorf("3 files with a bound of 2: %v", err)
	}
	dir := t.TempDir()
	if err := extract(mk(map[string]string{"x/y": "ok"}), dir, 100, 10); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "x", "y")); string(b) != "ok" {
		t.Errorf("x/y = %q", b)
	}
	// A link leading out, then a file through it: refused, nothing outside.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "out", Linkname: "..", Typeflag: tar.TypeSymlink})
	tw.WriteHeader(&tar.Header{Name: "out/escaped", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	parent := t.TempDir()
	dir = filepath.Join(parent, "src")
	os.Mkdir(dir, 0o755)
	if err := extract(tar.NewReader(&buf), dir, 100, 10); err == nil {
		t.Error("a file written through a link out of the tree was accepted")
	}
	if _, err := os.Stat(filepath.Join(parent, "escaped")); err == nil {
		t.Error("a file escaped the checkout")
	}
}

func TestCappedWriterKeepsTheStart(t *testing.T) {
	var buf bytes.Buffer
	w := &cappedWriter{w: &buf, left: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := buf.String(); !strings.HasPrefix(got, "abcde\n[the build log is cut here") || strings.Contains(got, "hij") {
		t.Errorf("kept %q", got)
	}
}

func TestRecoverEndsBuildsOfAStoppedServer(t *testing.T) {
	e := newEnv(t)
	a, err := e.svc.Create(e.ctx, "default", "shop")
	if err != nil {
		t.Fatal(err)
	}
	builds := client.For[*api.Build](e.reg, "default")
	// One built here, one on a builder node (through its agent, which
	// ended it when the server's request did), one done.
	for _, b := range []struct {
		node  string
		phase api.BuildPhase
	}{{"n1", api.BuildRunning}, {"builder", api.BuildRunning}, {"done", api.BuildSucceeded}} {
		if _, err := builds.Create(e.ctx, &api.Build{ObjectMeta: api.ObjectMeta{Name: "b-" + b.node, Namespace: "default", OwnerReferences: ownedBy(a)},
			Spec:   api.BuildSpec{App: "shop", Commit: strings.Repeat("a", 40)},
			Status: api.BuildStatus{Phase: b.phase, Node: b.node}}); err != nil {
			t.Fatal(err)
		}
	}
	left := filepath.Join(e.svc.cfg.BuildDir, "default", "b-n1-src-123")
	os.MkdirAll(left, 0o700)
	if err := e.svc.Recover(e.ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b-n1", "b-builder"} {
		b, _ := builds.Get(e.ctx, name)
		if b.Status.Phase != api.BuildFailed || !strings.Contains(b.Status.Message, "server stopped") || b.Status.CompletionTime == nil {
			t.Errorf("running build %s after Recover: %+v", name, b.Status)
		}
	}
	if done, _ := builds.Get(e.ctx, "b-done"); done.Status.Phase != api.BuildSucceeded || done.Status.CompletionTime != nil {
		t.Errorf("a finished build was rewritten: %+v", done.Status)
	}
	if _, err := os.Stat(left); err == nil {
		t.Error("a checkout was left")
	}
}

func TestPushFollowsAConfigChangeMadeDuringItsRollout(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Create(e.ctx, "default", "shop"); err != nil {
		t.Fatal(err)
	}
	// The controller supersedes v1 as soon as v2 exists, and settles v2.
	stop := e.controller(t, func(r *api.Release) (api.ReleasePhase, string) {
		if r.Spec.Version == 1 {
			for {
				if _, err := client.For[*api.Release](e.reg, "default").Get(e.ctx, "shop-v2"); err == nil {
					return api.ReleaseSuperseded, ""
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		return api.ReleaseSucceeded, ""
	})
	defer stop()
	go func() {
		for {
			if _, err := client.For[*api.Release](e.reg, "default").Get(e.ctx, "shop-v1"); err == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		e.svc.SetConfig(e.ctx, "default", "shop", map[string]string{"A": "1"}, nil, "bob")
	}()
	dir, commit := repo(t, "FROM busybox\n")
	var out bytes.Buffer
	if err := e.svc.Receive(e.ctx, push(dir, commit), &out); err != nil {
		t.Fatalf("a push whose release a config change replaced: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "v2 (Set A) replaces v1 with the same image") {
		t.Errorf("push output:\n%s", out.String())
	}
}
