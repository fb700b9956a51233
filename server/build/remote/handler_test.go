package remote

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/build"
)

// servers serves h over HTTP/1.1 and over TLS with HTTP/2, as the agent
// does, and returns each server's client.
func servers(t *testing.T, h http.Handler) map[string]*httptest.Server {
	t.Helper()
	h1 := httptest.NewServer(h)
	h2 := httptest.NewUnstartedServer(h)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h1.Close)
	t.Cleanup(h2.Close)
	return map[string]*httptest.Server{"http1": h1, "http2": h2}
}

// noBuilder is a Builder func for tests that must not get to the build.
func noBuilder(t *testing.T) func(context.Context) (*build.Builder, error) {
	return func(context.Context) (*build.Builder, error) {
		t.Error("the handler started a build")
		return nil, errors.New("no builder in this test")
	}
}

func TestNewHandlerConfig(t *testing.T) {
	ok := func(context.Context) (*build.Builder, error) { return nil, nil }
	tests := []struct {
		name string
		cfg  HandlerConfig
		want string
	}{
		{"no builder", HandlerConfig{Dir: t.TempDir()}, "Builder is nil"},
		{"no dir", HandlerConfig{Builder: ok}, "Dir is empty"},
		{"negative bytes", HandlerConfig{Builder: ok, Dir: t.TempDir(), MaxContextBytes: -1}, "MaxContextBytes is -1"},
		{"negative files", HandlerConfig{Builder: ok, Dir: t.TempDir(), MaxFiles: -1}, "MaxFiles is -1"},
		{"ok", HandlerConfig{Builder: ok, Dir: filepath.Join(t.TempDir(), "new")}, ""},
	}
	for _, tt := range tests {
		_, err := NewHandler(tt.cfg)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: got error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// A tree a stopped agent left is removed when the next one starts;
// nothing else in the directory is.
func TestNewHandlerRemovesLeftTrees(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"build-123/src/app.py", "keep/x"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewHandler(HandlerConfig{Builder: noBuilder(t), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "build-123")); !os.IsNotExist(err) {
		t.Errorf("the left tree is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep", "x")); err != nil {
		t.Errorf("another file went: %v", err)
	}
}

func TestHandlerRefusesRequests(t *testing.T) {
	h, err := NewHandler(HandlerConfig{Builder: noBuilder(t), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		name, method, header string
		code                 int
		want                 string
	}{
		{"get", http.MethodGet, `{"image":"x"}`, 405, "GET is not allowed"},
		{"no header", http.MethodPost, "", 400, "the Skiff-Build header is missing"},
		{"bad json", http.MethodPost, `{"image":`, 400, "is not a build request"},
		{"no image", http.MethodPost, `{}`, 400, "image is empty"},
		{"dockerfile outside", http.MethodPost, `{"image":"x","dockerfile":"../Dockerfile"}`, 400, `dockerfile "../Dockerfile" is not a path inside`},
		{"negative timeout", http.MethodPost, `{"image":"x","timeoutSeconds":-1}`, 400, "timeoutSeconds -1 is negative"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+"/build", bytes.NewReader(tarOf(t, reg("Dockerfile", 3))))
		if tt.header != "" {
			req.Header.Set(headerRequest, tt.header)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(body.String(), tt.want) {
			t.Errorf("%s: got %d %q, want %d %q", tt.name, resp.StatusCode, body.String(), tt.code, tt.want)
		}
	}
}

// TestBuildRefusedTrees sends trees over the node's bounds, and tars that
// try to leave their directory, through Build and over both protocols.
func TestBuildRefusedTrees(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "builds")
	h, err := NewHandler(HandlerConfig{Builder: noBuilder(t), Dir: dir, MaxFiles: 5, MaxContextBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	many := makeTree(t, []entry{{name: "a"}, {name: "b"}, {name: "c"}, {name: "d"}, {name: "e"}, {name: "f"}})
	// Far more than the server reads before it answers: the answer must
	// still reach the client.
	big := makeTree(t, []entry{{name: "big", content: strings.Repeat("0123456789abcdef", 1<<20)}})
	for proto, srv := range servers(t, h) {
		for _, tt := range []struct {
			name, tree, want string
		}{
			{"too many files", many, "the source tree has more than 5 files and directories"},
			{"too large", big, "the source tree is larger than 1048576 bytes (at big)"},
		} {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				_, err := Build(context.Background(), srv.Client(), srv.URL+"/build", tt.tree, Request{Image: "x"}, nil)
				if err == nil || !strings.Contains(err.Error(), tt.want) || !errdefs.IsInvalid(err) {
					t.Fatalf("got %v (invalid: %v), want an invalid error containing %q", err, errdefs.IsInvalid(err), tt.want)
				}
			})
		}
		for _, tt := range []struct {
			name string
			tar  []byte
			want string
		}{
			{"dotdot", tarOf(t, reg("../evil", 1)), `tar entry "../evil": ".." would leave the source tree`},
			{"absolute", tarOf(t, reg(filepath.Join(parent, "evil"), 1)), "an absolute path"},
			{"symlink escape", tarOf(t, &tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: parent}, reg("l/evil", 1)),
				`tar entry "l/evil": l is a symlink`},
		} {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/build", bytes.NewReader(tt.tar))
				req.Header.Set(headerRequest, `{"image":"x"}`)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				err = statusError(srv.URL, resp)
				if resp.StatusCode != 400 || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %d %v, want 400 %q", resp.StatusCode, err, tt.want)
				}
				if _, err := os.Lstat(filepath.Join(parent, "evil")); err == nil {
					t.Fatalf("evil written outside the build directory")
				}
			})
		}
	}
	waitEmpty(t, dir)
}

// waitEmpty waits a few seconds for dir to be empty.
func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %v", dir, ents)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBuildUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := Build(context.Background(), nil, url+"/build", makeTree(t, []entry{{name: "Dockerfile"}}), Request{Image: "x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "the builder node could not be reached at "+url) || !errdefs.IsUnavailable(err) {
		t.Fatalf("got %v, want an unavailable error saying the node could not be reached", err)
	}
}

func TestBuildMissingTree(t *testing.T) {
	h, err := NewHandler(HandlerConfig{Builder: noBuilder(t), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, err = Build(context.Background(), nil, srv.URL, filepath.Join(t.TempDir(), "gone"), Request{Image: "x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "read the source tree") {
		t.Fatalf("got %v, want an error reading the source tree", err)
	}
}

// TestHandlerNotReady: a node whose executor cannot be had answers with
// an unavailable outcome after the tree.
func TestHandlerNotReady(t *testing.T) {
	h, err := NewHandler(HandlerConfig{Dir: t.TempDir(), Builder: func(context.Context) (*build.Builder, error) {
		return nil, errors.New("containerd is not running")
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	var out bytes.Buffer
	_, err = Build(context.Background(), nil, srv.URL, makeTree(t, []entry{{name: "Dockerfile"}}), Request{Image: "x"}, &out)
	if err == nil || err.Error() != "the builder node's executor is not ready: containerd is not running" || !errdefs.IsUnavailable(err) {
		t.Fatalf("got %v, want unavailable: not ready", err)
	}
	if !strings.Contains(out.String(), "ERROR: the builder node's executor is not ready") {
		t.Errorf("build log %q does not say the error", out.String())
	}
}

// failingReader returns its bytes, then an error: a client that goes away
// in the middle of its tree.
type failingReader struct{ r io.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("the client went away")
	}
	return n, err
}

func TestHandlerTruncatedTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "builds")
	logs := new(syncBuffer)
	h, err := NewHandler(HandlerConfig{Builder: noBuilder(t), Dir: dir, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for proto, srv := range servers(t, h) {
		t.Run(proto, func(t *testing.T) {
			ended := logs.notify("source tree")
			full := tarOf(t, reg("a", 100), reg("b", 300<<10))
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/build", &failingReader{bytes.NewReader(full[:200<<10])})
			req.Header.Set(headerRequest, `{"image":"x"}`)
			resp, err := srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("the request with a truncated body got %s", resp.Status)
			}
			select {
			case <-ended:
			case <-time.After(5 * time.Second):
				t.Fatalf("the handler did not end the build; its log:\n%s", logs.String())
			}
			waitEmpty(t, dir)
		})
	}
}
