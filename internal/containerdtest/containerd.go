// Package containerdtest starts the children that skiff's tests run
// against: a private containerd for one test binary (Containerd), Debian's
// docker-registry on the loopback (StartRegistry), and removes what they
// leave (RemoveContainers, RemoveCgroup). It is imported only by _test
// files. It does not hold a package's own helpers (running an image,
// importing a test's own images): those stay with their tests.
package containerdtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skiffhq/skiff/scripts/testimages"
)

// Containerd is a private containerd child for one test binary: root,
// state, config and log in a temporary directory skiff-<Name>-*, socket
// at /run/skiff-<Name>-<pid>/containerd.sock. The first Client call
// starts it; TestMain stops it (Run, or Stop after m.Run). Declare one per package as
// a package variable and never copy it.
type Containerd struct {
	// Name names its directories and socket ("buildtest").
	Name string
	// Tests names the tests in skip messages ("the executor tests").
	Tests string
	// Namespace is the client's default namespace, where Busybox imports
	// the test image and whose containers Stop removes.
	Namespace string
	// Busybox imports and unpacks the busybox test image
	// (testimages.Ref("busybox"), running /bin/sh) into Namespace on start.
	Busybox bool
	// Isolated sets content_sharing_policy = "isolated", so that a pull
	// into another namespace fetches every blob again.
	Isolated bool
	// NeedRunc skips the tests when runc is not on PATH.
	NeedRunc bool

	once   sync.Once
	err    error
	dir    string
	cmd    *exec.Cmd
	client *containerd.Client
}

// Client returns a client of the private containerd, starting it on the
// first call. It skips the test when it cannot run here (not root, or no
// containerd, or no runc when NeedRunc) and fails it when containerd does
// not start.
func (c *Containerd) Client(t testing.TB) *containerd.Client {
	t.Helper()
	if os.Geteuid() != 0 {
		if c.NeedRunc {
			t.Skipf("%s need root (containerd, runc and mounts)", c.Tests)
		}
		t.Skipf("%s need root (a private containerd)", c.Tests)
	}
	bins := []string{"containerd"}
	if c.NeedRunc {
		bins = append(bins, "runc")
	}
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s need %s: %v", c.Tests, bin, err)
		}
	}
	c.once.Do(func() { c.err = c.start() })
	if c.err != nil {
		t.Fatalf("test containerd %s: %v", c.Name, c.err)
	}
	return c.client
}

// Run is TestMain's body: it runs the tests, stops containerd and returns
// the exit code for os.Exit.
func (c *Containerd) Run(m *testing.M) int {
	code := m.Run()
	c.Stop()
	return code
}

// runDir holds the socket; it must stay short (sun_path is 108 bytes).
func (c *Containerd) runDir() string {
	return fmt.Sprintf("/run/skiff-%s-%d", c.Name, os.Getpid())
}

// config is containerd's config.toml for root, state and sock.
func (c *Containerd) config(root, state, sock string) string {
	var isolated string
	if c.Isolated {
		isolated = `
# Isolated, so that a pull into another namespace fetches every blob
# again rather than taking the one another namespace has.
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"
`
	}
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
%s
[grpc]
  address = %q

[ttrpc]
  address = %q
`, root, state, isolated, sock, sock+".ttrpc")
}

func (c *Containerd) start() error {
	if c.Name == "" || c.Namespace == "" {
		return errors.New("containerdtest.Containerd needs a Name and a Namespace")
	}
	dir, err := os.MkdirTemp("", "skiff-"+c.Name+"-")
	if err != nil {
		return err
	}
	c.dir = dir
	sock := filepath.Join(c.runDir(), "containerd.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := c.config(filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	c.cmd = exec.Command("containerd", "--config", cfgPath)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		c.cmd = nil
		return fmt.Errorf("start containerd: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		cl, err := containerd.New(sock, containerd.WithDefaultNamespace(c.Namespace), containerd.WithTimeout(time.Second))
		if err == nil {
			if _, err = cl.Version(ctx); err == nil {
				c.client = cl
				break
			}
			cl.Close()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("containerd at %s does not answer: %v (log: %s)", sock, err, logFile.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !c.Busybox {
		return nil
	}
	return ImportBusybox(ctx, c.client, c.Namespace, dir)
}

// Stop removes the containers the tests left in Namespace, stops
// containerd by its PID (SIGTERM, then SIGKILL after 15 s), unmounts what
// it left and removes its directories. It does nothing for a Containerd
// no test started.
func (c *Containerd) Stop() {
	if c.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		RemoveContainers(ctx, c.client, c.Namespace)
		cancel()
		c.client.Close()
	}
	if c.cmd != nil && c.cmd.Process != nil {
		pid := c.cmd.Process.Pid
		syscall.Kill(pid, syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- c.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			<-done
		}
	}
	if c.dir == "" {
		return
	}
	unmountUnder(c.dir)
	if err := os.RemoveAll(c.dir); err != nil {
		fmt.Fprintf(os.Stderr, "remove %s: %v\n", c.dir, err)
	}
	os.RemoveAll(c.runDir())
}

// RemoveContainers kills and deletes, with their snapshots, the
// containers left in namespace, saying so on stderr for each.
func RemoveContainers(ctx context.Context, c *containerd.Client, namespace string) {
	ctx = namespaces.WithNamespace(ctx, namespace)
	cs, _ := c.Containers(ctx)
	for _, ctr := range cs {
		fmt.Fprintf(os.Stderr, "removing container %s left by a test\n", ctr.ID())
		if t, err := ctr.Task(ctx, nil); err == nil {
			t.Delete(ctx, containerd.WithProcessKill)
		}
		ctr.Delete(ctx, containerd.WithSnapshotCleanup)
	}
}

// ImportBusybox writes the busybox test image (running /bin/sh) as a
// tarball in dir and imports and unpacks it into namespace.
func ImportBusybox(ctx context.Context, c *containerd.Client, namespace, dir string) error {
	f, err := os.Create(filepath.Join(dir, "busybox.tar"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := testimages.Write(f, testimages.Spec{Name: "busybox", Cmd: []string{"/bin/sh"}}); err != nil {
		return fmt.Errorf("test image: %w (busybox-static is needed: scripts/install-deps.sh installs it)", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return Import(ctx, c, namespace, f)
}

// Import imports the images of the OCI-layout or docker-save tarball r
// into namespace and unpacks each into the default snapshotter.
func Import(ctx context.Context, c *containerd.Client, namespace string, r io.Reader) error {
	ctx = namespaces.WithNamespace(ctx, namespace)
	imgs, err := c.Import(ctx, r)
	if err != nil {
		return fmt.Errorf("import test image into namespace %s: %w", namespace, err)
	}
	for _, img := range imgs {
		if err := containerd.NewImage(c, img).Unpack(ctx, ""); err != nil {
			return fmt.Errorf("unpack %s in namespace %s: %w", img.Name, namespace, err)
		}
	}
	return nil
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
