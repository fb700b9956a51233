package remote

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/skiffhq/skiff/internal/containerdtest"
	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/build"
)

// testNamespace is the containerd namespace of the tests' builds.
const testNamespace = "skiff"

// testBase is the busybox test image the test Dockerfiles start FROM.
var testBase = testimages.Ref("busybox")

// sharedCtd is the private containerd of the tests' builds, started by
// the first test that needs it, with the busybox test image, and stopped
// by TestMain, by its PID.
var sharedCtd = &containerdtest.Containerd{
	Name: "remotetest", Tests: "the remote build tests", Namespace: testNamespace,
	Busybox: true, NeedRunc: true,
}

func TestMain(m *testing.M) {
	code := sharedCtd.Run(m)
	containerdtest.RemoveCgroup(testCgroup())
	os.Exit(code)
}

// testCgroup is the parent cgroup of the tests' RUN containers.
func testCgroup() string { return fmt.Sprintf("/skiff-remotetest-%d", os.Getpid()) }

// testBuilder is an executor on the private containerd, or skips the test
// when it cannot run here (not root, no containerd or runc).
func testBuilder(t testing.TB) *build.Builder {
	t.Helper()
	return &build.Builder{Client: sharedCtd.Client(t), Namespace: testNamespace, CgroupParent: testCgroup()}
}

// runImage runs args in a container of image and returns their output.
func runImage(t testing.TB, c *containerd.Client, image string, args ...string) string {
	t.Helper()
	return containerdtest.RunImage(t, c, testNamespace, testCgroup(), image, args...)
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
