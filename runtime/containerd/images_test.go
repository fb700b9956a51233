package containerd

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The tarballs these tests import are scripts/testimages', as an OCI
// layout (testimages.Write) and as docker save writes them
// (testimages.WriteDockerSave), plain and gzipped.

func ociTarball(t *testing.T, spec testimages.Spec) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := testimages.Write(&b, spec); err != nil {
		t.Fatalf("%v (busybox-static is needed: scripts/install-deps.sh installs it)", err)
	}
	return b.Bytes()
}

func dockerSave(t *testing.T, imgs ...testimages.SaveImage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := testimages.WriteDockerSave(&b, imgs...); err != nil {
		t.Fatalf("%v (busybox-static is needed: scripts/install-deps.sh installs it)", err)
	}
	return b.Bytes()
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// removeImagesAfter deletes the named images when the test ends: the
// containerd is shared by the package's tests.
func removeImagesAfter(t *testing.T, c *containerd.Client, names ...string) {
	t.Cleanup(func() {
		ctx := namespaces.WithNamespace(context.Background(), Namespace)
		for _, n := range names {
			if err := c.ImageService().Delete(ctx, n); err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("remove image %s: %v", n, err)
			}
		}
	})
}

func TestImportImagesGzipped(t *testing.T) {
	c := testClient(t)
	ctx := namespaces.WithNamespace(context.Background(), Namespace)
	id := randomHex(4)
	oci := testimages.Spec{Name: "importgz-" + id, Cmd: []string{"sleep", "3600"}}
	saved := "skiff.test/importgz-save-" + id + ":1"
	removeImagesAfter(t, c, testimages.Ref(oci.Name), saved)

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"oci-layout", gzipped(t, ociTarball(t, oci)), testimages.Ref(oci.Name)},
		{"docker-save", gzipped(t, dockerSave(t, testimages.SaveImage{Spec: oci, Tags: []string{saved}})), saved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, err := ImportImages(context.Background(), c, bytes.NewReader(tc.data))
			if err != nil || len(names) != 1 || names[0] != tc.want {
				t.Fatalf("import: got %v, %v; want [%s]", names, err, tc.want)
			}
			img, err := c.GetImage(ctx, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := img.IsUnpacked(ctx, "overlayfs"); !ok || err != nil {
				t.Errorf("imported image not unpacked: %v, %v", ok, err)
			}
		})
	}
}

// TestImportImagesAllOrNothing imports tarballs that fail part of the way
// and checks that no image record changed: not the one that existed, not
// the one of the tarball that did unpack.
func TestImportImagesAllOrNothing(t *testing.T) {
	c := testClient(t)
	ctx := namespaces.WithNamespace(context.Background(), Namespace)
	id := randomHex(4)
	old, added := "skiff.test/half-"+id+":1", "skiff.test/half-"+id+":2"
	removeImagesAfter(t, c, old, added)

	// old exists, with other content than the tarballs bring.
	prev := dockerSave(t, testimages.SaveImage{Spec: testimages.Spec{Name: "half-old", Cmd: []string{"true"}}, Tags: []string{old}})
	if _, err := ImportImages(ctx, c, bytes.NewReader(prev)); err != nil {
		t.Fatal(err)
	}
	rec, err := c.ImageService().Get(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	oldDigest := rec.Target.Digest

	spec := testimages.Spec{Name: "half-" + id, Cmd: []string{"sleep", "3600"}}
	// old unpacks from this one, added does not.
	halfBad := dockerSave(t,
		testimages.SaveImage{Spec: spec, Tags: []string{old}},
		testimages.SaveImage{Spec: spec, Tags: []string{added}, BadDiffID: true})
	for _, tc := range []struct {
		name    string
		data    []byte
		want    string
		invalid bool
	}{
		{"half-bad", halfBad, "unpack " + added, false},
		{"half-bad-gzipped", gzipped(t, halfBad), "unpack " + added, false},
		{"truncated", halfBad[:len(halfBad)/2], "not an OCI-layout or docker-save image tarball", true},
		{"truncated-gzip", gzipped(t, halfBad)[:1000], "not an OCI-layout or docker-save image tarball", true},
		{"garbage", []byte("this is not a tarball\n"), "not an OCI-layout or docker-save image tarball", true},
		{"bad-gzip-header", []byte{0x1f, 0x8b, 0, 0}, "gzip: ", true},
		{"unnamed", dockerSave(t, testimages.SaveImage{Spec: spec}), "no named image in the tarball", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, err := ImportImages(context.Background(), c, bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing imported") {
				t.Fatalf("import: got %v, %v; want an error with %q and nothing imported", names, err, tc.want)
			}
			if names != nil {
				t.Errorf("import returned names %v with its error", names)
			}
			if got := errdefs.IsInvalid(err); got != tc.invalid {
				t.Errorf("error %q: invalid %v, want %v", err, got, tc.invalid)
			}
			rec, err := c.ImageService().Get(ctx, old)
			if err != nil || rec.Target.Digest != oldDigest {
				t.Errorf("image %s after a failed import: %v, %v; want it still at %s", old, rec.Target.Digest, err, oldDigest)
			}
			// Its content survived the import's lease and containerd's
			// garbage collection.
			if ok, err := containerd.NewImage(c, rec).IsUnpacked(ctx, "overlayfs"); !ok || err != nil {
				t.Errorf("image %s after a failed import: unpacked %v, %v; want whole", old, ok, err)
			}
			if _, err := c.ImageService().Get(ctx, added); !cerrdefs.IsNotFound(err) {
				t.Errorf("image %s of a failed import: got %v, want not found", added, err)
			}
		})
	}
}
