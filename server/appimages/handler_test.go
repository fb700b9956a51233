package appimages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// fixture is the images every test serves: apps/demo (busybox, tags b1
// and b2 and by digest), apps/other (a different config, by digest and
// tag o1) and apps/demox (other's image, a name demo is a prefix of).
type fixture struct {
	c                 *containerd.Client
	demo, other       ocispec.Descriptor // the images' targets (manifests)
	demoMan, otherMan ocispec.Manifest
}

var (
	fixtureOnce sync.Once
	fixtureVal  fixture
	fixtureErr  error
)

func testFixture(t *testing.T) fixture {
	t.Helper()
	c := testClient(t)
	fixtureOnce.Do(func() {
		f := fixture{c: c}
		f.demo = importImage(t, c, testimages.Spec{Name: "busybox", Cmd: []string{"/bin/sh"}},
			testHost+"/apps/demo:b1", testHost+"/apps/demo:b2", testHost+"/apps/demo@")
		f.other = importImage(t, c, testimages.Spec{Name: "other", Cmd: []string{"/bin/sh"}, Env: []string{"APP=other"}},
			testHost+"/apps/other@", testHost+"/apps/other:o1", testHost+"/apps/demox:x1")
		ctx := namespaces.WithNamespace(context.Background(), testNamespace)
		for _, m := range []struct {
			desc ocispec.Descriptor
			into *ocispec.Manifest
		}{{f.demo, &f.demoMan}, {f.other, &f.otherMan}} {
			b, err := content.ReadBlob(ctx, c.ContentStore(), m.desc)
			if err == nil {
				err = json.Unmarshal(b, m.into)
			}
			if err != nil {
				fixtureErr = fmt.Errorf("read manifest %s: %w", m.desc.Digest, err)
				return
			}
		}
		fixtureVal = f
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	if fixtureVal.c == nil {
		t.Fatal("the test images were not imported (see the first test that failed)")
	}
	return fixtureVal
}

// testServer serves a Handler over c, changed by mod, on the loopback.
// The counter counts the requests that reached containerd.
func testServer(t *testing.T, c *containerd.Client, mod func(*Config)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	cfg := Config{
		Containerd: func(context.Context) (*containerd.Client, error) { calls.Add(1); return c, nil },
		Namespace:  testNamespace,
		Host:       testHost,
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, &calls
}

// answer is what a request got.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// code is the first distribution error code of the body, or "".
func (a answer) code() string {
	var e struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal(a.body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func do(t *testing.T, method, url string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

// resolver resolves host skiff.local to srv, as a node's will to the API
// server.
func resolver(srv *httptest.Server) docker.ResolverOptions {
	return docker.ResolverOptions{Hosts: func(host string) ([]docker.RegistryHost, error) {
		if host != testHost {
			return nil, fmt.Errorf("host %s is not %s", host, testHost)
		}
		return []docker.RegistryHost{{
			Client:       srv.Client(),
			Host:         strings.TrimPrefix(srv.URL, "http://"),
			Scheme:       "http",
			Path:         "/v2",
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		}}, nil
	}}
}

// pullInto pulls ref through srv into namespace ns (whose content is not
// the test namespace's, so the pull fetches everything) and unpacks it.
func pullInto(t *testing.T, c *containerd.Client, srv *httptest.Server, ns, ref string) (containerd.Image, error) {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	img, err := c.Pull(ctx, ref, containerd.WithResolver(docker.NewResolver(resolver(srv))), containerd.WithPullUnpack)
	if err == nil {
		t.Cleanup(func() {
			if err := c.ImageService().Delete(ctx, ref, images.SynchronousDelete()); err != nil {
				t.Errorf("delete pulled image %s: %v", ref, err)
			}
		})
	}
	return img, err
}

func TestPull(t *testing.T) {
	f := testFixture(t)
	srv, calls := testServer(t, f.c, nil)
	for _, tc := range []struct {
		name, ns, ref string
	}{
		{"digest", "pull-digest", testHost + "/apps/demo@" + f.demo.Digest.String()},
		{"tag", "pull-tag", testHost + "/apps/demo:b1"},
		{"other by tag", "pull-other", testHost + "/apps/other:o1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := f.demo
			if strings.Contains(tc.ref, "other") {
				want = f.other
			}
			ctx := namespaces.WithNamespace(context.Background(), tc.ns)
			if _, err := f.c.ContentStore().Info(ctx, want.Digest); err == nil {
				t.Fatalf("namespace %s has %s before the pull; the pull would fetch nothing", tc.ns, want.Digest)
			}
			before := calls.Load()
			img, err := pullInto(t, f.c, srv, tc.ns, tc.ref)
			if err != nil {
				t.Fatalf("pull %s: %v", tc.ref, err)
			}
			// Resolve, manifest, config, layer at least.
			if n := calls.Load() - before; n < 3 {
				t.Errorf("the pull made %d requests of the handler, want at least 3", n)
			}
			if got := img.Target(); got.Digest != want.Digest || got.MediaType != want.MediaType || got.Size != want.Size {
				t.Errorf("pulled target %+v, want %+v", got, want)
			}
			if ok, err := img.IsUnpacked(ctx, ""); !ok || err != nil {
				t.Errorf("pulled image is not unpacked (%v)", err)
			}
			for _, d := range append([]ocispec.Descriptor{want}, f.demoMan.Layers...) {
				if _, err := f.c.ContentStore().Info(ctx, d.Digest); err != nil {
					t.Errorf("namespace %s after the pull: %s: %v", tc.ns, d.Digest, err)
				}
			}
		})
	}
	t.Run("other's image through demo", func(t *testing.T) {
		ref := testHost + "/apps/demo@" + f.other.Digest.String()
		if _, err := pullInto(t, f.c, srv, "pull-cross", ref); err == nil {
			t.Errorf("pull %s succeeded; want not found (other's manifest is not demo's)", ref)
		}
	})
}

func TestTagsList(t *testing.T) {
	f := testFixture(t)
	srv, _ := testServer(t, f.c, nil)
	for _, tc := range []struct {
		query, want, link string
	}{
		{"", `{"name":"apps/demo","tags":["b1","b2"]}`, ""},
		{"?n=1", `{"name":"apps/demo","tags":["b1"]}`, `</v2/apps/demo/tags/list?last=b1&n=1>; rel="next"`},
		{"?n=1&last=b1", `{"name":"apps/demo","tags":["b2"]}`, ""},
		{"?last=b2", `{"name":"apps/demo","tags":[]}`, ""},
	} {
		a := do(t, "GET", srv.URL+"/v2/apps/demo/tags/list"+tc.query)
		if a.status != 200 || string(a.body) != tc.want || a.header.Get("Link") != tc.link {
			t.Errorf("tags/list%s: got %d %s (Link %q), want 200 %s (Link %q)", tc.query, a.status, a.body, a.header.Get("Link"), tc.want, tc.link)
		}
	}
}

func TestBase(t *testing.T) {
	f := testFixture(t)
	srv, _ := testServer(t, f.c, nil)
	for _, m := range []string{"GET", "HEAD"} {
		a := do(t, m, srv.URL+"/v2/")
		want := "{}"
		if m == "HEAD" {
			want = ""
		}
		if a.status != 200 || string(a.body) != want || a.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("%s /v2/: got %d %q %v, want 200 %q with Docker-Distribution-API-Version", m, a.status, a.body, a.header, want)
		}
	}
}

func TestManifest(t *testing.T) {
	f := testFixture(t)
	srv, _ := testServer(t, f.c, nil)
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	want, err := content.ReadBlob(ctx, f.c.ContentStore(), f.demo)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v2/apps/demo/manifests/b1", "/v2/apps/demo/manifests/" + f.demo.Digest.String()} {
		for _, m := range []string{"GET", "HEAD"} {
			a := do(t, m, srv.URL+path)
			wantBody := want
			if m == "HEAD" {
				wantBody = nil
			}
			if a.status != 200 || !bytes.Equal(a.body, wantBody) ||
				a.header.Get("Content-Type") != f.demo.MediaType ||
				a.header.Get("Docker-Content-Digest") != f.demo.Digest.String() ||
				a.header.Get("Content-Length") != fmt.Sprint(f.demo.Size) {
				t.Errorf("%s %s: got %d %v %q, want 200, type %s, digest %s, length %d", m, path, a.status, a.header, a.body, f.demo.MediaType, f.demo.Digest, f.demo.Size)
			}
		}
	}
}

func TestBlob(t *testing.T) {
	f := testFixture(t)
	srv, _ := testServer(t, f.c, nil)
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	layer := f.demoMan.Layers[0]
	data, err := content.ReadBlob(ctx, f.c.ContentStore(), layer)
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/v2/apps/demo/blobs/" + layer.Digest.String()
	for _, tc := range []struct {
		name, method string
		header       []string
		status       int
		body         []byte
		length       int
	}{
		{"whole", "GET", nil, 200, data, len(data)},
		{"head", "HEAD", nil, 200, nil, len(data)},
		{"range", "GET", []string{"Range", "bytes=1000-1099"}, 206, data[1000:1100], 100},
		{"range across chunks", "GET", []string{"Range", fmt.Sprintf("bytes=%d-%d", chunkSize-10, chunkSize+9)}, 206, data[chunkSize-10 : chunkSize+10], 20},
		{"suffix range", "GET", []string{"Range", "bytes=-10"}, 206, data[len(data)-10:], 10},
		{"not modified", "GET", []string{"If-None-Match", `"` + layer.Digest.String() + `"`}, 304, nil, -1},
		{"range beyond the end", "GET", []string{"Range", fmt.Sprintf("bytes=%d-", len(data)+5)}, 416, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, tc.method, url, tc.header...)
			if a.status != tc.status {
				t.Fatalf("got status %d, want %d", a.status, tc.status)
			}
			if tc.status == 416 {
				return
			}
			if !bytes.Equal(a.body, tc.body) {
				t.Errorf("got %d bytes, want %d (the right ones)", len(a.body), len(tc.body))
			}
			if tc.length >= 0 && a.header.Get("Content-Length") != fmt.Sprint(tc.length) {
				t.Errorf("Content-Length %q, want %d", a.header.Get("Content-Length"), tc.length)
			}
			if got := a.header.Get("Docker-Content-Digest"); got != layer.Digest.String() {
				t.Errorf("Docker-Content-Digest %q, want %s", got, layer.Digest)
			}
			if got := a.header.Get("ETag"); got != `"`+layer.Digest.String()+`"` {
				t.Errorf("ETag %q, want the quoted digest", got)
			}
		})
	}
	if len(data) <= chunkSize+10 {
		t.Errorf("the test layer is %d bytes: the range across chunks did not cross one", len(data))
	}
}

func TestNotFound(t *testing.T) {
	f := testFixture(t)
	srv, _ := testServer(t, f.c, nil)
	zero := "sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		name, path, code string
	}{
		{"unknown repository", "/v2/apps/nope/manifests/b1", codeNameUnknown},
		{"unknown repository's tags", "/v2/apps/nope/tags/list", codeNameUnknown},
		{"unknown repository's blob", "/v2/apps/nope/blobs/" + f.demoMan.Layers[0].Digest.String(), codeNameUnknown},
		{"prefix of a repository", "/v2/apps/dem/manifests/b1", codeNameUnknown},
		{"unknown tag", "/v2/apps/demo/manifests/b3", codeManifestUnknown},
		{"other's tag", "/v2/apps/demo/manifests/o1", codeManifestUnknown},
		{"other's manifest via demo", "/v2/apps/demo/manifests/" + f.other.Digest.String(), codeManifestUnknown},
		{"other's config via demo", "/v2/apps/demo/blobs/" + f.otherMan.Config.Digest.String(), codeBlobUnknown},
		{"other's config via demox", "/v2/apps/demox/blobs/" + f.demoMan.Config.Digest.String(), codeBlobUnknown},
		{"other's manifest as a blob via demo", "/v2/apps/demo/blobs/" + f.other.Digest.String(), codeBlobUnknown},
		{"a layer as a manifest", "/v2/apps/demo/manifests/" + f.demoMan.Layers[0].Digest.String(), codeManifestUnknown},
		{"a config as a manifest", "/v2/apps/demo/manifests/" + f.demoMan.Config.Digest.String(), codeManifestUnknown},
		{"unknown blob", "/v2/apps/demo/blobs/" + zero, codeBlobUnknown},
		{"uploads", "/v2/apps/demo/blobs/uploads/", codeUnsupported},
		{"referrers", "/v2/apps/demo/referrers/" + zero, codeUnsupported},
		{"not /v2", "/v1/apps/demo/manifests/b1", codeUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []string{"GET", "HEAD"} {
				a := do(t, m, srv.URL+tc.path)
				if a.status != 404 || (m == "GET" && a.code() != tc.code) || (m == "HEAD" && len(a.body) != 0) {
					t.Errorf("%s %s: got %d %s, want 404 %s", m, tc.path, a.status, a.body, tc.code)
				}
				if a.header.Get("Docker-Content-Digest") != "" {
					t.Errorf("%s %s: a 404 with Docker-Content-Digest %s", m, tc.path, a.header.Get("Docker-Content-Digest"))
				}
			}
		})
	}
	// The blob is in the content store all along; only reachability
	// keeps it from demo.
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	if _, err := f.c.ContentStore().Info(ctx, f.otherMan.Config.Digest); err != nil {
		t.Errorf("other's config is not in the store, so its 404 proves nothing: %v", err)
	}
}

// TestReachFollowsImages checks that what a repository serves follows its
// images at once, cache or not.
func TestReachFollowsImages(t *testing.T) {
	f := testFixture(t)
	srv, _ := testServer(t, f.c, nil)
	url := srv.URL + "/v2/apps/demo/blobs/" + f.otherMan.Config.Digest.String()
	if a := do(t, "HEAD", url); a.status != 404 {
		t.Fatalf("before: got %d, want 404", a.status)
	}
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	name := testHost + "/apps/demo:b3"
	if _, err := f.c.ImageService().Create(ctx, images.Image{Name: name, Target: f.other}); err != nil {
		t.Fatal(err)
	}
	if a := do(t, "HEAD", url); a.status != 200 {
		t.Errorf("with %s naming other's image: got %d, want 200", name, a.status)
	}
	if err := f.c.ImageService().Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if a := do(t, "HEAD", url); a.status != 404 {
		t.Errorf("after %s is deleted: got %d, want 404", name, a.status)
	}
}

func TestReadOnly(t *testing.T) {
	f := testFixture(t)
	srv, calls := testServer(t, f.c, nil)
	for _, m := range []string{"PUT", "POST", "DELETE", "PATCH", "OPTIONS"} {
		for _, path := range []string{"/v2/", "/v2/apps/demo/manifests/b1", "/v2/apps/demo/blobs/uploads/", "/v2/apps/demo/blobs/" + f.demo.Digest.String()} {
			a := do(t, m, srv.URL+path)
			if a.status != 405 || a.code() != codeUnsupported || !strings.Contains(string(a.body), "read-only") || a.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: got %d %s (Allow %q), want 405 UNSUPPORTED saying read-only, Allow GET, HEAD", m, path, a.status, a.body, a.header.Get("Allow"))
			}
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("refused writes asked containerd %d times", n)
	}
}

func TestAuthorize(t *testing.T) {
	f := testFixture(t)
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"forbidden", fmt.Errorf("node n1 may not pull app demo: %w", errdefs.ErrForbidden), 403, codeDenied},
		{"unauthorized", fmt.Errorf("no node token: %w", errdefs.ErrUnauthorized), 401, codeUnauthorized},
		{"not found", fmt.Errorf("app demo: %w", errdefs.ErrNotFound), 404, codeNameUnknown},
		{"other", errors.New("store closed"), 500, codeUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			var mu sync.Mutex
			srv, calls := testServer(t, f.c, func(c *Config) {
				c.Authorize = func(r *http.Request, repo string) (map[string]string, error) {
					mu.Lock()
					asked = append(asked, repo)
					mu.Unlock()
					return nil, tc.err
				}
			})
			paths := []string{"/v2/apps/demo/manifests/b1", "/v2/apps/demo/blobs/" + f.demoMan.Layers[0].Digest.String(), "/v2/apps/demo/tags/list"}
			for _, path := range paths {
				a := do(t, "GET", srv.URL+path)
				if a.status != tc.status || a.code() != tc.code || !strings.Contains(string(a.body), tc.err.Error()) {
					t.Errorf("GET %s: got %d %s, want %d %s with the error", path, a.status, a.body, tc.status, tc.code)
				}
				if a.header.Get("Docker-Content-Digest") != "" {
					t.Errorf("GET %s: refused, yet Docker-Content-Digest %s", path, a.header.Get("Docker-Content-Digest"))
				}
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("refused requests asked containerd %d times", n)
			}
			if want := []string{"apps/demo", "apps/demo", "apps/demo"}; !slices.Equal(asked, want) {
				t.Errorf("Authorize asked for %q, want %q", asked, want)
			}
			if a := do(t, "GET", srv.URL+"/v2/"); a.status != 200 {
				t.Errorf("GET /v2/: got %d, want 200 (it names no repository)", a.status)
			}
		})
	}
}

// Only the images carrying the labels Authorize returns are served: a
// deleted app's, under the name a new app now has, are not there.
func TestAuthorizeLabels(t *testing.T) {
	f := testFixture(t)
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	for name, labels := range map[string]map[string]string{
		testHost + "/apps/reborn:old":  {"skiff.dev/app-uid": "u-deleted"},
		testHost + "/apps/reborn:new":  {"skiff.dev/app-uid": "u-now"},
		testHost + "/apps/reborn:bare": nil,
	} {
		if _, err := f.c.ImageService().Create(ctx, images.Image{Name: name, Target: f.other, Labels: labels}); err != nil && !cerrdefs.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	srv, _ := testServer(t, f.c, func(c *Config) {
		c.Authorize = func(*http.Request, string) (map[string]string, error) {
			return map[string]string{"skiff.dev/app-uid": "u-now"}, nil
		}
	})
	if a := do(t, "GET", srv.URL+"/v2/apps/reborn/tags/list"); a.status != 200 || !strings.Contains(string(a.body), `"tags":["new"]`) {
		t.Errorf("tags/list: %d %s, want only new", a.status, a.body)
	}
	for tag, want := range map[string]int{"new": 200, "old": 404, "bare": 404} {
		if a := do(t, "GET", srv.URL+"/v2/apps/reborn/manifests/"+tag); a.status != want {
			t.Errorf("GET manifest %s: %d %s, want %d", tag, a.status, a.body, want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	srv, _ := testServer(t, nil, func(c *Config) {
		c.Containerd = func(context.Context) (*containerd.Client, error) {
			return nil, errors.New("containerd is starting")
		}
	})
	a := do(t, "GET", srv.URL+"/v2/apps/demo/manifests/b1")
	if a.status != 503 || a.code() != codeUnavailable || !strings.Contains(string(a.body), "containerd is starting") {
		t.Errorf("got %d %s, want 503 UNAVAILABLE with the cause", a.status, a.body)
	}
}

// TestOddPaths sends paths a client should not, and checks each gets a
// clear 4xx and never a panic or a 500.
func TestOddPaths(t *testing.T) {
	f := testFixture(t)
	srv, _ := testServer(t, f.c, nil)
	d := f.demo.Digest.String()
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v2/Apps/demo/manifests/b1", 400, codeNameInvalid},
		{"/v2/apps//demo/manifests/b1", 400, codeNameInvalid},
		{"/v2/apps/demo/../other/manifests/b1", 400, codeNameInvalid},
		{"/v2/apps/demo-/manifests/b1", 400, codeNameInvalid},
		{"/v2/apps/de%20mo/manifests/b1", 400, codeNameInvalid},
		{"/v2//manifests/b1", 400, codeNameInvalid},
		{"/v2/manifests/b1", 404, codeUnsupported},
		{"/v2/" + strings.Repeat("a/", 200) + "a/manifests/b1", 400, codeNameInvalid},
		{"/v2/apps/demo/manifests/.b1", 400, codeTagInvalid},
		{"/v2/apps/demo/manifests/" + strings.Repeat("b", 129), 400, codeTagInvalid},
		{"/v2/apps/demo/manifests/sha256:abc", 400, codeDigestInvalid},
		{"/v2/apps/demo/manifests/md5:" + strings.Repeat("0", 32), 400, codeDigestInvalid},
		{"/v2/apps/demo/manifests/sha256:" + strings.Repeat("Z", 64), 400, codeDigestInvalid},
		{"/v2/apps/demo/blobs/b1", 400, codeDigestInvalid},
		{"/v2/apps/demo/blobs/" + d + "x", 400, codeDigestInvalid},
		{"/v2/apps/demo/blobs/", 404, codeUnsupported},
		{"/v2/apps/demo/manifests/", 404, codeUnsupported},
		{"/v2/apps/demo/tags/list/", 404, codeUnsupported},
		{"/v2/apps/demo", 404, codeUnsupported},
		{"/v2/apps/demo/blobs/manifests/b1", 404, codeNameUnknown}, // repository apps/demo/blobs
		{"/v2/apps/demo/manifests/" + d + "/blobs/" + d, 400, codeNameInvalid},
		{"/v2/apps/demo/tags/list?n=x", 400, codeUnsupported},
		{"/v2/apps/demo/tags/list?n=-1", 400, codeUnsupported},
	} {
		a := do(t, "GET", srv.URL+tc.path)
		if a.status != tc.status || a.code() != tc.code {
			t.Errorf("GET %s: got %d %s, want %d %s", tc.path, a.status, a.body, tc.status, tc.code)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := func(context.Context) (*containerd.Client, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // in the error; "" means no error
	}{
		{"good", Config{Containerd: ok, Namespace: "skiff", Host: "skiff.local"}, ""},
		{"no containerd", Config{Namespace: "skiff", Host: "skiff.local"}, "Config.Containerd"},
		{"no namespace", Config{Containerd: ok, Host: "skiff.local"}, "Config.Namespace"},
		{"bad namespace", Config{Containerd: ok, Namespace: "a/b", Host: "skiff.local"}, "Config.Namespace"},
		{"no host", Config{Containerd: ok, Namespace: "skiff"}, "Config.Host"},
		{"host with a path", Config{Containerd: ok, Namespace: "skiff", Host: "skiff.local/apps"}, "Config.Host"},
	} {
		_, err := New(tc.cfg)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: New: %v, want an error about %q", tc.name, err, tc.want)
		}
	}
}

// TestIndex serves an image whose target is an index: its child manifest
// is served by digest though no image is named by it, and the image pulls.
func TestIndex(t *testing.T) {
	f := testFixture(t)
	srv, _ := testServer(t, f.c, nil)
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	child := f.demo
	arch, variant := testimages.Platform()
	child.Platform = &ocispec.Platform{OS: "linux", Architecture: arch, Variant: variant}
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{child},
	})
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(idx), Size: int64(len(idx))}
	// Under a lease until the image names it: content nothing references
	// is containerd's garbage (another test's delete runs its GC).
	lctx, done, err := f.c.WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := content.WriteBlob(lctx, f.c.ContentStore(), "test-index", bytes.NewReader(idx), desc,
		content.WithLabels(map[string]string{"containerd.io/gc.ref.content.m.0": child.Digest.String()})); err != nil {
		t.Fatal(err)
	}
	name := testHost + "/apps/idx:1"
	if _, err := f.c.ImageService().Create(ctx, images.Image{Name: name, Target: desc}); err != nil {
		t.Fatal(err)
	}
	if err := done(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.c.ImageService().Delete(ctx, name) })

	for _, tc := range []struct {
		path, typ, digest string
	}{
		{"/v2/apps/idx/manifests/1", ocispec.MediaTypeImageIndex, desc.Digest.String()},
		{"/v2/apps/idx/manifests/" + desc.Digest.String(), ocispec.MediaTypeImageIndex, desc.Digest.String()},
		{"/v2/apps/idx/manifests/" + child.Digest.String(), child.MediaType, child.Digest.String()},
		{"/v2/apps/idx/blobs/" + f.demoMan.Layers[0].Digest.String(), "application/octet-stream", f.demoMan.Layers[0].Digest.String()},
	} {
		a := do(t, "GET", srv.URL+tc.path)
		if a.status != 200 || a.header.Get("Content-Type") != tc.typ || a.header.Get("Docker-Content-Digest") != tc.digest || digest.FromBytes(a.body).String() != tc.digest {
			t.Errorf("GET %s: got %d %s (%s, %s), want 200 %s with digest %s", tc.path, a.status, a.body, a.header.Get("Content-Type"), a.header.Get("Docker-Content-Digest"), tc.typ, tc.digest)
		}
	}
	img, err := pullInto(t, f.c, srv, "pull-index", name)
	if err != nil {
		t.Fatalf("pull %s: %v", name, err)
	}
	if img.Target().Digest != desc.Digest {
		t.Errorf("pulled %s, want the index %s", img.Target().Digest, desc.Digest)
	}
	if ok, err := img.IsUnpacked(namespaces.WithNamespace(context.Background(), "pull-index"), ""); !ok || err != nil {
		t.Errorf("pulled index is not unpacked (%v)", err)
	}
}
