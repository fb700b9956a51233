package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/client"
)

// pythonApp is app.py: an http.server on $PORT answering the greeting at
// every path. The second push changes the GREETING line only.
const pythonApp = `import http.server
import os

GREETING = "hello from python"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (GREETING + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
`

// TestAppsPythonE2E pushes a Python app with no Dockerfile (app.py, an
// empty requirements.txt, a Procfile) with the real git client to a
// server with its embedded node, on a Debian base image with python3 and
// pip that debootstrap makes in this run and the node imports from its
// images directory: the Python recipe builds it offline (pip installs
// nothing and asks no index), it answers through the router at its host
// name, and a one-line change redeploys on the cached pip step.
func TestAppsPythonE2E(t *testing.T) {
	n := newTestNode(t, 36)

	// The base image, built afresh: debootstrap into a new directory,
	// then the tarball where the node imports from at start.
	py := testimages.DebianPython()
	imagesDir := filepath.Join(n.dataDir, "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rootDir := filepath.Join(t.TempDir(), "rootfs")
	tarPath := filepath.Join(imagesDir, "python.tar")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var bootLog bytes.Buffer
	start := time.Now()
	if err := py.Build(ctx, rootDir, tarPath, &bootLog); err != nil {
		t.Fatalf("%v\ndebootstrap log:\n%s", err, tail(bootLog.String(), 30))
	}
	imageTime := time.Since(start)
	os.RemoveAll(rootDir) // the tarball has it; free the disk now
	if fi, err := os.Stat(tarPath); err == nil {
		t.Logf("debootstrap and image %s: %s, %d MB", py.Ref, imageTime.Round(time.Millisecond), fi.Size()>>20)
	}

	n.serverArgs = []string{"--apps-domain", "apps.test", "--build-image", "python=" + py.Ref}
	start = time.Now()
	n.start()
	t.Logf("node start (with the image import): %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { destroyApps(t, n, "pyapp") })
	cfg, err := client.LoadConfig(n.srv.config)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeFile(t, t.TempDir(), "ca.pem", cfg.CA)
	host := strings.TrimPrefix(cfg.Server, "https://")
	remote := "https://git:" + cfg.Token + "@" + host + "/git/pyapp.git"
	router := "http://" + net.JoinHostPort(n.nodeIP, "80")
	hc := &http.Client{Timeout: 5 * time.Second}
	serves := func(want string) {
		t.Helper()
		n.eventually(30*time.Second, "pyapp answers "+want, func() (bool, string) {
			req, _ := http.NewRequest(http.MethodGet, router+"/", nil)
			req.Host = "pyapp.apps.test"
			resp, err := hc.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body := strings.TrimSpace(string(b))
			return resp.StatusCode == 200 && body == want, fmt.Sprintf("%d %q", resp.StatusCode, body)
		})
	}

	repo := newAppRepo(t, caFile)
	repo.commit(map[string]string{"app.py": pythonApp, "requirements.txt": "\n", "Procfile": "web: python3 app.py\n"})
	start = time.Now()
	out, err := repo.run("push", remote, "main")
	first := time.Since(start)
	if err != nil {
		t.Fatalf("first push: %v\n%s\nserver log:\n%s", err, out, tail(n.srv.log.String(), 40))
	}
	for _, want := range []string{
		"remote: -----> Building pyapp",
		"FROM " + py.Ref,
		"pip install --no-cache-dir -r requirements.txt",
		"remote: -----> v1 is live at http://pyapp.apps.test",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first push output lacks %q:\n%s", want, out)
		}
	}
	serves("hello from python")
	t.Logf("first push to serving: %s", first.Round(time.Millisecond))

	// A one-line change: the pip step from cache, the new text served.
	repo.commit(map[string]string{"app.py": strings.Replace(pythonApp, `"hello from python"`, `"hello again from python"`, 1)})
	start = time.Now()
	out, err = repo.run("push", remote, "main")
	warm := time.Since(start)
	if err != nil {
		t.Fatalf("second push: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Using cache") || !strings.Contains(out, "v2 is live") {
		t.Errorf("second push: want the pip step from cache and v2 live:\n%s", out)
	}
	serves("hello again from python")
	t.Logf("warm push to serving: %s", warm.Round(time.Millisecond))
}
