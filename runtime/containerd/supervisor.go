package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
)

// Namespace is the containerd namespace every skiff object lives in.
const Namespace = "skiff"

// SupervisorConfig configures the managed containerd child.
type SupervisorConfig struct {
	// Binary is the containerd executable; default "containerd" on PATH.
	Binary string
	// RootDir holds containerd's persistent data (<data-dir>/containerd).
	RootDir string
	// StateDir holds its runtime state and socket (/run/skiff/containerd).
	StateDir string
	Log      *slog.Logger
}

// Validate says what is missing.
func (c SupervisorConfig) Validate() error {
	if c.RootDir == "" || c.StateDir == "" {
		return errors.New("containerd: root and state directories are required")
	}
	return nil
}

// Supervisor runs containerd as a child and restarts it, with back-off,
// whenever it exits, until its context ends.
type Supervisor struct {
	cfg SupervisorConfig
	log *slog.Logger

	mu  sync.Mutex
	pid int
}

// NewSupervisor checks cfg and finds the binary.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("containerd: %s not found (install the containerd package, or pass --containerd-socket): %w", cfg.Binary, err)
	}
	cfg.Binary = bin
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{cfg: cfg, log: cfg.Log}, nil
}

// Address is the socket of the managed containerd.
func (s *Supervisor) Address() string { return filepath.Join(s.cfg.StateDir, "containerd.sock") }

// PID is the running child's process id, 0 when none runs.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// config is containerd's configuration: skiff's directories and socket,
// and no CRI plugin (skiff drives containerd directly; CRI costs memory).
func (s *Supervisor) config() []byte {
	return []byte(fmt.Sprintf(`# Written by skiff; changes are overwritten.
version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q
`, s.cfg.RootDir, filepath.Join(s.cfg.StateDir, "state"), s.Address(), s.Address()+".ttrpc"))
}

// writeConfig writes the config file only when its content changed.
func (s *Supervisor) writeConfig() (string, error) {
	path := filepath.Join(s.cfg.RootDir, "config.toml")
	want := s.config()
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return path, nil
	}
	for _, d := range []string{s.cfg.RootDir, s.cfg.StateDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("containerd: %w", err)
		}
	}
	if err := os.WriteFile(path, want, 0o600); err != nil {
		return "", fmt.Errorf("containerd: write config: %w", err)
	}
	return path, nil
}

// Run starts containerd and keeps it running until ctx ends, then stops it
// (SIGTERM, then SIGKILL after 10 s). Containers keep running: their shims
// are not containerd's children. A containerd left running by an earlier
// skiff (killed, not stopped) is adopted, not started twice.
func (s *Supervisor) Run(ctx context.Context) error {
	cfgPath, err := s.writeConfig()
	if err != nil {
		return err
	}
	if pid := s.leftRunning(cfgPath); pid != 0 {
		s.log.Info("adopting running containerd", "pid", pid)
		s.adopt(ctx, pid)
		if ctx.Err() != nil {
			return nil
		}
	}
	backoff := time.Second
	for {
		started := time.Now()
		err := s.runOnce(ctx, cfgPath)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second // it ran a good while: start over
		}
		s.log.Warn("containerd exited; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Supervisor) runOnce(ctx context.Context, cfgPath string) error {
	cmd := exec.Command(s.cfg.Binary, "--config", cfgPath)
	logFile, err := os.OpenFile(filepath.Join(s.cfg.RootDir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("containerd: log: %w", err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a signal to skiff's terminal is not also one
	// to containerd, which skiff stops in order. No death signal: if skiff
	// is killed, containerd and the containers live on, to be adopted by
	// the next start (issue 3's agent).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("containerd: start: %w", err)
	}
	s.mu.Lock()
	s.pid = cmd.Process.Pid
	s.mu.Unlock()
	// The pid file lets a later skiff find and adopt this containerd.
	if err := os.WriteFile(s.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		s.log.Warn("containerd pid file", "err", err)
	}
	defer func() {
		s.mu.Lock()
		s.pid = 0
		s.mu.Unlock()
	}()
	s.log.Info("containerd started", "pid", cmd.Process.Pid, "socket", s.Address())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("containerd: exited: %v", err)
	case <-ctx.Done():
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	return nil
}

func (s *Supervisor) pidFile() string { return filepath.Join(s.cfg.StateDir, "containerd.pid") }

// leftRunning returns the pid of a containerd started with cfgPath that is
// still alive (from the pid file), or 0.
func (s *Supervisor) leftRunning(cfgPath string) int {
	b, err := os.ReadFile(s.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("\x00"+cfgPath)) {
		return 0 // gone, or the pid now belongs to another process
	}
	return pid
}

// adopt watches a containerd that is not skiff's child until it exits or
// ctx ends; then it stops it as runOnce would.
func (s *Supervisor) adopt(ctx context.Context, pid int) {
	s.mu.Lock()
	s.pid = pid
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pid = 0
		s.mu.Unlock()
	}()
	alive := func() bool { return syscall.Kill(pid, 0) == nil && !isZombie(pid) }
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for alive() {
		select {
		case <-t.C:
		case <-ctx.Done():
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 100 && alive(); i++ {
				time.Sleep(100 * time.Millisecond)
			}
			if alive() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
	}
	s.log.Warn("adopted containerd exited; starting a new one", "pid", pid)
}

// isZombie reports whether pid has exited but not been reaped.
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// Connect waits (up to ctx) until containerd at address answers, and
// returns a client for it.
func Connect(ctx context.Context, address string) (*containerd.Client, error) {
	var last error
	for {
		c, err := containerd.New(address, containerd.WithDefaultNamespace(Namespace), containerd.WithTimeout(time.Second))
		if err == nil {
			if _, err = c.Version(ctx); err == nil {
				return c, nil
			}
			c.Close()
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("containerd at %s does not answer: %v", address, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
