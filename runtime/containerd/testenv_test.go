package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/skiffhq/skiff/internal/containerdtest"
	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/scripts/testimages"
)

// testImage is the image the tests run, imported by the shared
// containerd.
var testImage = testimages.Ref("busybox")

// busyboxSpec is testImage: scripts/testimages' layer, running /bin/sh.
var busyboxSpec = testimages.Spec{Name: "busybox", Cmd: []string{"/bin/sh"}}

// busyboxImage writes testImage as an OCI-layout tarball and returns its
// path.
func busyboxImage(t testing.TB) string {
	t.Helper()
	path, err := writeImage(t.TempDir(), busyboxSpec)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// writeImage writes img as an OCI-layout tarball in dir and returns its
// path.
func writeImage(dir string, img testimages.Spec) (string, error) {
	path := filepath.Join(dir, img.Name+".tar")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := errors.Join(testimages.Write(f, img), f.Close()); err != nil {
		return "", fmt.Errorf("test image %s: %w (busybox-static is needed: scripts/install-deps.sh installs it)", img.Name, err)
	}
	return path, nil
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
	shared.once.Do(func() { shared.err = shared.start() })
	if shared.err != nil {
		t.Fatalf("test containerd: %v", shared.err)
	}
	return shared.client
}

func (e *sharedEnv) start() error {
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
		containerdtest.RemoveCgroup(e.cgroupParent)
		containerdtest.RemoveCgroup("/" + e.floorNamespace)
		os.RemoveAll(dir)
	}
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	e.client, err = Connect(cctx, s.Address())
	if err != nil {
		return err
	}
	// In dir, not a test's temporary directory: the image outlives the
	// test that happens to start the shared containerd.
	path, err := writeImage(dir, busyboxSpec)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err = ImportImages(cctx, e.client, f); err != nil {
		return err
	}
	// FloorStart's namespace needs the image too.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return containerdtest.Import(cctx, e.client, e.floorNamespace, f)
}

// cleanup kills and deletes whatever containers the tests left.
func (e *sharedEnv) cleanup() {
	if e.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	containerdtest.RemoveContainers(ctx, e.client, Namespace)
	e.client.Close()
}

// cgroupDirs are the directories of cgroup path in every hierarchy (v1)
// or in the unified one (v2).
func cgroupDirs(path string) []string { return containerdtest.CgroupDirs(path) }

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
