package remote

import (
	"bytes"
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
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/build"
)

// testNamespace is the containerd namespace of the tests' builds.
const testNamespace = "skiff"

// testBase is the busybox test image the test Dockerfiles start FROM.
var testBase = testimages.Ref("busybox")

// testContainerd is one private containerd child, started by the first
// test that needs it and stopped by TestMain, by its PID.
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

// testCgroup is the parent cgroup of the tests' RUN containers.
func testCgroup() string { return fmt.Sprintf("/skiff-remotetest-%d", os.Getpid()) }

// testBuilder is an executor on the private containerd, or skips the test
// when it cannot run here (not root, no containerd or runc).
func testBuilder(t testing.TB) *build.Builder {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the remote build tests need root (containerd, runc and mounts)")
	}
	for _, bin := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("the remote build tests need %s: %v", bin, err)
		}
	}
	sharedCtd.once.Do(func() { sharedCtd.err = sharedCtd.start() })
	if sharedCtd.err != nil {
		t.Fatalf("test containerd: %v", sharedCtd.err)
	}
	return &build.Builder{Client: sharedCtd.client, Namespace: testNamespace, CgroupParent: testCgroup()}
}

func (e *testContainerd) start() error {
	dir, err := os.MkdirTemp("", "skiff-remotetest-")
	if err != nil {
		return err
	}
	e.dir = dir
	// The socket path must stay short (sun_path is 108 bytes).
	sock := fmt.Sprintf("/run/skiff-remotetest-%d/containerd.sock", os.Getpid())
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return err
	}
	root, state := filepath.Join(dir, "root"), filepath.Join(dir, "state")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

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
				break
			}
			c.Close()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("containerd at %s does not answer: %v (log: %s)", sock, err, logFile.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return importTestImage(ctx, e.client, dir)
}

// importTestImage writes the busybox test image and imports and unpacks it.
func importTestImage(ctx context.Context, c *containerd.Client, dir string) error {
	path := filepath.Join(dir, "busybox.tar")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := testimages.Write(f, testimages.Spec{Name: "busybox", Cmd: []string{"/bin/sh"}}); err != nil {
		return fmt.Errorf("test image: %w (busybox-static is needed: scripts/install-deps.sh installs it)", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	ctx = namespaces.WithNamespace(ctx, testNamespace)
	imgs, err := c.Import(ctx, f)
	if err != nil {
		return fmt.Errorf("import test image: %w", err)
	}
	for _, img := range imgs {
		if err := containerd.NewImage(c, img).Unpack(ctx, ""); err != nil {
			return fmt.Errorf("unpack %s: %w", img.Name, err)
		}
	}
	return nil
}

// stop removes the containers the tests left, stops containerd (SIGTERM,
// then SIGKILL) by its PID, unmounts what it left and removes its
// directories and the tests' cgroup.
func (e *testContainerd) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	if e.client != nil {
		ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNamespace), 30*time.Second)
		cs, _ := e.client.Containers(ctx)
		for _, c := range cs {
			fmt.Fprintf(os.Stderr, "removing container %s left by a test\n", c.ID())
			if t, err := c.Task(ctx, nil); err == nil {
				t.Delete(ctx, containerd.WithProcessKill)
			}
			c.Delete(ctx, containerd.WithSnapshotCleanup)
		}
		cancel()
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
	os.RemoveAll(fmt.Sprintf("/run/skiff-remotetest-%d", os.Getpid()))
	removeTestCgroup(testCgroup())
}

// removeTestCgroup removes the tests' parent cgroup (v2, or each v1
// hierarchy's).
func removeTestCgroup(p string) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		os.Remove(filepath.Join("/sys/fs/cgroup", p))
		return
	}
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		os.Remove(filepath.Join("/sys/fs/cgroup", e.Name(), p))
	}
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

// runImage runs args in a container of image and returns their output.
func runImage(t testing.TB, c *containerd.Client, image string, args ...string) string {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	img, err := c.GetImage(ctx, image)
	if err != nil {
		t.Fatalf("get image %s: %v", image, err)
	}
	id := fmt.Sprintf("remotetest-run-%d", time.Now().UnixNano())
	opts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithHostNamespace(specs.NetworkNamespace),
		oci.WithCgroup(testCgroup() + "/" + id), oci.WithProcessArgs(args...)}
	ctr, err := c.NewContainer(ctx, id, containerd.WithImage(img), containerd.WithNewSnapshot(id, img), containerd.WithNewSpec(opts...))
	if err != nil {
		t.Fatalf("container of %s: %v", image, err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	var out syncBuffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		t.Fatalf("task of %s: %v", image, err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st := <-exit
	task.Delete(context.WithoutCancel(ctx))
	if st.ExitCode() != 0 {
		t.Fatalf("%v in %s exited %d: %s", args, image, st.ExitCode(), out.String())
	}
	return out.String()
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, that can
// signal when its contents first contain a string.
type syncBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
}

// notify returns a channel closed once the buffer contains s.
func (s *syncBuffer) notify(str string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want, s.seen = str, make(chan struct{})
	return s.seen
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.seen != nil && s.want != "" && strings.Contains(s.b.String(), s.want) {
		close(s.seen)
		s.want = ""
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
