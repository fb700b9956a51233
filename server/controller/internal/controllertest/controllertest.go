// Package controllertest is what the workload controllers' tests share:
// a real store and registry in t.TempDir(), a controller run for the
// length of a test, a fake clock, polling for a condition, a test
// logger, and the part of a node a controller test plays (creating Ready
// nodes, marking pods Running and Ready). It holds no controller and no
// scheduler; each test package drives its own.
package controllertest

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// Registry opens a real store in t.TempDir() with a registry on it and
// its namespaces made. It returns the registry, the store and a context
// that ends after timeout or when the test ends; the store is closed
// then, after every cleanup registered later (a controller started on
// it) has run.
func Registry(t testing.TB, timeout time.Duration) (*registry.Registry, *store.Bolt, context.Context) {
	t.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(func() { cancel(); st.Close() })
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	return reg, st, ctx
}

// Start runs run (a controller's Run) in its own goroutine until the
// test ends or the returned stop is called, and fails the test if it
// returns an error. stop waits for run to return; calling it again does
// nothing.
func Start(t testing.TB, ctx context.Context, run func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Poll says how long Eventually waits for a condition and how often it
// looks.
type Poll struct {
	Within, Every time.Duration
}

// Eventually polls cond as p says until it holds, and fails the test
// with what and the last state cond described if it never does.
func Eventually(t testing.TB, p Poll, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(p.Within)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(p.Every)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// T0 is where a Clock from NewClock starts.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is a fake clock that moves only when told. Its Now fits a
// controller's Config.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at T0.
func NewClock() *Clock { return &Clock{now: T0} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Log is a logger that writes warnings and errors to the test's log,
// shown when a test fails or runs with -v.
func Log(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// ReadyNode returns a node named name whose Ready condition is true.
func ReadyNode(name string, labels map[string]string, taints ...api.Taint) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}}
	n.Spec.Taints = taints
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	return n
}

// SetRunningReady writes p's status as Running with its Ready condition
// true since since, as an agent would, through pods.
func SetRunningReady(ctx context.Context, pods *client.Resource[*api.Pod], p *api.Pod, since time.Time) (*api.Pod, error) {
	next := api.Clone(p)
	next.Status.Phase = api.PodRunning
	next.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(since)}}
	return pods.UpdateStatus(ctx, next)
}

// Every calls step every interval, in its own goroutine, until ctx or the
// test ends; the test's cleanup waits for the last step.
func Every(t testing.TB, ctx context.Context, interval time.Duration, step func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			step(ctx)
			time.Sleep(interval)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// RemovePod deletes p for good (grace period 0, only the pod with p's
// UID), as an agent does once a deleted pod's containers have stopped.
func RemovePod(ctx context.Context, pods *client.Resource[*api.Pod], p *api.Pod) error {
	zero := int64(0)
	uid := p.UID
	_, err := pods.Delete(ctx, p.Name, api.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &api.Preconditions{UID: &uid}})
	return err
}

// Settles checks that a controller with nothing left to do stops writing:
// the store's revision (rev) stays still for 300 ms within 5 s. A last
// write already on its way is allowed; writing on and on is not.
func Settles(t testing.TB, rev func() int64, what string) {
	t.Helper()
	var before, after int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		before = rev()
		time.Sleep(300 * time.Millisecond)
		if after = rev(); after == before {
			return
		}
	}
	t.Errorf("%s: the store revision still moves (%d to %d in 300 ms) 5 s on, with nothing to do", what, before, after)
}
