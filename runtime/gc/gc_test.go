package gc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/gc"
)

// steadyNode is a node with nothing to collect: two known pods with the
// runs the agent keeps, their logs, and images all in use or kept.
func steadyNode(t testing.TB, e *env) {
	now := e.clock.Now()
	for _, uid := range []string{"a", "b"} {
		e.known[uid] = true
		e.rt.addContainer(run(uid, "app", 0, container.StateExited, now, time.Hour), run(uid, "app", 1, container.StateRunning, now, 0))
		writeFile(t, e.logDir, uid+"/logs/app/0.log", 10, now, time.Hour)
		writeFile(t, e.logDir, uid+"/logs/app/1.log", 10, now, 0)
		writeFile(t, e.logDir, uid+"/logs/app/1.log.1", 10, now, time.Hour)
	}
	e.rt.addImage(img("busybox", 100), img("pinned", 100))
	e.keep[ref("pinned")] = true
}

// snapshot is every path under root with its modification time and
// size.
func snapshot(t testing.TB, root string) map[string]string {
	out := map[string]string{}
	for _, rel := range tree(t, root) {
		fi, err := os.Lstat(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		out[rel] = fmt.Sprint(fi.ModTime(), fi.Mode(), fi.Size())
	}
	return out
}

func TestCollectNothingToCollect(t *testing.T) {
	for _, used := range []uint64{10, 99} {
		e := newEnv(t, nil)
		steadyNode(t, e)
		e.disk.set(used, 100)
		before := snapshot(t, e.logDir)
		for range 3 {
			rep, err := e.gc.Collect(context.Background())
			if used < 85 && err != nil {
				t.Fatalf("Collect: %v", err)
			}
			if rep != (gc.Report{}) {
				t.Errorf("disk %d%% used: report: got %+v, want nothing", used, rep)
			}
			e.clock.Advance(time.Hour)
		}
		if cs, imgs := e.rt.removed(); len(cs)+len(imgs) != 0 {
			t.Errorf("disk %d%% used: removed %q and %q, want nothing", used, cs, imgs)
		}
		if after := snapshot(t, e.logDir); !mapsEqual(before, after) {
			t.Errorf("disk %d%% used: the log directory changed:\nbefore %v\n after %v", used, before, after)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCollectListErrorStopsThePass(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	e.rt.addContainer(run("gone", "app", 0, container.StateExited, now, time.Hour))
	writeFile(t, e.logDir, "orphan/logs/app/0.log", 10, now, time.Hour)
	e.rt.addImage(img("a", 100))
	e.disk.set(99, 100)
	e.rt.listErr = errors.New("containerd is restarting")
	_, err := e.gc.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "gc: list containers: containerd is restarting") {
		t.Errorf("Collect: got %v, want the list error", err)
	}
	if cs, imgs := e.rt.removed(); len(cs)+len(imgs) != 0 {
		t.Errorf("removed %q and %q without knowing the containers", cs, imgs)
	}
	if len(tree(t, e.logDir)) == 0 {
		t.Errorf("logs removed without knowing the containers")
	}
}

func TestCollectOneStepFeedsTheNext(t *testing.T) {
	// An exited container of a pod gone: it goes, then its logs (old, as
	// it exited long ago), and its image counts as unused from this
	// pass on.
	e := newEnv(t, nil)
	now := e.clock.Now()
	c := user("app", container.StateExited, now)
	e.rt.addContainer(c)
	writeFile(t, e.logDir, "users/logs/app/0.log", 10, now, time.Hour)
	e.rt.addImage(img("app", 100))
	e.disk.set(90, 100)
	rep := e.collect(t)
	if rep.ContainersRemoved != 1 || rep.LogFilesRemoved != 1 || rep.ImagesRemoved != 0 {
		t.Errorf("first pass: got %+v, want the container and its log, not yet the image", rep)
	}
	e.clock.Advance(gc.DefaultImageMinAge)
	e.disk.set(90, 100)
	if rep := e.collect(t); rep.ImagesRemoved != 1 {
		t.Errorf("a pass ImageMinAge later: got %+v, want the image", rep)
	}
}

func TestCollectAsksKnownPodOncePerPod(t *testing.T) {
	calls := map[string]int{}
	var mu sync.Mutex
	e := newEnv(t, func(c *gc.Config) {
		c.KnownPod = func(uid string) bool {
			mu.Lock()
			defer mu.Unlock()
			calls[uid]++
			return true
		}
	})
	now := e.clock.Now()
	for a := range 5 {
		e.rt.addContainer(run("p", "app", a, container.StateExited, now, time.Hour))
		writeFile(t, e.logDir, fmt.Sprintf("p/logs/app/%d.log", a), 1, now, time.Hour)
	}
	e.collect(t)
	if calls["p"] != 1 {
		t.Errorf("KnownPod(p) asked %d times in one pass, want once", calls["p"])
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, func(c *gc.Config) {
		c.Interval = 5 * time.Millisecond
		c.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	now := e.clock.Now()
	e.rt.addContainer(run("gone", "app", 0, container.StateExited, now, time.Hour))
	e.rt.mu.Lock()
	e.rt.listErr = errors.New("containerd is restarting")
	e.rt.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.gc.Run(ctx) }()
	waitFor(t, "a failed pass logged", func() bool { return strings.Contains(logs.String(), "containerd is restarting") })
	// The loop goes on after an error.
	e.rt.mu.Lock()
	e.rt.listErr = nil
	e.rt.mu.Unlock()
	waitFor(t, "the container removed", func() bool { cs, _ := e.rt.removed(); return slices.Equal(cs, []string{"gone-app-0"}) })
	waitFor(t, "the pass logged", func() bool { return strings.Contains(logs.String(), "removed.containers=1") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v, want nil once ctx ends", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if strings.Count(logs.String(), "collected garbage") != 1 {
		t.Errorf("logged:\n%s\nwant one \"collected garbage\": passes with nothing to do are quiet", logs.String())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStatfs(t *testing.T) {
	used, total, err := gc.Statfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || used > total {
		t.Errorf("Statfs: got used %d of %d, want a size and used at most that", used, total)
	}
	if _, _, err := gc.Statfs(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "statfs") {
		t.Errorf("Statfs of a missing path: got %v, want an error", err)
	}
}
