package gc_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/runtime/gc"
	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

var _ gc.Runtime = (*containerd.Runtime)(nil)

// TestContainerd runs the collector on a real containerd (started for
// the test in its temporary directory) with the test images imported: an
// exited container of a pod gone is removed with its log, then unused
// images go least recently used first while the disk is reported full;
// the image of a running container and a kept one stay, and so does the
// running container.
func TestContainerd(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt := startContainerd(t, dir, "sleep", "busybox", "exit", "httpd")
	refs := func() []string {
		imgs, err := rt.ListImages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, img := range imgs {
			out = append(out, img.Ref)
		}
		return out
	}
	if got, want := refs(), []string{testimages.Ref("busybox"), testimages.Ref("exit"), testimages.Ref("httpd"), testimages.Ref("sleep")}; !slices.Equal(got, want) {
		t.Fatalf("imported images: got %q, want %q", got, want)
	}
	exitImg, err := rt.GetImage(ctx, testimages.Ref("exit"))
	if err != nil {
		t.Fatal(err)
	}

	logDir := filepath.Join(dir, "pods")
	cgroup := "/skiff-gc-test-" + randomHex(4)
	t.Cleanup(func() { removeCgroup(cgroup) })
	spec := func(uid, name string, image string, cmd ...string) container.Spec {
		return container.Spec{
			ID:           uid + "-" + name,
			Pod:          container.PodRef{UID: uid, Namespace: "default", Name: "pod-" + uid},
			Name:         name,
			SpecHash:     "hash",
			Image:        image,
			Command:      cmd,
			CgroupParent: cgroup,
			LogPath:      filepath.Join(logDir, uid, "logs", name, "0.log"),
		}
	}
	sleeper := spec("known", "sleeper", testimages.Ref("sleep"))
	done := spec("gone", "done", testimages.Ref("busybox"), "sh", "-c", "echo bye")
	for _, s := range []container.Spec{sleeper, done} {
		if err := rt.Create(ctx, s); err != nil {
			t.Fatalf("create %s: %v", s.ID, err)
		}
		t.Cleanup(func() {
			if err := rt.Remove(context.Background(), s.ID); err != nil && !errdefs.IsNotFound(err) {
				t.Errorf("remove %s: %v", s.ID, err)
			}
		})
		if err := rt.Start(ctx, s.ID); err != nil {
			t.Fatalf("start %s: %v", s.ID, err)
		}
	}
	waitState(t, rt, done.ID, container.StateExited)
	waitFor(t, "the exited container's log", func() bool {
		b, _ := os.ReadFile(done.LogPath)
		return len(b) > 0
	})

	// The disk is five "exit" images big and 95% used: one image's
	// removal (by its reported size) brings it to 75%, below 80%.
	total := uint64(exitImg.Size) * 5
	var skew atomic.Int64
	g, err := gc.New(gc.Config{
		Runtime:   rt,
		ImageFS:   filepath.Join(dir, "root"),
		LogDir:    logDir,
		KnownPod:  func(uid string) bool { return uid == "known" },
		Keep:      func(ref string) bool { return ref == testimages.Ref("httpd") },
		DiskUsage: func(string) (uint64, uint64, error) { return total * 95 / 100, total, nil },
		Now:       func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}

	// Now: everything is too young.
	rep, err := g.Collect(ctx)
	if err != nil || rep != (gc.Report{}) {
		t.Fatalf("first pass: got %+v, %v; want nothing removed, no error", rep, err)
	}
	if got := refs(); len(got) != 4 {
		t.Fatalf("images after the first pass: %q", got)
	}

	// Ten minutes on: the exited container of the gone pod, its log, and
	// the image unused since the first pass go; busybox, the removed
	// container's, is unused only from now.
	skew.Store(int64(10 * time.Minute))
	rep, err = g.Collect(ctx)
	if err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if rep.ContainersRemoved != 1 || rep.LogFilesRemoved != 1 || rep.ImagesRemoved != 1 || rep.ImageBytesFreed != exitImg.Size {
		t.Errorf("second pass: got %+v, want 1 container, 1 log file, 1 image of %d bytes", rep, exitImg.Size)
	}
	if _, err := rt.Inspect(ctx, done.ID); err == nil {
		t.Errorf("the exited container of the gone pod is still there")
	}
	if _, err := os.Stat(filepath.Join(logDir, "gone", "logs")); !os.IsNotExist(err) {
		t.Errorf("the gone pod's logs: got %v, want them removed", err)
	}
	if got, want := refs(), []string{testimages.Ref("busybox"), testimages.Ref("httpd"), testimages.Ref("sleep")}; !slices.Equal(got, want) {
		t.Errorf("images after the second pass: got %q, want %q", got, want)
	}

	// Twenty minutes on: busybox has been unused for ten.
	skew.Store(int64(20 * time.Minute))
	rep, err = g.Collect(ctx)
	if err != nil || rep.ImagesRemoved != 1 {
		t.Errorf("third pass: got %+v, %v; want busybox removed", rep, err)
	}
	if got, want := refs(), []string{testimages.Ref("httpd"), testimages.Ref("sleep")}; !slices.Equal(got, want) {
		t.Errorf("images after the third pass: got %q, want %q", got, want)
	}

	// And on: nothing more can go; the disk stays "full".
	skew.Store(int64(time.Hour))
	if _, err := g.Collect(ctx); err == nil {
		t.Errorf("fourth pass: got no error, want one saying no image can be removed")
	}
	st, err := rt.Inspect(ctx, sleeper.ID)
	if err != nil || st.State != container.StateRunning {
		t.Errorf("the running container: got %s, %v; want it running", st.State, err)
	}
	if _, err := os.Stat(sleeper.LogPath); err != nil {
		t.Errorf("the running container's log: %v", err)
	}
}

// startContainerd runs a containerd in dir until the test ends, imports
// the named test images and returns a Runtime on it.
func startContainerd(t *testing.T, dir string, images ...string) *containerd.Runtime {
	t.Helper()
	sup, err := containerd.NewSupervisor(containerd.SupervisorConfig{RootDir: filepath.Join(dir, "root"), StateDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Errorf("containerd did not stop within 30s")
		}
	})
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	client, err := containerd.Connect(cctx, sup.Address())
	if err != nil {
		t.Fatalf("connect to the test containerd: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	for _, name := range images {
		path := filepath.Join(dir, name+".tar")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		spec := testImage(t, name)
		if err := errors.Join(testimages.Write(f, spec), f.Close()); err != nil {
			t.Fatalf("test image %s: %v (busybox-static is needed: scripts/install-deps.sh installs it)", name, err)
		}
		f, err = os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = containerd.ImportImages(cctx, client, f)
		f.Close()
		if err != nil {
			t.Fatalf("import %s: %v", name, err)
		}
	}
	rt, err := containerd.NewRuntime(cctx, containerd.RuntimeConfig{Client: client, FIFODir: filepath.Join(dir, "fifo")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// testImage is the standard test image called name.
func testImage(t *testing.T, name string) testimages.Spec {
	t.Helper()
	for _, s := range testimages.Images() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no test image %q in testimages.Images", name)
	return testimages.Spec{}
}

// waitState waits (up to 20 s) for container id to reach state.
func waitState(t *testing.T, rt *containerd.Runtime, id string, state container.State) {
	t.Helper()
	waitFor(t, "container "+id+" "+string(state), func() bool {
		st, err := rt.Inspect(context.Background(), id)
		return err == nil && st.State == state
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// removeCgroup removes the cgroup path from every hierarchy (v1) or the
// unified one (v2).
func removeCgroup(path string) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		syscall.Rmdir(filepath.Join("/sys/fs/cgroup", path))
		return
	}
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		if e.IsDir() {
			syscall.Rmdir(filepath.Join("/sys/fs/cgroup", e.Name(), path))
		}
	}
}
