package build

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/skiffhq/skiff/internal/containerdtest"
)

// testBuilder is a Builder on the private test containerd whose RUN
// containers go under a cgroup of the test's own, removed at the end.
func testBuilder(t testing.TB) *Builder {
	t.Helper()
	c := testClient(t)
	parent := fmt.Sprintf("/skiff-buildtest-%d", os.Getpid())
	t.Cleanup(func() { containerdtest.RemoveCgroup(parent) })
	return &Builder{Client: c, Namespace: testNamespace, CgroupParent: parent}
}

// writeTree writes files (slash paths → content) under a new temp dir.
func newTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		putFile(t, dir, name, content)
	}
	return dir
}

func putFile(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// imageName is a fresh image name for the test.
func imageName(t testing.TB) string {
	n := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	return "skiff.local/test/" + n + ":" + randomID()
}

// runImage starts a container of image (its own command unless args are
// given), waits for it to exit and returns its output.
func runImage(t testing.TB, c *containerd.Client, image string, args ...string) string {
	t.Helper()
	return containerdtest.RunImage(t, c, testNamespace, fmt.Sprintf("/skiff-buildtest-%d", os.Getpid()), image, args...)
}

func build(t testing.TB, b *Builder, req Request) (*Result, string) {
	t.Helper()
	var log bytes.Buffer
	req.Out = &log
	res, err := b.Build(context.Background(), req)
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, log.String())
	}
	return res, log.String()
}

func TestBuildRunsAndCaches(t *testing.T) {
	b := testBuilder(t)
	dir := newTree(t, map[string]string{
		"Dockerfile": `FROM ` + testBase + `
WORKDIR /app
COPY hello.txt ./
RUN echo built > /app/built.txt && cat hello.txt >> /app/built.txt
ENV GREETING=hi
COPY extra.txt /app/
CMD ["/bin/sh", "-c", "cat /app/built.txt /app/extra.txt; echo $GREETING; pwd"]
`,
		"hello.txt": "hello\n",
		"extra.txt": "extra\n",
	})
	name := imageName(t)
	req := Request{ContextDir: dir, Image: name, Labels: map[string]string{"skiff.app": "t"}}
	res, log := build(t, b, req)
	if got, want := runImage(t, b.Client, name), "built\nhello\nextra\nhi\n/app\n"; got != want {
		t.Fatalf("image output: got %q, want %q\nlog:\n%s", got, want, log)
	}
	if res.Kind != "dockerfile" || res.Steps != 6 || res.Config.Labels["skiff.app"] != "t" || res.Config.WorkingDir != "/app" {
		t.Errorf("result: got kind %q steps %d labels %v workdir %q", res.Kind, res.Steps, res.Config.Labels, res.Config.WorkingDir)
	}
	if res.Image != PinnedName(name, res.Digest) || res.Processes["web"] != "" || len(res.Processes) != 1 {
		t.Errorf("result: got image %q processes %v", res.Image, res.Processes)
	}
	if img, err := b.Client.ImageService().Get(namespaces.WithNamespace(context.Background(), testNamespace), res.Image); err != nil || img.Target.Digest != res.Digest {
		t.Errorf("the image by digest, %s: %v", res.Image, err)
	}
	if !strings.Contains(log, "Step 3/6 : RUN echo built") {
		t.Errorf("log lacks the RUN step:\n%s", log)
	}

	res2, log := build(t, b, req)
	if res2.Digest != res.Digest {
		t.Errorf("identical rebuild: got digest %s, want the first build's %s", res2.Digest, res.Digest)
	}
	if res2.CachedSteps != res2.Steps || res2.Digest == "" {
		t.Errorf("identical rebuild: got %d of %d steps cached, want all\nlog:\n%s", res2.CachedSteps, res2.Steps, log)
	}
	if !strings.Contains(log, " ---> Using cache") {
		t.Errorf("log does not say it used the cache:\n%s", log)
	}

	// A changed file in the second COPY: the steps before it are cached,
	// it and CMD are not.
	putFile(t, dir, "extra.txt", "changed\n")
	res3, log := build(t, b, req)
	if res3.CachedSteps != 4 {
		t.Errorf("after changing extra.txt: got %d cached steps, want 4 (WORKDIR, COPY, RUN, ENV)\nlog:\n%s", res3.CachedSteps, log)
	}
	if got, want := runImage(t, b.Client, name), "built\nhello\nchanged\nhi\n/app\n"; got != want {
		t.Errorf("image output after the change: got %q, want %q", got, want)
	}
	// A changed file in the first COPY reruns the RUN after it.
	putFile(t, dir, "hello.txt", "hello again\n")
	res4, log := build(t, b, req)
	if res4.CachedSteps != 1 {
		t.Errorf("after changing hello.txt: got %d cached steps, want 1 (WORKDIR)\nlog:\n%s", res4.CachedSteps, log)
	}
	if got, want := runImage(t, b.Client, name), "built\nhello again\nchanged\nhi\n/app\n"; got != want {
		t.Errorf("image output after the change: got %q, want %q", got, want)
	}
}

func TestBuildMultiStage(t *testing.T) {
	b := testBuilder(t)
	dir := newTree(t, map[string]string{
		"Dockerfile": `FROM skiff.test/nosuch:1 AS unused
RUN exit 1

FROM ` + testBase + ` AS build
RUN mkdir /out && echo artifact > /out/a.txt

FROM ` + testBase + `
COPY --from=build /out/a.txt /a.txt
COPY --from=build /out /copied/
COPY --from=` + testBase + ` /www/index.html /index.html
HEALTHCHECK --interval=5s CMD ["true"]
CMD ["cat", "/a.txt", "/copied/a.txt", "/index.html"]
`,
	})
	name := imageName(t)
	res, log := build(t, b, Request{ContextDir: dir, Image: name})
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	img, err := b.Client.GetImage(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := content.ReadBlob(ctx, b.Client.ContentStore(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"Healthcheck":{"Test":["CMD","true"],"Interval":5000000000}`; !strings.Contains(string(raw), want) {
		t.Errorf("image config lacks %s:\n%s", want, raw)
	}
	if res.Healthcheck == nil || res.Healthcheck.Interval != 5*time.Second {
		t.Errorf("result healthcheck: got %+v", res.Healthcheck)
	}
	if got, want := runImage(t, b.Client, name), "artifact\nartifact\nhello from skiff"; !strings.HasPrefix(got, want) {
		t.Errorf("image output: got %q, want %q…\nlog:\n%s", got, want, log)
	}
	if res.Steps != 6 {
		t.Errorf("got %d steps, want 6 (the unused stage skipped)", res.Steps)
	}
}

func TestBuildCopySemantics(t *testing.T) {
	b := testBuilder(t)
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "pkg/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "pkg/data.txt", Typeflag: tar.TypeReg, Mode: 0o600, Size: 5, Uid: 7, Gid: 8})
	tw.Write([]byte("data\n"))
	tw.Close()
	dir := newTree(t, map[string]string{
		"Dockerfile": `FROM ` + testBase + `
COPY --chown=nobody:nobody --chmod=640 a.txt /dst/
COPY *.md none*.txt /docs/
COPY src /srcdir
COPY link.txt /link-copy.txt
ADD pkg.tar /opt/
ENV PATH=/opt/bin:$PATH
USER nobody
WORKDIR /tmp
RUN echo "$(id -u) $PATH $(pwd)" > /tmp/run.txt
CMD ["/bin/sh", "-c", "stat -c '%u:%g %a %n' /dst/a.txt /opt/pkg/data.txt; ls /docs /srcdir; cat /link-copy.txt /tmp/run.txt; test -e /srcdir/secret.key && echo LEAK; true"]
`,
		".dockerignore": "**/*.key\n",
		"a.txt":         "a\n",
		"one.md":        "1", "two.md": "2",
		"src/main.go":    "package main",
		"src/secret.key": "no",
		"pkg.tar":        tarball.String(),
	})
	if err := os.Symlink("a.txt", filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	name := imageName(t)
	res, log := build(t, b, Request{ContextDir: dir, Image: name})
	got := runImage(t, b.Client, name)
	// WORKDIR /tmp exists in the base: no layer for it.
	if n := len(res.Config.Env); n == 0 {
		t.Errorf("config has no Env")
	}
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	img, err := b.Client.GetImage(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := img.RootFS(ctx); err != nil || len(ids) != 7 {
		t.Errorf("got %d layers (%v), want 7: the base's, 5 COPY/ADD and the RUN", len(ids), err)
	}
	want := "65534:65534 640 /dst/a.txt\n7:8 600 /opt/pkg/data.txt\n/docs:\none.md\ntwo.md\n\n/srcdir:\nmain.go\na\n65534 /opt/bin:/bin:/usr/bin /tmp\n"
	if got != want {
		t.Errorf("image output: got\n%s\nwant\n%s\nlog:\n%s", got, want, log)
	}
}

func TestBuildFailures(t *testing.T) {
	b := testBuilder(t)
	tests := []struct {
		name       string
		dockerfile string
		timeout    time.Duration
		memory     int64
		want       []string
	}{
		{"run exits non-zero", "FROM " + testBase + "\nRUN echo about to fail && exit 3\n", 0, 0,
			[]string{"line 2: RUN echo about to fail && exit 3: exit code 3"}},
		// The host's network is shared, so no raw sockets (CAP_NET_RAW
		// dropped): busybox ping needs one.
		{"raw sockets", "FROM " + testBase + "\nRUN ping -c 1 -W 1 127.0.0.1\n", 0, 0,
			[]string{"line 2: RUN ping -c 1 -W 1 127.0.0.1: exit code"}},
		{"missing base image", "FROM skiff.test/nosuch:1\nRUN true\n", 0, 0,
			[]string{"line 1: FROM skiff.test/nosuch:1", "not in containerd", "skiff images import"}},
		{"missing copy source", "FROM " + testBase + "\nCOPY nothere /x\n", 0, 0,
			[]string{"line 2", `"nothere"`}},
		{"timeout", "FROM " + testBase + "\nRUN sleep 30\n", 2 * time.Second, 0,
			[]string{"build timed out after 2s"}},
		{"out of memory", "FROM " + testBase + "\nRUN head -c 200m /dev/zero | tail > /dev/null\n", 0, 32 << 20,
			[]string{"line 2: RUN head -c 200m", "ran out of its memory limit of 32 MiB"}},
		{"killed, not out of memory", "FROM " + testBase + "\nRUN sh -c 'kill -9 $$'; exit $?\n", 0, 32 << 20,
			[]string{"line 2: RUN sh -c 'kill -9 $$'; exit $?: exit code 137"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newTree(t, map[string]string{"Dockerfile": tt.dockerfile})
			name := imageName(t)
			var log bytes.Buffer
			started := time.Now()
			_, err := b.Build(context.Background(), Request{ContextDir: dir, Image: name, Out: &log, Timeout: tt.timeout, Memory: tt.memory})
			if err == nil {
				t.Fatalf("build succeeded, want an error with %q\nlog:\n%s", tt.want, log.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error: got %q, want it to contain %q", err, w)
				}
			}
			if !strings.Contains(log.String(), err.Error()) {
				t.Errorf("log lacks the error:\n%s", log.String())
			}
			if tt.timeout > 0 && time.Since(started) > tt.timeout+10*time.Second {
				t.Errorf("a build with timeout %s took %s", tt.timeout, time.Since(started))
			}
			ctx := namespaces.WithNamespace(context.Background(), testNamespace)
			if _, err := b.Client.GetImage(ctx, name); !cerrdefs.IsNotFound(err) {
				t.Errorf("after a failed build, image %s: got err %v, want not found", name, err)
			}
			cs, _ := b.Client.Containers(ctx)
			for _, c := range cs {
				if strings.HasPrefix(c.ID(), "skiff-build-") {
					t.Errorf("build container %s left behind", c.ID())
				}
			}
		})
	}
}

func TestBuildProcfileApp(t *testing.T) {
	b := testBuilder(t)
	dir := newTree(t, map[string]string{
		"Procfile": "web: echo serving on $PORT\nworker: echo working\n",
		"app.sh":   "#!/bin/sh\n",
	})
	r := Recipes{StaticImage: testBase, PythonImage: testBase, NodeImage: testBase, GoBuildImage: testBase,
		GoRunImage: testBase, ProcfileImage: testBase, Port: 8080}
	name := imageName(t)
	res, log := build(t, b, Request{ContextDir: dir, Image: name, Recipes: r})
	if res.Kind != string(KindProcfile) || res.Port != 8080 {
		t.Errorf("got kind %q port %d, want procfile 8080", res.Kind, res.Port)
	}
	want := map[string]string{"web": "echo serving on $PORT", "worker": "echo working"}
	if fmt.Sprint(res.Processes) != fmt.Sprint(want) {
		t.Errorf("processes: got %v, want %v", res.Processes, want)
	}
	if got := runImage(t, b.Client, name); got != "serving on 8080\n" {
		t.Errorf("image output: got %q, want %q\nlog:\n%s", got, "serving on 8080\n", log)
	}
	if got := runImage(t, b.Client, name, "cat", "/app/app.sh"); got != "#!/bin/sh\n" {
		t.Errorf("/app/app.sh: got %q", got)
	}
}

func TestPrune(t *testing.T) {
	b := testBuilder(t)
	dir := newTree(t, map[string]string{
		"Dockerfile": "FROM " + testBase + "\nRUN echo prune-" + randomID() + " > /f\nCOPY a /a\n",
		"a":          "a",
	})
	name := imageName(t)
	build(t, b, Request{ContextDir: dir, Image: name})
	n, err := b.Prune(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := build(t, b, Request{ContextDir: dir, Image: name})
	if res.CachedSteps != res.Steps {
		t.Errorf("after pruning what is older than an hour (%d removed): got %d of %d steps cached, want all", n, res.CachedSteps, res.Steps)
	}
	if n, err = b.Prune(context.Background(), -time.Second); err != nil || n < 2 {
		t.Fatalf("prune everything: got %d, %v; want at least this build's 2", n, err)
	}
	res, _ = build(t, b, Request{ContextDir: dir, Image: name})
	if res.CachedSteps != 0 {
		t.Errorf("after pruning all: got %d cached steps, want 0", res.CachedSteps)
	}
	// The image built before the prune still runs.
	runImage(t, b.Client, name, "cat", "/a")
}

func TestBuildStaticSite(t *testing.T) {
	b := testBuilder(t)
	dir := newTree(t, map[string]string{
		"index.html":   "<h1>site</h1>\n",
		"css/site.css": "body{}\n",
		"Procfile":     "web: exec httpd -f -p $PORT -h /www\n",
		".gitignore":   "x\n",
		".git/config":  "[core]\n",
	})
	r := Recipes{StaticImage: testBase, PythonImage: testBase, NodeImage: testBase, GoBuildImage: testBase,
		GoRunImage: testBase, ProcfileImage: testBase, Port: 8080}
	name := imageName(t)
	res, log := build(t, b, Request{ContextDir: dir, Image: name, Recipes: r})
	if res.Kind != string(KindStatic) {
		t.Errorf("got kind %q, want static", res.Kind)
	}
	// healthz comes with the test image.
	if got, want := runImage(t, b.Client, name, "ls", "-A", "/www"), "css\nhealthz\nindex.html\n"; got != want {
		t.Errorf("web root: got %q, want %q (no Procfile, .git or .gitignore)\nlog:\n%s", got, want, log)
	}
	if got := runImage(t, b.Client, name, "cat", "/www/index.html", "/www/css/site.css"); got != "<h1>site</h1>\nbody{}\n" {
		t.Errorf("site files: got %q", got)
	}
}

// TestBuildResolvesBase: FROM finds an image by its normalized name
// (busybox is docker.io/library/busybox:latest), and asks Pull for one
// containerd does not have.
func TestBuildResolvesBase(t *testing.T) {
	b := testBuilder(t)
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	base, err := b.Client.GetImage(ctx, testBase)
	if err != nil {
		t.Fatal(err)
	}
	alias := func(name string) (containerd.Image, error) {
		is := b.Client.ImageService()
		is.Delete(ctx, name)
		rec, err := is.Create(ctx, images.Image{Name: name, Target: base.Target()})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { is.Delete(ctx, name) })
		return containerd.NewImage(b.Client, rec), nil
	}
	if _, err := alias("docker.io/library/busybox:latest"); err != nil {
		t.Fatal(err)
	}
	var pulled []string
	b.Pull = func(ctx context.Context, ref string) (containerd.Image, error) {
		pulled = append(pulled, ref)
		return alias("skiff.test/pulled:" + strings.TrimPrefix(ref, "skiff.test/pulled:"))
	}
	dir := newTree(t, map[string]string{"Dockerfile": "FROM busybox AS a\nRUN echo a > /a\nFROM skiff.test/pulled:1\nCOPY --from=a /a /a\nCMD [\"cat\", \"/a\"]\n"})
	name := imageName(t)
	build(t, b, Request{ContextDir: dir, Image: name})
	if got := runImage(t, b.Client, name); got != "a\n" {
		t.Errorf("image output: got %q, want %q", got, "a\n")
	}
	if fmt.Sprint(pulled) != "[skiff.test/pulled:1]" {
		t.Errorf("pulled %v, want [skiff.test/pulled:1]", pulled)
	}
}

// TestBuildConcurrent: two builds of one Dockerfile at once both succeed
// (the second to commit a step uses the first's snapshot).
func TestBuildConcurrent(t *testing.T) {
	b := testBuilder(t)
	dir := newTree(t, map[string]string{
		"Dockerfile": "FROM " + testBase + "\nCOPY f /f\nRUN echo " + randomID() + " >> /f\nCMD [\"cat\", \"/f\"]\n",
		"f":          "f\n",
	})
	names := []string{imageName(t), imageName(t)}
	errs := make(chan error, len(names))
	for _, name := range names {
		go func() {
			_, err := b.Build(context.Background(), Request{ContextDir: dir, Image: name})
			errs <- err
		}()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	a, c := runImage(t, b.Client, names[0]), runImage(t, b.Client, names[1])
	if a != c || !strings.HasPrefix(a, "f\n") {
		t.Errorf("images differ or are wrong: %q and %q", a, c)
	}
}

func TestPinnedName(t *testing.T) {
	d := digest.FromString("x")
	for in, want := range map[string]string{
		"skiff.local/apps/shop:shop-b1": "skiff.local/apps/shop@" + d.String(),
		"localhost:5000/shop:b1":        "localhost:5000/shop@" + d.String(),
		"localhost:5000/shop":           "localhost:5000/shop@" + d.String(),
		"shop":                          "shop@" + d.String(),
	} {
		if got := PinnedName(in, d); got != want {
			t.Errorf("PinnedName(%q) = %q, want %q", in, got, want)
		}
	}
}

// An app's build starts from its own app's images, never another's.
func TestBuildPrivateImages(t *testing.T) {
	b := testBuilder(t)
	const private = "skiff.local/apps/"
	suffix := randomID()
	alpha, beta := private+"alpha"+suffix, private+"beta"+suffix
	uid := "uid-alpha"
	run := func(image, dockerfile string) error {
		dir := newTree(t, map[string]string{"Dockerfile": dockerfile})
		_, err := b.Build(context.Background(), Request{ContextDir: dir, Image: image, PrivateImages: private,
			ImageLabels: map[string]string{"skiff.dev/app-uid": uid}})
		return err
	}
	if err := run(alpha+":a1", "FROM "+testBase+"\nRUN echo alpha > /secret\n"); err != nil {
		t.Fatal(err)
	}
	if err := run(alpha+":a2", "FROM "+alpha+":a1\nRUN cat /secret\n"); err != nil {
		t.Errorf("a build from its own app's image: %v", err)
	}
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	if img, err := b.Client.ImageService().Get(ctx, alpha+":a1"); err != nil || img.Labels["skiff.dev/app-uid"] != uid {
		t.Errorf("the built image's labels: %v, %v", img.Labels, err)
	}
	// A new app of the same name (another UID) does not build on what
	// the deleted one left.
	uid = "uid-alpha-again"
	if err := run(alpha+":a3", "FROM "+alpha+":a1\nRUN cat /secret\n"); err == nil || !strings.Contains(err.Error(), "not built for this app") {
		t.Errorf("a build from a deleted namesake's image: %v, want refused", err)
	}
	uid = "uid-alpha"
	for _, df := range []string{
		"FROM " + alpha + ":a1\nRUN cat /secret\n",
		"FROM SKIFF.LOCAL:443/apps/alpha" + suffix + ":a1\n",
		"ARG BASE=" + alpha + ":a1\nFROM $BASE\n",
		"FROM " + alpha + ":a1 AS a\nFROM " + testBase + "\nCOPY --from=a /secret /stolen\n",
		"FROM " + testBase + "\nCOPY --from=" + alpha + ":a1 /secret /stolen\n",
	} {
		err := run(beta+":b1", df)
		if err == nil || !strings.Contains(err.Error(), "another app's") || !strings.Contains(err.Error(), "line ") {
			t.Errorf("beta built with %q: err %v, want another app's image refused with its line", df, err)
		}
	}
}

func TestHostFolded(t *testing.T) {
	for in, want := range map[string]string{
		"SKIFF.LOCAL:443/apps/x:1": "skiff.local/apps/x:1",
		"skiff.local/apps/x":       "skiff.local/apps/x",
		"Localhost:5000/a/B":       "localhost/a/B", // a port makes it a host
		"localhost:5000/a/B":       "localhost/a/B",
		"busybox:1":                "busybox:1",
		"library/Busybox":          "library/Busybox",
	} {
		if got := hostFolded(in); got != want {
			t.Errorf("hostFolded(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRepository(t *testing.T) {
	d := digest.FromString("x").String()
	for _, tc := range []struct{ ref, want string }{
		{"skiff.local/apps/web:build-1", "skiff.local/apps/web"},
		{"skiff.local/apps/web@" + d, "skiff.local/apps/web"},
		{"skiff.local/apps/web:build-1@" + d, "skiff.local/apps/web"},
		{"skiff.local/apps/web", "skiff.local/apps/web"},
		{"registry:5000/apps/web", "registry:5000/apps/web"},
		{"registry:5000/apps/web:v1", "registry:5000/apps/web"},
	} {
		if got := Repository(tc.ref); got != tc.want {
			t.Errorf("Repository(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}
