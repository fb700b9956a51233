package containerdtest

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skiffhq/skiff/scripts/testimages"
)

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		isolated bool
		want     []string
		notWant  []string
	}{
		{"shared", false, []string{`root = "/r"`, `address = "/s"`, `address = "/s.ttrpc"`, `"io.containerd.grpc.v1.cri"`}, []string{"content_sharing_policy"}},
		{"isolated", true, []string{`content_sharing_policy = "isolated"`, `address = "/s"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := (&Containerd{Isolated: tc.isolated}).config("/r", "/st", "/s")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("config: got\n%s\nwant it to hold %s", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("config: got\n%s\nwant no %s", got, w)
				}
			}
		})
	}
}

// TestContainerd starts a private containerd with the busybox image,
// stops it, and looks that the process, its directories and its socket
// are gone.
func TestContainerd(t *testing.T) {
	c := &Containerd{Name: "ctdtest", Tests: "the containerdtest tests", Namespace: "skiff-ctdtest", Busybox: true, Isolated: true, NeedRunc: true}
	t.Cleanup(c.Stop)
	cl := c.Client(t)
	ctx := namespaces.WithNamespace(context.Background(), c.Namespace)
	img, err := cl.GetImage(ctx, testimages.Ref("busybox"))
	if err != nil {
		t.Fatalf("busybox image in %s: %v", c.Namespace, err)
	}
	if ok, err := img.IsUnpacked(ctx, ""); err != nil || !ok {
		t.Errorf("busybox unpacked: got %v (err %v), want true", ok, err)
	}
	cgroup := fmt.Sprintf("/skiff-ctdtest-%d", os.Getpid())
	t.Cleanup(func() { RemoveCgroup(cgroup) })
	// stdout and stderr are copied apart: their order is not kept.
	got := strings.Fields(RunImage(t, cl, c.Namespace, cgroup, testimages.Ref("busybox"), "/bin/sh", "-c", "echo out; echo err >&2"))
	if slices.Sort(got); !slices.Equal(got, []string{"err", "out"}) {
		t.Errorf("RunImage: got lines %q, want err and out", got)
	}
	if got := RunImage(t, cl, c.Namespace, cgroup, testimages.Ref("busybox")); got != "" {
		t.Errorf("RunImage of the image's own /bin/sh: got %q, want no output", got)
	}
	if again := c.Client(t); again != cl {
		t.Errorf("second Client: got another client, want the first")
	}
	pid, dir, run := c.cmd.Process.Pid, c.dir, c.runDir()
	if !strings.HasPrefix(filepath.Base(dir), "skiff-ctdtest-") {
		t.Errorf("dir: got %s, want skiff-ctdtest-*", dir)
	}
	c.Stop()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("containerd %d still runs after Stop", pid)
	}
	for _, p := range []string{dir, run} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after Stop: got err %v, want not exist", p, err)
		}
	}
}

func TestStartRegistry(t *testing.T) {
	addr := StartRegistry(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("addr: got %s, want 127.0.0.1:<port>", addr)
	}
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/: got %s, want 200 OK", resp.Status)
	}
}

func TestRemoveCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a cgroup needs root")
	}
	path := "/skiff-ctdtest-" + filepath.Base(t.TempDir())
	dirs := CgroupDirs(path)
	if len(dirs) == 0 {
		t.Skip("no cgroup hierarchy under /sys/fs/cgroup")
	}
	for _, d := range dirs {
		os.Mkdir(d, 0o755)
	}
	RemoveCgroup(path)
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s after RemoveCgroup: got err %v, want not exist", d, err)
		}
	}
}

// TestImportedOnlyByTests keeps the test children out of the skiff binary:
// no non-test file of the module may import this package.
func TestImportedOnlyByTests(t *testing.T) {
	const self = "github.com/skiffhq/skiff/internal/containerdtest"
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == strconv.Quote(self) {
				t.Errorf("%s imports %s: only _test files may", path, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
