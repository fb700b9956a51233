package gc_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/gc"
)

func TestContainersPerPodLimit(t *testing.T) {
	e := newEnv(t, nil)
	e.known["pod"] = true
	now := e.clock.Now()
	var cs []container.Status
	// app: five exited runs and the one running now; the two newest
	// exited stay.
	for a := range 5 {
		cs = append(cs, run("pod", "app", a, container.StateExited, now, time.Duration(10-a)*time.Minute))
	}
	cs = append(cs, run("pod", "app", 5, container.StateRunning, now, 0))
	// side: three exited runs, counted apart from app's.
	for a := range 3 {
		cs = append(cs, run("pod", "side", a, container.StateExited, now, time.Duration(10-a)*time.Minute))
	}
	// init: two runs, within the limit.
	for a := range 2 {
		c := run("pod", "init", a, container.StateExited, now, time.Hour)
		c.Init = true
		cs = append(cs, c)
	}
	e.rt.addContainer(cs...)
	rep := e.collect(t)
	got, _ := e.rt.removed()
	want := []string{"pod-app-0", "pod-app-1", "pod-app-2", "pod-side-0"}
	if !slices.Equal(got, want) {
		t.Errorf("removed: got %q, want %q", got, want)
	}
	if rep.ContainersRemoved != len(want) {
		t.Errorf("report: got %+v, want %d containers", rep, len(want))
	}
	// A second pass finds nothing more.
	if rep := e.collect(t); rep.ContainersRemoved != 0 {
		t.Errorf("second pass: got %+v, want nothing removed", rep)
	}
}

func TestContainersPerPodLimitConfigured(t *testing.T) {
	e := newEnv(t, func(c *gc.Config) { c.MaxPerPodContainer = 1 })
	e.known["pod"] = true
	now := e.clock.Now()
	for a := range 3 {
		e.rt.addContainer(run("pod", "app", a, container.StateExited, now, time.Duration(10-a)*time.Minute))
	}
	e.collect(t)
	if got, _ := e.rt.removed(); !slices.Equal(got, []string{"pod-app-0", "pod-app-1"}) {
		t.Errorf("removed: got %q, want attempts 0 and 1", got)
	}
}

func TestContainersNewestByAttempt(t *testing.T) {
	// Attempt decides, not the time: a clock step back must not make
	// the agent's previous run look old.
	e := newEnv(t, nil)
	e.known["pod"] = true
	now := e.clock.Now()
	e.rt.addContainer(
		run("pod", "app", 0, container.StateExited, now, time.Minute*2),
		run("pod", "app", 1, container.StateExited, now, time.Hour),
		run("pod", "app", 2, container.StateExited, now, time.Hour*2),
	)
	e.collect(t)
	if got, _ := e.rt.removed(); !slices.Equal(got, []string{"pod-app-0"}) {
		t.Errorf("removed: got %q, want attempt 0", got)
	}
}

func TestContainersOfUnknownPods(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	e.rt.addContainer(
		run("gone", "app", 0, container.StateExited, now, time.Hour),
		run("gone", "app", 1, container.StateExited, now, 2*time.Minute),
		run("gone", "app", 2, container.StateRunning, now, 0), // never touched
		run("gone", "side", 0, container.StateExited, now, 30*time.Second),
		run("gone", "new", 0, container.StateCreated, now, time.Hour),
		run("gone", "lost", 0, container.StateUnknown, now, time.Hour),
	)
	orphan := run("", "noowner", 0, container.StateExited, now, time.Hour)
	e.rt.addContainer(orphan)
	e.collect(t)
	got, _ := e.rt.removed()
	if want := []string{"-noowner-0", "gone-app-0", "gone-app-1"}; !slices.Equal(got, want) {
		t.Errorf("removed: got %q, want %q", got, want)
	}
	// side is removed once it has been exited for MinAge.
	e.clock.Advance(30 * time.Second)
	e.collect(t)
	got, _ = e.rt.removed()
	if want := []string{"-noowner-0", "gone-app-0", "gone-app-1", "gone-side-0"}; !slices.Equal(got, want) {
		t.Errorf("removed a MinAge later: got %q, want %q", got, want)
	}
	e.clock.Advance(24 * time.Hour)
	e.collect(t)
	left, _ := e.rt.List(context.Background())
	var states []container.State
	for _, c := range left {
		states = append(states, c.State)
	}
	if want := []container.State{container.StateRunning, container.StateUnknown, container.StateCreated}; !slices.Equal(states, want) { // by ID: app-2, lost-0, new-0
		t.Errorf("left a day later: got %v, want the running, unknown and created ones", states)
	}
}

func TestContainersRunningNeverTouched(t *testing.T) {
	e := newEnv(t, func(c *gc.Config) { c.MaxPerPodContainer = 1 })
	e.known["known"] = true
	now := e.clock.Now()
	for a := range 4 {
		e.rt.addContainer(run("known", "app", a, container.StateRunning, now, 0))
		e.rt.addContainer(run("unknown", "app", a, container.StateRunning, now, 0))
	}
	e.clock.Advance(24 * time.Hour)
	if rep := e.collect(t); rep != (gc.Report{}) {
		t.Errorf("report: got %+v, want nothing", rep)
	}
	if got, _ := e.rt.removed(); len(got) != 0 {
		t.Errorf("removed running containers: %q", got)
	}
}

func TestContainersExitTimeUnknown(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	c := run("gone", "app", 0, container.StateExited, now, time.Hour)
	c.FinishedAt = time.Time{} // made an hour ago: that counts
	d := run("gone", "side", 0, container.StateExited, now, time.Hour)
	d.FinishedAt, d.CreatedAt, d.StartedAt = time.Time{}, time.Time{}, time.Time{} // no time at all: it stays
	e.rt.addContainer(c, d)
	e.collect(t)
	if got, _ := e.rt.removed(); !slices.Equal(got, []string{"gone-app-0"}) {
		t.Errorf("removed: got %q, want only the one with a creation time", got)
	}
}

func TestContainersRemoveErrorGoesOn(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	e.rt.addContainer(run("gone", "a", 0, container.StateExited, now, time.Hour), run("gone", "b", 0, container.StateExited, now, time.Hour))
	e.rt.removeErr["gone-a-0"] = errors.New("task busy")
	rep, err := e.gc.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "remove container gone-a-0 of pod gone: task busy") {
		t.Errorf("Collect: got %v, want the failed removal named", err)
	}
	if got, _ := e.rt.removed(); !slices.Equal(got, []string{"gone-b-0"}) || rep.ContainersRemoved != 1 {
		t.Errorf("removed: got %q (report %+v), want gone-b-0", got, rep)
	}
}

func TestContainersRemovedByOthersMeanwhile(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	e.rt.addContainer(run("gone", "a", 0, container.StateExited, now, time.Hour))
	// The agent removes it between the list and the removal: the
	// runtime answers not found, which is no error and not ours.
	racy := &racingRuntime{fakeRuntime: e.rt}
	g, err := gc.New(gc.Config{Runtime: racy, ImageFS: "/x", LogDir: e.logDir, KnownPod: e.isKnown, DiskUsage: e.disk.usage, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := g.Collect(context.Background())
	if err != nil || rep.ContainersRemoved != 0 {
		t.Errorf("Collect: got %+v, %v; want nothing counted and no error", rep, err)
	}
}

// racingRuntime removes each container itself just before the collector
// does, as the agent may.
type racingRuntime struct{ *fakeRuntime }

func (r *racingRuntime) Remove(ctx context.Context, id string) error {
	r.fakeRuntime.Remove(ctx, id)
	return r.fakeRuntime.Remove(ctx, id)
}
