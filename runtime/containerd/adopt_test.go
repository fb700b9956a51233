package containerd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAdoptAfterKill: a skiff (here a child process running a Supervisor)
// is killed with SIGKILL; its containerd lives on; the next Supervisor on
// the same directories adopts that containerd instead of starting a
// second one, and stops it when told to.
func TestAdoptAfterKill(t *testing.T) {
	if dir := os.Getenv("SKIFF_ADOPT_CHILD"); dir != "" {
		adoptChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdoptAfterKill$")
	cmd.Env = append(os.Environ(), "SKIFF_ADOPT_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "containerd "); ok {
			pid, _ = strconv.Atoi(v)
			break
		}
	}
	if pid == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child supervisor reported no containerd")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	defer syscall.Kill(pid, syscall.SIGKILL) // whatever happens, stop the containerd this test made
	if syscall.Kill(pid, 0) != nil {
		t.Fatal("containerd died with the killed supervisor")
	}

	s, err := NewSupervisor(SupervisorConfig{RootDir: filepath.Join(dir, "root"), StateDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.PID() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s.PID() != pid {
		t.Errorf("supervisor runs containerd %d, want the adopted %d", s.PID(), pid)
	}
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := Connect(cctx, s.Address())
	ccancel()
	if err != nil {
		t.Fatalf("adopted containerd: %v", err)
	}
	c.Close()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("supervisor did not stop the adopted containerd")
	}
	if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
		t.Error("adopted containerd still running after stop")
	}
}

func adoptChild(dir string) {
	s, err := NewSupervisor(SupervisorConfig{RootDir: filepath.Join(dir, "root"), StateDir: filepath.Join(dir, "run")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go s.Run(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Connect(ctx, s.Address())
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	c.Close()
	fmt.Printf("containerd %d\n", s.PID())
	select {} // until killed
}
