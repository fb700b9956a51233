package testimages

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/opencontainers/go-digest"
)

// layerEntry is what a test checks of one layer tar entry.
type layerEntry struct {
	typ      byte
	mode     int64
	gid      int
	linkname string
	content  string
}

// TestWriteDirImage writes a tree with every kind of entry a Debian root
// has and reads the tarball back: layout, config, and the layer's
// entries, with /dev's device nodes and sockets left out.
func TestWriteDirImage(t *testing.T) {
	root := t.TempDir()
	mk := func(name, content string, mode os.FileMode) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	mk("usr/bin/python3", "#!python\n", 0o755)
	mk("etc/shadow", "root:*:\n", 0o640)
	mk("dev/null", "not a device\n", 0o666)
	mk("proc/cpuinfo", "mounted\n", 0o444)
	if err := os.Chown(filepath.Join(root, "etc/shadow"), 0, 42); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "usr/bin/python3"), filepath.Join(root, "usr/bin/python3.11")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky)
	// A socket is not a file an image can hold.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(root, "tmp", "sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	tarPath := filepath.Join(t.TempDir(), "img.tar")
	img := DirImage{Ref: "skiff.test/python:3", Env: []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}, Cmd: []string{"python3"}}
	if err := WriteDirImage(tarPath, root, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lay := readLayout(t, f)
	ann := lay.index.Manifests[0].Annotations
	if ann["io.containerd.image.name"] != img.Ref || ann["org.opencontainers.image.ref.name"] != "3" {
		t.Errorf("index annotations %v, want the name %s and the tag 3", ann, img.Ref)
	}
	if c := lay.config.Config; !slices.Equal(c.Env, img.Env) || !slices.Equal(c.Cmd, img.Cmd) {
		t.Errorf("config env %q cmd %q, want %q %q", c.Env, c.Cmd, img.Env, img.Cmd)
	}
	if len(lay.manifest.Layers) != 1 || !slices.Equal(lay.config.RootFS.DiffIDs, []digest.Digest{lay.manifest.Layers[0].Digest}) {
		t.Fatalf("layers %v, diff ids %v: want one uncompressed layer", lay.manifest.Layers, lay.config.RootFS.DiffIDs)
	}

	got := map[string]layerEntry{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(blobOf(t, lay, lay.manifest.Layers[0])))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = layerEntry{h.Typeflag, h.Mode & 0o7777, h.Gid, h.Linkname, string(b)}
		order = append(order, h.Name)
	}
	want := map[string]layerEntry{
		"bin":                {tar.TypeSymlink, 0o777, 0, "usr/bin", ""},
		"dev/":               {tar.TypeDir, 0o755, 0, "", ""},
		"etc/":               {tar.TypeDir, 0o755, 0, "", ""},
		"etc/shadow":         {tar.TypeReg, 0o640, 42, "", "root:*:\n"},
		"proc/":              {tar.TypeDir, 0o755, 0, "", ""},
		"tmp/":               {tar.TypeDir, 0o1777, 0, "", ""},
		"usr/":               {tar.TypeDir, 0o755, 0, "", ""},
		"usr/bin/":           {tar.TypeDir, 0o755, 0, "", ""},
		"usr/bin/python3":    {tar.TypeReg, 0o755, 0, "", "#!python\n"},
		"usr/bin/python3.11": {tar.TypeLink, 0o755, 0, "usr/bin/python3", ""},
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("layer lacks %s", name)
		} else if g != w {
			t.Errorf("layer entry %s = %+v, want %+v", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("layer has %s, which it should not", name)
		}
	}
	if !slices.IsSorted(order) {
		t.Errorf("layer entries not in lexical order: %q", order)
	}

	// containerd's own importer takes it.
	store, err := local.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.Seek(0, io.SeekStart)
	if _, err := archive.ImportIndex(context.Background(), store, f); err != nil {
		t.Fatalf("containerd import: %v", err)
	}
	if _, err := store.Info(context.Background(), lay.index.Manifests[0].Digest); err != nil {
		t.Errorf("manifest not in the store after import: %v", err)
	}
}

func TestDirImageErrors(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no tag", WriteDirImage(filepath.Join(t.TempDir(), "a.tar"), t.TempDir(), DirImage{Ref: "skiff.test/python"}), "has no tag"},
		{"no root", WriteDirImage(filepath.Join(t.TempDir(), "a.tar"), filepath.Join(t.TempDir(), "none"), DirImage{Ref: "skiff.test/python:3"}), "no such file"},
		{"root not empty", Debian{Ref: "skiff.test/python:3", Suite: "bookworm"}.Build(context.Background(), full, filepath.Join(t.TempDir(), "a.tar"), nil), "not empty"},
		{"no suite", Debian{Ref: "skiff.test/python:3"}.Build(context.Background(), t.TempDir(), filepath.Join(t.TempDir(), "a.tar"), nil), "want Ref and Suite"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, tt.err, tt.want)
		}
	}
}

func TestCutTag(t *testing.T) {
	tests := []struct {
		ref, name, tag string
		ok             bool
	}{
		{"skiff.test/python:3", "skiff.test/python", "3", true},
		{"localhost:5000/app:v1", "localhost:5000/app", "v1", true},
		{"localhost:5000/app", "localhost:5000/app", "", false},
		{"python", "python", "", false},
		{"skiff.test/python@sha256:abc", "skiff.test/python@sha256:abc", "", false},
	}
	for _, tt := range tests {
		name, tag, ok := cutTag(tt.ref)
		if name != tt.name || tag != tt.tag || ok != tt.ok {
			t.Errorf("cutTag(%q) = %q, %q, %v; want %q, %q, %v", tt.ref, name, tag, ok, tt.name, tt.tag, tt.ok)
		}
	}
}
