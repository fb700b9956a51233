package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skiffhq/skiff/runtime/container"
)

// testImage is the name busyboxImage gives its image.
const testImage = "skiff.test/busybox:latest"

// busyboxApplets are the commands the test image offers.
var busyboxApplets = []string{"sh", "echo", "sleep", "cat", "id", "pwd", "touch", "dd", "tail", "head", "ls", "true", "false", "env", "hostname", "mkdir"}

// busyboxImage writes an OCI-layout tarball of one uncompressed layer
// holding /bin/busybox (Debian's busybox-static) and its applets, named
// skiff.test/busybox:latest, and returns its path.
func busyboxImage(t testing.TB) string {
	t.Helper()
	return writeImage(t, testImage, nil)
}

// writeImage is busyboxImage named name, with /extra holding extra if
// that is not nil (so that its layer is an image's own).
func writeImage(t testing.TB, name string, extra []byte) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed to build the test image (scripts/install-deps.sh installs it): %v", err)
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	lw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	lw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	lw.Write(bb)
	for _, a := range busyboxApplets {
		lw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	if extra != nil {
		lw.WriteHeader(&tar.Header{Name: "extra", Mode: 0o644, Size: int64(len(extra))})
		lw.Write(extra)
	}
	lw.Close()

	blobs := map[string][]byte{}
	add := func(b []byte) (string, int) {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		blobs[d] = b
		return d, len(b)
	}
	ld, ls := add(layer.Bytes())
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ld}}})
	cd, cs := add(cfg)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}}})
	md, ms := add(man)
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
		"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"}}}})

	path := filepath.Join(t.TempDir(), "busybox-oci.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	put := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	put("index.json", index)
	for d, b := range blobs {
		put("blobs/sha256/"+d[len("sha256:"):], b)
	}
	tw.Close()
	f.Close()
	return path
}

// sharedEnv is one containerd child for the tests of this package that
// need one, started by the first of them and stopped by TestMain.
type sharedEnv struct {
	once   sync.Once
	err    error
	dir    string
	client *containerd.Client
	stop   func()
	// cgroupParent is the cgroup the tests' containers go under.
	cgroupParent string
	// floorNamespace holds FloorStart's containers.
	floorNamespace string
}

var shared sharedEnv

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// testClient returns a client of the shared containerd, with the test
// image imported.
func testClient(t testing.TB) *containerd.Client {
	t.Helper()
	shared.once.Do(func() { shared.err = shared.start(t) })
	if shared.err != nil {
		t.Fatalf("test containerd: %v", shared.err)
	}
	return shared.client
}

func (e *sharedEnv) start(t testing.TB) error {
	dir, err := os.MkdirTemp("", "skiff-ctd-")
	if err != nil {
		return err
	}
	e.dir = dir
	e.cgroupParent = "/skiff-test-" + randomHex(4)
	e.floorNamespace = "skiff-floor-" + randomHex(4)
	s, err := NewSupervisor(SupervisorConfig{RootDir: filepath.Join(dir, "root"), StateDir: filepath.Join(dir, "run")})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	e.stop = func() {
		e.cleanup()
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			fmt.Fprintln(os.Stderr, "test containerd did not stop within 20s")
		}
		removeCgroup(e.cgroupParent)
		removeCgroup("/" + e.floorNamespace)
		os.RemoveAll(dir)
	}
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	e.client, err = Connect(cctx, s.Address())
	if err != nil {
		return err
	}
	f, err := os.Open(busyboxImage(t))
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err = ImportImages(cctx, e.client, f); err != nil {
		return err
	}
	// FloorStart's namespace needs the image too.
	fctx := namespaces.WithNamespace(cctx, e.floorNamespace)
	f.Seek(0, 0)
	imgs, err := e.client.Import(fctx, f)
	for _, img := range imgs {
		if err == nil {
			err = containerd.NewImage(e.client, img).Unpack(fctx, "")
		}
	}
	return err
}

// cleanup kills and deletes whatever containers the tests left.
func (e *sharedEnv) cleanup() {
	if e.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), Namespace), 30*time.Second)
	defer cancel()
	cs, _ := e.client.Containers(ctx)
	for _, c := range cs {
		fmt.Fprintf(os.Stderr, "removing container %s left by a test\n", c.ID())
		if t, err := c.Task(ctx, nil); err == nil {
			t.Delete(ctx, containerd.WithProcessKill)
		}
		c.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	e.client.Close()
}

// cgroupDirs are the directories of cgroup path in every hierarchy (v1)
// or in the unified one (v2).
func cgroupDirs(path string) []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{filepath.Join("/sys/fs/cgroup", path)}
	}
	var dirs []string
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		if d := filepath.Join("/sys/fs/cgroup", e.Name(), path); e.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func removeCgroup(path string) {
	for _, d := range cgroupDirs(path) {
		syscall.Rmdir(d)
	}
}

// newTestRuntime is a Runtime on the shared containerd, closed when the
// test ends.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	r, err := NewRuntime(context.Background(), RuntimeConfig{Client: testClient(t), FIFODir: filepath.Join(t.TempDir(), "fifo")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// testSpec is a host-network container of the test image running args,
// logging into the test's temp dir.
func testSpec(t testing.TB, args ...string) container.Spec {
	b := make([]byte, 4)
	rand.Read(b)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	id := name + "-" + hex.EncodeToString(b)
	return container.Spec{
		ID:           id,
		Pod:          container.PodRef{UID: "uid-" + id, Namespace: "default", Name: "pod-" + name},
		Name:         "main",
		SpecHash:     "hash1",
		Image:        testImage,
		Command:      args,
		CgroupParent: shared.cgroupParent,
		LogPath:      filepath.Join(t.TempDir(), "logs", id+".log"),
	}
}

// run creates and starts s and removes it when the test ends.
func run(t testing.TB, r *Runtime, s container.Spec) {
	t.Helper()
	ctx := context.Background()
	if err := r.Create(ctx, s); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Remove(ctx, s.ID); err != nil {
			t.Errorf("remove %s: %v", s.ID, err)
		}
	})
	if err := r.Start(ctx, s.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
}

// waitState waits (up to 20 s) for container id to reach state and
// returns its status.
func waitState(t testing.TB, r *Runtime, id string, state container.State) container.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := r.Inspect(context.Background(), id)
		if err == nil && st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: got state %q (err %v), want %q", id, st.State, err, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits (up to 20 s) until the log at path holds every one of
// want as a line's content, and returns the parsed lines.
func waitLog(t testing.TB, path string, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		missing := false
		for _, w := range want {
			found := false
			for _, l := range lines {
				if strings.HasSuffix(l, w) {
					found = true
				}
			}
			missing = missing || !found
		}
		if !missing {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s: got %q, want lines ending %q", path, lines, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
