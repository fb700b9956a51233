package testimages

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layout is an image tarball read into memory.
type layout struct {
	files    map[string][]byte
	index    ocispec.Index
	manifest ocispec.Manifest
	config   ocispec.Image
}

// readLayout reads an OCI layout tarball and checks what every layout
// must hold: the layout file, an index of one manifest, and blobs whose
// names and sizes match their content.
func readLayout(t *testing.T, r io.Reader) layout {
	t.Helper()
	l := layout{files: map[string][]byte{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if _, dup := l.files[h.Name]; dup {
			t.Errorf("%s twice in the tarball", h.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		l.files[h.Name] = b
	}
	if got, want := string(l.files["oci-layout"]), `{"imageLayoutVersion":"1.0.0"}`; got != want {
		t.Errorf("oci-layout = %q, want %q", got, want)
	}
	for name, b := range l.files {
		enc, ok := strings.CutPrefix(name, "blobs/sha256/")
		if !ok {
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != enc {
			t.Errorf("blob %s has digest %s", name, got)
		}
	}
	unmarshal(t, l.files["index.json"], &l.index)
	if len(l.index.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(l.index.Manifests))
	}
	unmarshal(t, blobOf(t, l, l.index.Manifests[0]), &l.manifest)
	unmarshal(t, blobOf(t, l, l.manifest.Config), &l.config)
	for _, d := range l.manifest.Layers {
		blobOf(t, l, d)
	}
	return l
}

// blobOf returns the blob d names, checking its size.
func blobOf(t *testing.T, l layout, d ocispec.Descriptor) []byte {
	t.Helper()
	b, ok := l.files["blobs/sha256/"+d.Digest.Encoded()]
	if !ok {
		t.Fatalf("no blob for %s (%s)", d.Digest, d.MediaType)
	}
	if int64(len(b)) != d.Size {
		t.Errorf("blob %s has %d bytes, descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b
}

func unmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
}

func TestBuild(t *testing.T) {
	paths, err := Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name       string
		entrypoint []string
		cmd        []string
		ports      []string
	}{
		{"busybox", nil, []string{"sh"}, nil},
		{"sleep", nil, []string{"sleep", "3600"}, nil},
		{"httpd", nil, []string{"httpd", "-f", "-v", "-p", "8080", "-h", "/www"}, []string{"8080/tcp"}},
		{"exit", []string{"sh", "-c", "exit ${EXIT_CODE:-1}"}, nil, nil},
		{"badprobe", nil, []string{"httpd", "-f", "-v", "-p", "8080", "-h", "/www-nohealthz"}, []string{"8080/tcp"}},
	}
	if len(paths) != len(want) {
		t.Errorf("Build made %d images, want %d: %v", len(paths), len(want), paths)
	}
	arch, variant := Platform()
	var layers []digest.Digest
	for _, w := range want {
		ref := Ref(w.name)
		path, ok := paths[ref]
		if !ok {
			t.Errorf("no image %s", ref)
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		l := readLayout(t, f)
		f.Close()

		if got := l.index.Manifests[0].Annotations["io.containerd.image.name"]; got != ref {
			t.Errorf("%s: image name annotation %q, want %q", path, got, ref)
		}
		c := l.config
		if c.Architecture != arch || c.Variant != variant || c.OS != "linux" {
			t.Errorf("%s: platform %s/%s/%s, want linux/%s/%s", ref, c.OS, c.Architecture, c.Variant, arch, variant)
		}
		if got := c.Config.Env; !slices.Equal(got, []string{"PATH=/bin:/usr/bin"}) {
			t.Errorf("%s: env %q, want PATH only", ref, got)
		}
		if !slices.Equal(c.Config.Entrypoint, w.entrypoint) || !slices.Equal(c.Config.Cmd, w.cmd) {
			t.Errorf("%s: entrypoint %q cmd %q, want %q %q", ref, c.Config.Entrypoint, c.Config.Cmd, w.entrypoint, w.cmd)
		}
		var ports []string
		for p := range c.Config.ExposedPorts {
			ports = append(ports, p)
		}
		if !slices.Equal(ports, w.ports) {
			t.Errorf("%s: exposed ports %q, want %q", ref, ports, w.ports)
		}
		if len(l.manifest.Layers) != 1 || !slices.Equal(c.RootFS.DiffIDs, []digest.Digest{l.manifest.Layers[0].Digest}) {
			t.Errorf("%s: layers %v, diff ids %v: want one uncompressed layer", ref, l.manifest.Layers, c.RootFS.DiffIDs)
		} else {
			layers = append(layers, l.manifest.Layers[0].Digest)
		}
		if l.manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayer || l.manifest.Config.MediaType != ocispec.MediaTypeImageConfig {
			t.Errorf("%s: media types %s, %s", ref, l.manifest.Layers[0].MediaType, l.manifest.Config.MediaType)
		}
		d, err := ManifestDigest(Spec{Name: w.name, Entrypoint: w.entrypoint, Cmd: w.cmd, ExposedPorts: w.ports})
		if err != nil || d != l.index.Manifests[0].Digest {
			t.Errorf("%s: ManifestDigest = %s, %v; index has %s", ref, d, err, l.index.Manifests[0].Digest)
		}
	}
	if got := slices.Compact(layers); len(got) != 1 {
		t.Errorf("images have layers %v, want all the same one", got)
	}
}

func TestWriteIsReproducible(t *testing.T) {
	for _, img := range Images() {
		var a, b bytes.Buffer
		if err := Write(&a, img); err != nil {
			t.Fatal(err)
		}
		if err := Write(&b, img); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%s: two writes differ", img.Name)
		}
	}
}

// TestContainerdReadsLayout imports a tarball with containerd's own
// importer into a content store on disk (no daemon), as `ctr images
// import` would.
func TestContainerdReadsLayout(t *testing.T) {
	store, err := local.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	img := Images()[0]
	if err := Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	want, err := ManifestDigest(img)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := archive.ImportIndex(ctx, store, &buf); err != nil {
		t.Fatalf("containerd import: %v", err)
	}
	if _, err := store.Info(ctx, want); err != nil {
		t.Errorf("manifest %s not in the store after import: %v", want, err)
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{}, "empty name"},
		{Spec{Name: "x", Busybox: filepath.Join(t.TempDir(), "no-busybox")}, "busybox-static"},
	}
	for _, tt := range tests {
		err := Write(io.Discard, tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Write(%+v) = %v, want an error saying %q", tt.spec, err, tt.want)
		}
	}
}
