package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	containerdclient "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"

	runtimecontainer "github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/scripts/testimages"
)

// imagesNode is a containerd laid out as runNode lays out its own:
// socket <run-dir>/containerd/containerd.sock, so that `skiff images`
// finds it from --run-dir alone.
type imagesNode struct {
	runDir string
	client *containerdclient.Client
}

func startImagesNode(t *testing.T) *imagesNode {
	t.Helper()
	dir := t.TempDir()
	n := &imagesNode{runDir: filepath.Join(dir, "run")}
	sup, err := containerd.NewSupervisor(containerd.SupervisorConfig{
		RootDir:  filepath.Join(dir, "root"),
		StateDir: filepath.Join(n.runDir, "containerd"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if l := len(sup.Address() + ".ttrpc"); l >= 108 {
		t.Fatalf("containerd socket path is %d bytes, over the 107 a unix socket takes: %s", l, sup.Address())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("test containerd did not stop within 20s")
		}
	})
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	if n.client, err = containerd.Connect(cctx, sup.Address()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.client.Close() })
	return n
}

// skiff runs `skiff images ARGS --run-dir <the node's>` in process.
func (n *imagesNode) skiff(stdin io.Reader, args ...string) result {
	return skiffImages(stdin, append(args, "--run-dir", n.runDir)...)
}

func skiffImages(stdin io.Reader, args ...string) result {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"images"}, args...), stdin, &out, &errb)
	return result{out.String(), errb.String(), code}
}

// list is what `skiff images list -o json` says.
func (n *imagesNode) list(t *testing.T) []imageRow {
	t.Helper()
	r := n.skiff(nil, "list", "-o", "json").must(t, "images list -o json")
	var rows []imageRow
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil {
		t.Fatalf("images list -o json: %v\n%s", err, r.out)
	}
	return rows
}

// refsOf maps each listed image to its digest.
func refsOf(rows []imageRow) map[string]string {
	m := map[string]string{}
	for _, r := range rows {
		m[r.Ref] = r.Digest
	}
	return m
}

func (n *imagesNode) ctx() context.Context {
	return namespaces.WithNamespace(context.Background(), containerd.Namespace)
}

// imgSpec is the OCI-layout image the tests import: skiff.test/imgtest.
var imgSpec = testimages.Spec{Name: "imgtest", Cmd: []string{"sleep", "3600"}}

// ociTarball is imgSpec as scripts/testimages writes it.
func ociTarball(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := testimages.Write(&b, imgSpec); err != nil {
		t.Fatalf("%v (busybox-static is needed: scripts/install-deps.sh installs it)", err)
	}
	return b.Bytes()
}

func writeTarball(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dockerSave writes imgSpec in the layout `docker save` writes, tagged
// tags. badDiffID makes the config name a layer other than the one in the
// tarball, as a corrupt save would.
func dockerSave(t *testing.T, badDiffID bool, tags ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := testimages.WriteDockerSave(&b, testimages.SaveImage{Spec: imgSpec, Tags: tags, BadDiffID: badDiffID}); err != nil {
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

func TestImagesImportListRemove(t *testing.T) {
	n := startImagesNode(t)
	oci := ociTarball(t)
	ociRef := testimages.Ref(imgSpec.Name)
	ociDigest, err := testimages.ManifestDigest(imgSpec)
	if err != nil {
		t.Fatal(err)
	}

	// An OCI layout from a file, a gzipped docker save from stdin.
	r := n.skiff(nil, "import", writeTarball(t, "imgtest.tar", oci)).must(t, "images import imgtest.tar")
	if got, want := r.out, ociRef+"\n"; got != want {
		t.Errorf("import OCI layout: got %q, want %q", got, want)
	}
	r = n.skiff(bytes.NewReader(gzipped(t, dockerSave(t, false, "dsave:1.0"))), "import", "-").must(t, "images import -")
	if got, want := r.out, "docker.io/library/dsave:1.0\n"; got != want {
		t.Errorf("import docker save: got %q, want %q", got, want)
	}
	img, err := n.client.GetImage(n.ctx(), "docker.io/library/dsave:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := img.IsUnpacked(n.ctx(), "overlayfs"); !ok || err != nil {
		t.Errorf("imported image not unpacked: %v %v", ok, err)
	}
	dsaveDigest := img.Target().Digest

	// list, as JSON and as a table (the same with the alias ls).
	rows := n.list(t)
	if len(rows) != 2 || rows[0].Ref != "docker.io/library/dsave:1.0" || rows[1].Ref != ociRef {
		t.Fatalf("list: got %+v, want dsave:1.0 and %s, sorted", rows, ociRef)
	}
	if rows[0].Digest != dsaveDigest.String() || rows[1].Digest != ociDigest.String() {
		t.Errorf("list digests: got %s and %s, want %s and %s", rows[0].Digest, rows[1].Digest, dsaveDigest, ociDigest)
	}
	for _, row := range rows {
		if row.Size == nil || *row.Size < 100_000 { // the layer holds busybox
			t.Errorf("list: %s has size %v, want the content's", row.Ref, row.Size)
		}
	}
	var want bytes.Buffer
	printImageTable(&want, rows)
	for _, verb := range []string{"list", "ls"} {
		r = n.skiff(nil, verb).must(t, "images "+verb)
		if r.out != want.String() {
			t.Errorf("images %s: got\n%s\nwant\n%s", verb, r.out, want.String())
		}
	}
	if !strings.HasPrefix(r.out, "REF ") || !strings.Contains(r.out, ociDigest.Encoded()[:12]+" ") || strings.Contains(r.out, ociDigest.Encoded()[:13]) {
		t.Errorf("table: want a REF column and 12-digit digests:\n%s", r.out)
	}

	// rm by the short name a pod spec would use; the content goes too.
	r = n.skiff(nil, "rm", "dsave:1.0").must(t, "images rm dsave:1.0")
	if got, want := r.out, `image "docker.io/library/dsave:1.0" removed`+"\n"; got != want {
		t.Errorf("rm: got %q, want %q", got, want)
	}
	if _, err := n.client.ContentStore().Info(n.ctx(), dsaveDigest); !cerrdefs.IsNotFound(err) {
		t.Errorf("removed image's manifest: got %v, want it garbage-collected", err)
	}

	// An unknown ref fails and says so; the others given are removed.
	r = n.skiff(nil, "rm", "nope:1", ociRef)
	if r.code == 0 || !strings.Contains(r.err, "no image docker.io/library/nope:1 on this node") {
		t.Errorf("rm of an unknown ref: exit %d, stderr %q; want non-zero and a clear message", r.code, r.err)
	}
	if got, want := r.out, fmt.Sprintf("image %q removed\n", ociRef); got != want {
		t.Errorf("rm beside an unknown ref: got %q, want %q", got, want)
	}
	if r = n.skiff(nil, "rm", "Not/A:Ref:"); r.code == 0 || !strings.Contains(r.err, "is not an image reference") {
		t.Errorf("rm of a malformed ref: exit %d, stderr %q", r.code, r.err)
	}
	if rows := n.list(t); len(rows) != 0 {
		t.Errorf("list after rm: got %+v, want none", rows)
	}
	r = n.skiff(nil, "list").must(t, "images list")
	if r.out != "" || !strings.Contains(r.err, "No images") {
		t.Errorf("empty list: stdout %q, stderr %q", r.out, r.err)
	}
	if r = n.skiff(nil, "list", "-o", "json").must(t, "images list -o json"); strings.TrimSpace(r.out) != "[]" {
		t.Errorf("empty list -o json: got %q, want []", r.out)
	}
}

func TestImagesRemoveInUse(t *testing.T) {
	n := startImagesNode(t)
	ref := testimages.Ref(imgSpec.Name)
	n.skiff(nil, "import", writeTarball(t, "imgtest.tar", ociTarball(t))).must(t, "images import")

	// A running container made from the image, as the agent makes one.
	rt, err := containerd.NewRuntime(context.Background(), containerd.RuntimeConfig{Client: n.client, FIFODir: filepath.Join(t.TempDir(), "fifo")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	b := make([]byte, 4)
	rand.Read(b)
	cgroupParent := "/skiff-imgtest-" + hex.EncodeToString(b)
	spec := runtimecontainer.Spec{
		ID:           "imgtest-" + hex.EncodeToString(b),
		Pod:          runtimecontainer.PodRef{UID: "uid-1", Namespace: "shop", Name: "web-1"},
		Name:         "main",
		SpecHash:     "h",
		Image:        ref,
		CgroupParent: cgroupParent,
		LogPath:      filepath.Join(t.TempDir(), "main.log"),
	}
	ctx := context.Background()
	if err := rt.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Remove(ctx, spec.ID); err != nil {
			t.Errorf("remove container: %v", err)
		}
		for _, d := range append([]string{"/sys/fs/cgroup" + cgroupParent}, globCgroups(cgroupParent)...) {
			os.Remove(filepath.Join(d, spec.ID))
			os.Remove(d)
		}
	})
	if err := rt.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}

	r := n.skiff(nil, "rm", ref)
	if r.code == 0 || !strings.Contains(r.err, "in use by pod shop/web-1 (container main)") || !strings.Contains(r.err, "--force") {
		t.Errorf("rm of an image in use: exit %d, stderr %q; want a refusal naming the pod and --force", r.code, r.err)
	}
	if _, ok := refsOf(n.list(t))[ref]; !ok {
		t.Fatal("refused rm removed the image")
	}

	r = n.skiff(nil, "rm", "--force", ref).must(t, "images rm --force")
	if !strings.Contains(r.out, "removed") || !strings.Contains(r.err, "warning: image "+ref+" was in use by pod shop/web-1") {
		t.Errorf("rm --force: stdout %q, stderr %q; want removed, with a warning", r.out, r.err)
	}
	if rows := n.list(t); len(rows) != 0 {
		t.Errorf("list after rm --force: got %+v", rows)
	}
	if st, err := rt.Inspect(ctx, spec.ID); err != nil || st.State != runtimecontainer.StateRunning {
		t.Errorf("container after rm --force of its image: %+v %v, want still running", st.State, err)
	}
}

// globCgroups is the directory of cgroup path in every cgroup v1
// hierarchy.
func globCgroups(path string) []string {
	m, _ := filepath.Glob("/sys/fs/cgroup/*" + path)
	return m
}

func TestImagesMalformedTarball(t *testing.T) {
	n := startImagesNode(t)
	oci := ociTarball(t)
	n.skiff(bytes.NewReader(dockerSave(t, false, "dsave:1.0")), "import", "-").must(t, "images import")
	before := refsOf(n.list(t))

	var notImage bytes.Buffer
	tw := tar.NewWriter(&notImage)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "hello.txt", Mode: 0o644, Size: 6})
	tw.Write([]byte("hello\n"))
	tw.Close()

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("this is not a tarball\n"), "not an OCI-layout or docker-save image tarball"},
		{"truncated", oci[:len(oci)/2], "not an OCI-layout or docker-save image tarball"},
		{"truncated-gzip", gzipped(t, oci)[:1000], "not an OCI-layout or docker-save image tarball"},
		{"no-image", notImage.Bytes(), "unrecognized image format"},
		// Its images are stored, then fail to unpack: the one that
		// existed keeps its old content, the new one goes.
		{"bad-layer", dockerSave(t, true, "dsave:1.0", "dsave:2.0"), "unpack docker.io/library/dsave:1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTarball(t, tc.name+".tar", tc.data)
			r := n.skiff(nil, "import", path)
			if r.code == 0 || !strings.Contains(r.err, path+": ") || !strings.Contains(r.err, tc.want) || !strings.Contains(r.err, "nothing imported") {
				t.Errorf("import: exit %d, stderr %q; want non-zero, naming the file, %q and nothing imported", r.code, r.err, tc.want)
			}
			if r.out != "" {
				t.Errorf("import printed %q, want nothing", r.out)
			}
			if after := refsOf(n.list(t)); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("images: got %v, want %v as before", after, before)
			}
		})
	}
	img, err := n.client.GetImage(n.ctx(), "docker.io/library/dsave:1.0")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := img.IsUnpacked(n.ctx(), "overlayfs"); !ok || err != nil {
		t.Errorf("image put back after a failed import is not whole: unpacked %v, %v", ok, err)
	}

	// A good tarball beside a bad one is imported; the command fails.
	r := n.skiff(nil, "import", writeTarball(t, "imgtest.tar", oci), writeTarball(t, "bad.tar", []byte("x")))
	if r.code == 0 || r.out != testimages.Ref(imgSpec.Name)+"\n" {
		t.Errorf("import of a good and a bad tarball: exit %d, stdout %q", r.code, r.out)
	}
}

// TestImagesImportDir is the import of <data-dir>/images at node start:
// each tarball once, its images' references kept in its marker so that
// later starts still know them (the garbage collector keeps them).
func TestImagesImportDir(t *testing.T) {
	n := startImagesNode(t)
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	importDir := func(what string, want ...string) {
		t.Helper()
		refs, err := importImageDir(context.Background(), n.client, dir, log)
		slices.Sort(refs)
		if err != nil || !slices.Equal(refs, want) {
			t.Errorf("%s: got %v, %v; want %v", what, refs, err, want)
		}
	}
	oci := testimages.Ref(imgSpec.Name)
	write("a.tar.gz", gzipped(t, dockerSave(t, false, "dsave:1.0", "dsave:2.0")))
	write("b.tar", ociTarball(t))
	write("bad.tar", []byte("not a tarball"))
	write("notes.txt", []byte("not an image"))
	all := []string{"docker.io/library/dsave:1.0", "docker.io/library/dsave:2.0", oci}
	importDir("first start", all...)
	if _, err := os.Stat(filepath.Join(dir, ".bad.tar.imported")); err == nil {
		t.Error("a tarball that failed to import has a marker; it would not be tried again")
	}

	// A later start reads the markers: a removed image is not imported
	// again, and still counts as the directory's.
	if err := n.client.ImageService().Delete(n.ctx(), oci); err != nil {
		t.Fatal(err)
	}
	importDir("second start", all...)
	if _, err := n.client.ImageService().Get(n.ctx(), oci); err == nil {
		t.Errorf("%s imported again from an unchanged tarball", oci)
	}

	// A marker without references (an older skiff's) or of another
	// version of the tarball does not count.
	write(".b.tar.imported", []byte("1 2\n"))
	importDir("old marker", all...)
	if _, err := n.client.ImageService().Get(n.ctx(), oci); err != nil {
		t.Errorf("%s not imported again despite an old marker: %v", oci, err)
	}
	write("a.tar.gz", dockerSave(t, false, "dsave:3.0"))
	importDir("changed tarball", "docker.io/library/dsave:3.0", oci)
}

func TestImagesNoContainerd(t *testing.T) {
	dir := t.TempDir()
	// A socket nobody listens on, as a killed skiff leaves.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	// A socket that accepts and never answers.
	silent := filepath.Join(dir, "silent.sock")
	sl, err := net.Listen("unix", silent)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := sl.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	notSocket := writeTarball(t, "file", []byte("x"))

	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"missing", []string{"--run-dir", filepath.Join(dir, "run")}, "is skiff running on this machine? there is no containerd socket at " + filepath.Join(dir, "run", "containerd", "containerd.sock")},
		{"stale", []string{"--containerd-socket", stale}, "is skiff running on this machine? nothing listens on " + stale},
		{"silent", []string{"--containerd-socket", silent}, "is skiff running on this machine? containerd at " + silent + " does not answer"},
		{"not-a-socket", []string{"--containerd-socket", notSocket}, notSocket + " is not a socket"},
	} {
		for _, args := range [][]string{{"list"}, {"import", "-"}, {"rm", "busybox"}} {
			if tc.name == "silent" && args[0] != "list" {
				continue // the same connect; each takes connectTimeout
			}
			t.Run(tc.name+"/"+args[0], func(t *testing.T) {
				begin := time.Now()
				r := skiffImages(nil, append(args, tc.flags...)...)
				took := time.Since(begin)
				if r.code == 0 || !strings.Contains(r.err, tc.want) {
					t.Errorf("exit %d, stderr %q; want non-zero and %q", r.code, r.err, tc.want)
				}
				// Not a timing test: the bound catches a hang, far above
				// the few seconds (connectTimeout) it takes at most.
				if took > 3*connectTimeout {
					t.Errorf("took %v to fail, want a few seconds at most", took)
				}
			})
		}
	}
}

func TestImagesUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "-", "-"}, "- (standard input) given 2 times"},
		{[]string{"list", "-o", "yaml"}, `-o "yaml": use json`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for skiff images`},
		{[]string{"rm"}, "requires at least 1 arg"},
	} {
		r := skiffImages(nil, tc.args...)
		if r.code == 0 || !strings.Contains(r.err, tc.want) {
			t.Errorf("skiff images %v: exit %d, stderr %q; want %q", tc.args, r.code, r.err, tc.want)
		}
	}
}

func TestImagesTable(t *testing.T) {
	size := func(n int64) *int64 { return &n }
	var b bytes.Buffer
	printImageTable(&b, []imageRow{
		{Ref: "docker.io/library/busybox:1.36", Digest: "sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79", Size: size(2_162_704)},
		{Ref: "ghcr.io/acme/web:v2", Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Size: size(148_500_000)},
		{Ref: "skiff.test/broken:latest", Digest: "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"},
	})
	golden(t, "images-list", b.Bytes())
}

func TestImagesHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {999, "999B"}, {1000, "1kB"}, {1536, "1.54kB"}, {2_162_704, "2.16MB"},
		{999_499_999, "999MB"}, {999_999_999, "1GB"}, {5_300_000_000, "5.3GB"}, {1 << 62, "4.61EB"},
	} {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("humanSize(%d): got %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := shortDigest("sha256:3fbc632167424a6d997e74f52b878d7c"); got != "3fbc63216742" {
		t.Errorf("shortDigest: got %q", got)
	}
}
