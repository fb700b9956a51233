package appimages

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiffhq/skiff/internal/containerdtest"
	"github.com/skiffhq/skiff/scripts/testimages"
)

// testNamespace is the namespace the served images are in, as on a server
// node.
const testNamespace = "skiff"

// testHost is the registry host of the served images' names.
const testHost = "skiff.local"

// sharedCtd is the private containerd of the tests, started by the first
// test that needs it and stopped by TestMain, by its PID. Its content is
// isolated, so that a pull into another namespace fetches every blob
// again rather than taking the one the test namespace has.
var sharedCtd = &containerdtest.Containerd{
	Name: "appimagestest", Tests: "the image serving tests", Namespace: testNamespace,
	Isolated: true,
}

func TestMain(m *testing.M) { os.Exit(sharedCtd.Run(m)) }

// testClient returns a client of the private containerd, or skips the
// test when it cannot run here (not root, or no containerd).
func testClient(t testing.TB) *containerd.Client {
	t.Helper()
	return sharedCtd.Client(t)
}

// importImage writes the test image spec, imports it into the test
// namespace and names its target as each of names (a name ending in "@"
// gets the target's digest appended). It returns the target.
func importImage(t testing.TB, c *containerd.Client, spec testimages.Spec, names ...string) ocispec.Descriptor {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	path := filepath.Join(t.TempDir(), spec.Name+".tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testimages.Write(f, spec); err != nil {
		t.Fatalf("test image: %v (busybox-static is needed: scripts/install-deps.sh installs it)", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	imgs, err := c.Import(ctx, f)
	if err != nil {
		t.Fatalf("import test image %s: %v", spec.Name, err)
	}
	if len(imgs) != 1 {
		t.Fatalf("import test image %s: got %d images, want 1", spec.Name, len(imgs))
	}
	target := imgs[0].Target
	for _, name := range names {
		if strings.HasSuffix(name, "@") {
			name += target.Digest.String()
		}
		_, err := c.ImageService().Create(ctx, images.Image{Name: name, Target: target})
		if err != nil && !cerrdefs.IsAlreadyExists(err) {
			t.Fatalf("name image %s: %v", name, err)
		}
	}
	return target
}
