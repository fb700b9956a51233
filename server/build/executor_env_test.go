package build

import (
	"os"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/skiffhq/skiff/internal/containerdtest"
	"github.com/skiffhq/skiff/scripts/testimages"
)

// testNamespace is the containerd namespace of the executor tests.
const testNamespace = "skiff"

// testBase is the busybox test image the test Dockerfiles start FROM.
var testBase = testimages.Ref("busybox")

// sharedCtd is the private containerd of the executor tests, started by
// the first test that needs it, with the busybox test image, and stopped
// by TestMain, by its PID.
var sharedCtd = &containerdtest.Containerd{
	Name: "buildtest", Tests: "the executor tests", Namespace: testNamespace,
	Busybox: true, NeedRunc: true,
}

func TestMain(m *testing.M) { os.Exit(sharedCtd.Run(m)) }

// testClient returns a client of the private containerd with the busybox
// test image imported, or skips the test when it cannot run here (not root,
// or no containerd or runc).
func testClient(t testing.TB) *containerd.Client {
	t.Helper()
	return sharedCtd.Client(t)
}
