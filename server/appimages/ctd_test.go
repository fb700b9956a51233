package appimages

// The private test containerd here is a copy of server/build's
// (executor_env_test.go), trimmed to what image serving needs (no runc).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiffhq/skiff/scripts/testimages"
)

// testNamespace is the namespace the served images are in, as on a server
// node.
const testNamespace = "skiff"

// testHost is the registry host of the served images' names.
const testHost = "skiff.local"

// testContainerd is one private containerd child for the tests, started
// by the first test that needs it (root, state and socket in a directory
// of its own) and stopped by TestMain, by its PID.
type testContainerd struct {
	once   sync.Once
	err    error
	dir    string
	cmd    *exec.Cmd
	client *containerd.Client
}

var sharedCtd testContainerd

func TestMain(m *testing.M) {
	code := m.Run()
	sharedCtd.stop()
	os.Exit(code)
}

// testClient returns a client of the private containerd, or skips the
// test when it cannot run here (not root, or no containerd).
func testClient(t testing.TB) *containerd.Client {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the image serving tests need root (a private containerd)")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skipf("the image serving tests need containerd: %v", err)
	}
	sharedCtd.once.Do(func() { sharedCtd.err = sharedCtd.start() })
	if sharedCtd.err != nil {
		t.Fatalf("test containerd: %v", sharedCtd.err)
	}
	return sharedCtd.client
}

func (e *testContainerd) start() error {
	dir, err := os.MkdirTemp("", "skiff-appimagestest-")
	if err != nil {
		return err
	}
	e.dir = dir
	// The socket path must stay short (sun_path is 108 bytes).
	sock := fmt.Sprintf("/run/skiff-appimagestest-%d/containerd.sock", os.Getpid())
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return err
	}
	root, state := filepath.Join(dir, "root"), filepath.Join(dir, "state")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

# Isolated, so that a pull into another namespace fetches every blob
# again rather than taking the one the test namespace has.
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"

[grpc]
  address = %q

[ttrpc]
  address = %q
`, root, state, sock, sock+".ttrpc")
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	e.cmd = exec.Command("containerd", "--config", cfgPath)
	e.cmd.Stdout, e.cmd.Stderr = logFile, logFile
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := containerd.New(sock, containerd.WithDefaultNamespace(testNamespace), containerd.WithTimeout(time.Second))
		if err == nil {
			if _, err = c.Version(ctx); err == nil {
				e.client = c
				return nil
			}
			c.Close()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("containerd at %s does not answer: %v (log: %s)", sock, err, logFile.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops containerd (SIGTERM, then SIGKILL) by its PID, unmounts what
// it left and removes its directories.
func (e *testContainerd) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	if e.client != nil {
		e.client.Close()
	}
	pid := e.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- e.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		<-done
	}
	unmountUnder(e.dir)
	if err := os.RemoveAll(e.dir); err != nil {
		fmt.Fprintf(os.Stderr, "remove %s: %v\n", e.dir, err)
	}
	os.RemoveAll(fmt.Sprintf("/run/skiff-appimagestest-%d", os.Getpid()))
}

// unmountUnder lazily unmounts every mount below dir (deepest first).
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			fmt.Fprintf(os.Stderr, "unmount %s: %v\n", mounts[i], err)
		}
	}
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
