package containerd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSupervisedContainerd runs a real containerd child, imports an image
// through it, kills containerd with SIGKILL, and checks that the
// supervisor brings it back with the image still there.
func TestSupervisedContainerd(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSupervisor(SupervisorConfig{RootDir: filepath.Join(dir, "root"), StateDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("supervisor did not stop containerd within 20s")
		}
	}()

	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	c, err := Connect(cctx, s.Address())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(busyboxImage(t))
	names, err := ImportImages(ctx, c, f)
	f.Close()
	c.Close()
	if err != nil || len(names) != 1 || names[0] != "skiff.test/busybox:latest" {
		t.Fatalf("import: %v %v", names, err)
	}

	first := s.PID()
	if first == 0 {
		t.Fatal("no containerd pid")
	}
	syscall.Kill(first, syscall.SIGKILL)
	deadline := time.Now().Add(20 * time.Second)
	for (s.PID() == 0 || s.PID() == first) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s.PID() == 0 || s.PID() == first {
		t.Fatal("containerd not restarted after SIGKILL")
	}
	c, err = Connect(cctx, s.Address())
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	defer c.Close()
	imgs, err := c.ListImages(cctx)
	if err != nil || len(imgs) != 1 || imgs[0].Name() != "skiff.test/busybox:latest" {
		t.Errorf("images after restart: %v %v", imgs, err)
	}

	// Starting again writes nothing when the config is unchanged.
	cfgPath := filepath.Join(dir, "root", "config.toml")
	before, _ := os.Stat(cfgPath)
	time.Sleep(10 * time.Millisecond)
	if _, err := s.writeConfig(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(cfgPath)
	if !before.ModTime().Equal(after.ModTime()) {
		t.Error("unchanged containerd config rewritten")
	}
}

func TestSupervisorConfigErrors(t *testing.T) {
	if _, err := NewSupervisor(SupervisorConfig{}); err == nil {
		t.Error("missing directories accepted")
	}
	_, err := NewSupervisor(SupervisorConfig{Binary: "no-such-containerd", RootDir: "/x", StateDir: "/y"})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("--containerd-socket")) {
		t.Errorf("missing binary: %v, want a hint", err)
	}
}
