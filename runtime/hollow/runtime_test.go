package hollow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestParseBehaviour(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want behaviour
		err  string
	}{
		{env: nil, want: behaviour{}},
		{env: []string{"PATH=/bin", "HOLLOW_UNKNOWN=1"}, want: behaviour{}},
		{env: []string{"HOLLOW_EXIT_CODE=1"}, want: behaviour{exits: true, exitCode: 1}},
		{env: []string{"HOLLOW_EXIT_AFTER=2s"}, want: behaviour{exits: true, exitAfter: 2 * time.Second}},
		{env: []string{"HOLLOW_EXIT_AFTER=2s", "HOLLOW_EXIT_CODE=3"}, want: behaviour{exits: true, exitAfter: 2 * time.Second, exitCode: 3}},
		{env: []string{"HOLLOW_EXIT_AFTER=never", "HOLLOW_EXIT_CODE=3"}, want: behaviour{exitAfter: never, exitCode: 3}},
		{env: []string{"HOLLOW_OOM=true"}, want: behaviour{exits: true, oom: true, exitCode: 137}},
		{env: []string{"HOLLOW_START_ERROR=exec: \"app\": not found"}, want: behaviour{startError: `exec: "app": not found`}},
		{env: []string{"HOLLOW_READY_AFTER=never", "HOLLOW_STOP_DELAY=5s", "HOLLOW_EXEC_EXIT_CODE=2"},
			want: behaviour{readyAfter: never, stopDelay: 5 * time.Second, execCode: 2}},
		{env: []string{"HOLLOW_EXIT_AFTER=soon"}, err: "HOLLOW_EXIT_AFTER"},
		{env: []string{"HOLLOW_EXIT_AFTER=-1s"}, err: "HOLLOW_EXIT_AFTER"},
		{env: []string{"HOLLOW_EXIT_CODE=one"}, err: "HOLLOW_EXIT_CODE"},
		{env: []string{"HOLLOW_OOM=maybe"}, err: "HOLLOW_OOM"},
	} {
		got, err := parseBehaviour(c.env)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) || !errdefs.IsInvalid(err) {
				t.Errorf("%v: err %v, want an invalid error naming %s", c.env, err, c.err)
			}
		case err != nil:
			t.Errorf("%v: %v", c.env, err)
		case got != c.want:
			t.Errorf("%v: got %+v, want %+v", c.env, got, c.want)
		}
	}
}

func TestProbeResult(t *testing.T) {
	b := behaviour{readyAfter: 2 * time.Second, startupAfter: time.Second, livenessFail: 3 * time.Second}
	for _, c := range []struct {
		kind string
		ran  time.Duration
		want int
	}{
		{"readiness", time.Second, 1}, {"readiness", 2 * time.Second, 0},
		{"startup", 0, 1}, {"startup", time.Second, 0},
		{"liveness", time.Second, 0}, {"liveness", 3 * time.Second, 1},
		{"other", 0, 0},
	} {
		if got, _ := b.probeResult(c.kind, c.ran); got != c.want {
			t.Errorf("%s after %s: %d, want %d", c.kind, c.ran, got, c.want)
		}
	}
	if got, _ := (behaviour{readyAfter: never}).probeResult("readiness", 1000*time.Hour); got != 1 {
		t.Error("HOLLOW_READY_AFTER=never became ready")
	}
	if got, _ := (behaviour{}).probeResult("liveness", 1000*time.Hour); got != 0 {
		t.Error("a plain container failed liveness")
	}
}

func spec(id string, env ...string) container.Spec {
	return container.Spec{ID: id, Pod: container.PodRef{UID: "u1", Namespace: "ns", Name: "p"}, Name: "c", Image: "skiff.test/app:v1", Env: env, LogPath: "/nowhere/" + id + ".log"}
}

// nextEvent waits for one event of type typ on ch.
func nextEvent(t *testing.T, ch <-chan container.Event, typ container.EventType) container.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event stream closed waiting for %s", typ)
			}
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestRuntimeLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := NewRuntime()
	ev, err := r.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, spec("a")); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, spec("a")); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want already exists", err)
	}
	s, _ := r.Inspect(ctx, "a")
	if s.State != container.StateCreated || s.Pod.UID != "u1" || s.LogPath != "/nowhere/a.log" || !strings.HasPrefix(s.ImageID, "sha256:") {
		t.Errorf("created: %+v", s)
	}
	if err := r.Start(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, ev, container.EventStarted); e.ContainerID != "a" || e.PodUID != "u1" {
		t.Errorf("started event %+v", e)
	}
	if err := r.Start(ctx, "a"); err != nil {
		t.Errorf("starting a running container: %v", err)
	}
	s, _ = r.Inspect(ctx, "a")
	if s.State != container.StateRunning || s.PID == 0 || s.StartedAt.IsZero() {
		t.Errorf("running: %+v", s)
	}
	if code, err := r.Exec(ctx, "a", container.ExecSpec{Command: []string{"sh", "-c", "true"}}); code != 0 || err != nil {
		t.Errorf("exec: %d, %v", code, err)
	}
	if err := r.Stop(ctx, "a", time.Second); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ev, container.EventExited)
	s, _ = r.Inspect(ctx, "a")
	if s.State != container.StateExited || s.ExitCode != exitSIGTERM || s.FinishedAt.IsZero() {
		t.Errorf("stopped: %+v", s)
	}
	if err := r.Start(ctx, "a"); !errdefs.IsInvalid(err) {
		t.Errorf("restarting an exited run: %v, want invalid", err)
	}
	if _, err := r.Exec(ctx, "a", container.ExecSpec{Command: []string{"true"}}); err == nil {
		t.Error("exec in an exited container worked")
	}
	if err := r.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ev, container.EventDeleted)
	if _, err := r.Inspect(ctx, "a"); !errdefs.IsNotFound(err) {
		t.Errorf("inspect removed: %v", err)
	}
	for _, err := range []error{r.Start(ctx, "a"), r.Stop(ctx, "a", 0), r.Remove(ctx, "a")} {
		if !errdefs.IsNotFound(err) {
			t.Errorf("on a removed container: %v, want not found", err)
		}
	}
	cancel()
	for range ev {
	}
}

func TestRuntimeBehaviours(t *testing.T) {
	ctx := context.Background()
	r := NewRuntime()
	ev, _ := r.Events(ctx)

	r.Create(ctx, spec("crash", "HOLLOW_EXIT_CODE=2"))
	r.Start(ctx, "crash")
	nextEvent(t, ev, container.EventExited)
	if s, _ := r.Inspect(ctx, "crash"); s.State != container.StateExited || s.ExitCode != 2 {
		t.Errorf("crash: %+v", s)
	}

	r.Create(ctx, spec("oom", "HOLLOW_OOM=true"))
	r.Start(ctx, "oom")
	nextEvent(t, ev, container.EventOOM)
	if s, _ := r.Inspect(ctx, "oom"); s.ExitCode != 137 || !s.OOMKilled {
		t.Errorf("oom: %+v", s)
	}

	r.Create(ctx, spec("nostart", "HOLLOW_START_ERROR=no such file"))
	if err := r.Start(ctx, "nostart"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("start error: %v", err)
	}

	// A slow stop within the grace exits 143; one past it is killed.
	r.Create(ctx, spec("slow", "HOLLOW_STOP_DELAY=50ms"))
	r.Start(ctx, "slow")
	start := time.Now()
	r.Stop(ctx, "slow", time.Second)
	if s, _ := r.Inspect(ctx, "slow"); s.ExitCode != exitSIGTERM || time.Since(start) < 50*time.Millisecond {
		t.Errorf("slow stop: exit %d after %s", s.ExitCode, time.Since(start))
	}
	r.Create(ctx, spec("stubborn", "HOLLOW_STOP_DELAY=1h"))
	r.Start(ctx, "stubborn")
	r.Stop(ctx, "stubborn", 20*time.Millisecond)
	if s, _ := r.Inspect(ctx, "stubborn"); s.ExitCode != exitSIGKILL {
		t.Errorf("stubborn stop: exit %d, want %d", s.ExitCode, exitSIGKILL)
	}

	r.Create(ctx, spec("probed", "HOLLOW_READY_AFTER=never", "HOLLOW_EXEC_EXIT_CODE=4"))
	r.Start(ctx, "probed")
	var out strings.Builder
	if code, _ := r.Exec(ctx, "probed", container.ExecSpec{Command: []string{ProbeCommand, "readiness"}, Stdout: &out}); code != 1 || !strings.Contains(out.String(), EnvReadyAfter) {
		t.Errorf("readiness: %d %q", code, out.String())
	}
	if code, _ := r.Exec(ctx, "probed", container.ExecSpec{Command: []string{ProbeCommand, "liveness"}}); code != 0 {
		t.Errorf("liveness: %d", code)
	}
	if code, _ := r.Exec(ctx, "probed", container.ExecSpec{Command: []string{"cat", "/x"}}); code != 4 {
		t.Errorf("exec exit code %d, want 4", code)
	}

	if err := r.Create(ctx, spec("bad", "HOLLOW_EXIT_AFTER=later")); !errdefs.IsInvalid(err) {
		t.Errorf("bad variable: %v", err)
	}
	if !r.Kill("probed", 9) {
		t.Error("kill of a running container reported false")
	}
	if s, _ := r.Inspect(ctx, "probed"); s.State != container.StateExited || s.ExitCode != 9 {
		t.Errorf("killed: %+v", s)
	}
	r.Reset()
	if all, _ := r.List(ctx); len(all) != 0 {
		t.Errorf("after reset: %d containers", len(all))
	}
}

func TestRuntimeImages(t *testing.T) {
	ctx := context.Background()
	r := NewRuntime()
	if _, err := r.GetImage(ctx, "docker.io/library/busybox:latest"); err != nil {
		t.Errorf("an image is absent: %v", err)
	}
	var done int64
	img, err := r.Pull(ctx, "skiff.test/app:v2", nil, func(p container.PullProgress) { done = p.Done })
	if err != nil || img.ID != imageID("skiff.test/app:v2") || done != img.Size {
		t.Errorf("pull: %+v %v, progress %d", img, err, done)
	}
	if _, err := r.Pull(ctx, "skiff.test/missing:v1", nil, nil); !errdefs.IsNotFound(err) {
		t.Errorf("pull of a missing image: %v", err)
	}
	if _, err := r.GetImage(ctx, "skiff.test/missing:v1"); !errdefs.IsNotFound(err) {
		t.Errorf("get of a missing image: %v", err)
	}
	if err := r.Create(ctx, container.Spec{ID: "m", Image: "skiff.test/missing:v1"}); !errdefs.IsNotFound(err) {
		t.Errorf("create from a missing image: %v", err)
	}
	list, _ := r.ListImages(ctx)
	if len(list) != 2 || list[0].Ref != "docker.io/library/busybox:latest" {
		t.Errorf("images %+v", list)
	}
	if err := r.RemoveImage(ctx, "skiff.test/app:v2"); err != nil {
		t.Error(err)
	}
	if err := r.RemoveImage(ctx, "skiff.test/app:v2"); !errdefs.IsNotFound(err) {
		t.Errorf("second remove: %v", err)
	}
}

func TestEventsSlowSubscriberIsClosed(t *testing.T) {
	ctx := context.Background()
	r := NewRuntime()
	ch, _ := r.Events(ctx)
	for i := range eventBuffer + 1 {
		id := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		r.Create(ctx, spec(id))
		r.Start(ctx, id)
	}
	n := 0
	for range ch {
		n++
	}
	if n != eventBuffer {
		t.Errorf("read %d events before the close, want %d", n, eventBuffer)
	}
}
