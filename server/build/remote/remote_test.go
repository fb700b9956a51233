package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/build"
)

// builderNode is a handler on the test containerd, served over HTTP/2 and
// TLS, with its build directory.
type builderNode struct {
	srv *httptest.Server
	dir string
	b   *build.Builder
}

func newBuilderNode(t *testing.T) *builderNode { return newBuilderNodeProto(t, "http2") }

// newBuilderNodeProto serves the node over proto: "http2" (TLS, as the
// agent) or "http1".
func newBuilderNodeProto(t *testing.T, proto string) *builderNode {
	t.Helper()
	b := testBuilder(t)
	n := &builderNode{dir: filepath.Join(t.TempDir(), "builds"), b: b}
	h, err := NewHandler(HandlerConfig{Dir: n.dir, Builder: func(context.Context) (*build.Builder, error) { return b, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if proto == "http1" {
		n.srv = httptest.NewServer(h)
	} else {
		n.srv = newTLSServer(h)
	}
	t.Cleanup(n.srv.Close)
	return n
}

func (n *builderNode) build(ctx context.Context, dir string, req Request, out *syncBuffer) (Result, error) {
	return Build(ctx, n.srv.Client(), n.srv.URL+"/build", dir, req, out)
}

// newTLSServer serves h over TLS with HTTP/2, as the agent does.
func newTLSServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	return srv
}

// imageName is a fresh image name for the test.
func imageName(t testing.TB) string {
	n := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	return fmt.Sprintf("skiff.local/test/%s:b%d", n, time.Now().UnixNano())
}

func TestRemoteBuild(t *testing.T) {
	n := newBuilderNode(t)
	tree := makeTree(t, []entry{
		{name: "Dockerfile", content: "FROM " + testBase + "\nRUN echo built-on-the-node > /built.txt\nCOPY app/ /app/\nEXPOSE 8080\n"},
		{name: "app/hello.txt", content: "hello\n"},
		{name: "app/run.sh", content: "#!/bin/sh\necho run\n", mode: 0o750},
		{name: "app/hello-link", link: "hello.txt"},
		{name: "Procfile", content: "web: /app/run.sh\nworker: sleep 1\n"},
	})
	var out syncBuffer
	req := Request{Image: imageName(t), TimeoutSeconds: 120}
	res, err := n.build(context.Background(), tree, req, &out)
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, out.String())
	}
	log := out.String()
	for _, want := range []string{"Step 1/3 : RUN echo built-on-the-node", "Step 3/3 : EXPOSE 8080", "Successfully built"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	repo, _, _ := strings.Cut(req.Image, ":b")
	if !strings.HasPrefix(res.Image, repo+"@sha256:") || res.Image != repo+"@"+res.Digest {
		t.Errorf("Image %q, Digest %q: want %s@<digest>", res.Image, res.Digest, repo)
	}
	if res.Kind != "dockerfile" || res.Port != 8080 || res.Steps != 3 || res.CachedSteps != 0 || res.Arch != runtime.GOARCH {
		t.Errorf("got %+v, want kind dockerfile, port 8080, 3 steps none cached, arch %s", res, runtime.GOARCH)
	}
	if res.Processes["web"] != "/app/run.sh" || res.Processes["worker"] != "sleep 1" {
		t.Errorf("processes %v, want the Procfile's", res.Processes)
	}
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	for _, name := range []string{res.Image, req.Image} {
		img, err := n.b.Client.GetImage(ctx, name)
		if err != nil {
			t.Fatalf("image %s is not in the builder's containerd: %v", name, err)
		}
		if got := img.Target().Digest.String(); got != res.Digest {
			t.Errorf("image %s is %s, want %s", name, got, res.Digest)
		}
	}
	got := runImage(t, n.b.Client, res.Image, "/bin/sh", "-c",
		"cat /built.txt /app/hello.txt; stat -c '%a %n' /app/run.sh /app/hello.txt; readlink /app/hello-link")
	want := "built-on-the-node\nhello\n750 /app/run.sh\n644 /app/hello.txt\nhello.txt\n"
	if got != want {
		t.Errorf("image contents:\n%s\nwant:\n%s", got, want)
	}
	waitEmpty(t, n.dir)

	// The same tree again: every step from the cache, the same image.
	out2 := new(syncBuffer)
	again, err := n.build(context.Background(), tree, req, out2)
	if err != nil {
		t.Fatalf("rebuild: %v\nlog:\n%s", err, out2.String())
	}
	if again.CachedSteps != 3 || again.Digest != res.Digest || !strings.Contains(out2.String(), "Using cache") {
		t.Errorf("rebuild: %d cached steps, digest %s (first %s); want 3 and the same image\n%s", again.CachedSteps, again.Digest, res.Digest, out2.String())
	}
}

func TestRemoteBuildFails(t *testing.T) {
	n := newBuilderNode(t)
	tests := []struct {
		name, dockerfile string
		want             []string
	}{
		{"volume", "FROM " + testBase + "\nVOLUME /data\n", []string{"line 2", "VOLUME"}},
		{"run fails", "FROM " + testBase + "\nRUN exit 3\n", []string{"line 2", "exit"}},
		{"no base", "FROM skiff.local/test/not-there:1\n", []string{"line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			_, err := n.build(context.Background(), makeTree(t, []entry{{name: "Dockerfile", content: tt.dockerfile}}), Request{Image: imageName(t)}, &out)
			if err == nil || !errdefs.IsInvalid(err) {
				t.Fatalf("got %v, want an invalid error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(out.String(), "ERROR: "+err.Error()) {
				t.Errorf("log does not end with the error:\n%s", out.String())
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		var out syncBuffer
		_, err := n.build(context.Background(), makeTree(t, []entry{{name: "Dockerfile", content: "FROM " + testBase + "\nRUN sleep 30\n"}}),
			Request{Image: imageName(t), TimeoutSeconds: 1}, &out)
		if err == nil || !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), "timed out after 1s") {
			t.Fatalf("got %v, want an invalid timeout error", err)
		}
	})
	waitEmpty(t, n.dir)
}

// TestRemoteBuildBusyAndCancel: a second build while one runs is refused
// as unavailable; cancelling the first stops it on the node and removes
// its tree.
func TestRemoteBuildBusyAndCancel(t *testing.T) {
	for _, proto := range []string{"http1", "http2"} {
		t.Run(proto, func(t *testing.T) { testBusyAndCancel(t, newBuilderNodeProto(t, proto)) })
	}
}

func testBusyAndCancel(t *testing.T, n *builderNode) {
	tree := makeTree(t, []entry{{name: "Dockerfile", content: fmt.Sprintf("FROM %s\nRUN echo sleeping %d; sleep 60\n", testBase, time.Now().UnixNano())}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	running := out.notify("sleeping")
	done := make(chan error, 1)
	go func() {
		_, err := n.build(ctx, tree, Request{Image: imageName(t)}, &out)
		done <- err
	}()
	select {
	case <-running:
	case err := <-done:
		t.Fatalf("the first build ended: %v\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the first build did not start its RUN:\n%s", out.String())
	}
	_, err := n.build(context.Background(), makeTree(t, []entry{{name: "Dockerfile", content: "FROM " + testBase + "\n"}}), Request{Image: imageName(t)}, new(syncBuffer))
	if err == nil || !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "the builder node is busy with another build") {
		t.Fatalf("second build: got %v, want unavailable: busy", err)
	}

	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("cancelled build: got %v, want context canceled", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Build returned %s after its context was cancelled", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Build did not return after its context was cancelled")
	}
	waitEmpty(t, n.dir) // the handler's build ended and removed its tree
	// The node builds again.
	if _, err := n.build(context.Background(), makeTree(t, []entry{{name: "Dockerfile", content: "FROM " + testBase + "\nENV A=1\n"}}), Request{Image: imageName(t)}, new(syncBuffer)); err != nil {
		t.Fatalf("build after the cancelled one: %v", err)
	}
	// No build container is left running.
	ctx = namespaces.WithNamespace(context.Background(), testNamespace)
	if cs, err := n.b.Client.Containers(ctx); err != nil || len(cs) != 0 {
		t.Errorf("containers left: %d (%v)", len(cs), err)
	}
}
