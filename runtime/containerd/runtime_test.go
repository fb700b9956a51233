package containerd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/logs"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// TestRunLogsRemove runs a container that writes to both streams, reads
// its CRI log, then removes it and checks that nothing of it is left.
func TestRunLogsRemove(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	s := testSpec(t, "sh", "-c", "echo hello; echo err >&2; sleep 1000")
	if err := r.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, r, s.ID, container.StateCreated)
	if st.Pod != s.Pod || st.Name != "main" || st.SpecHash != "hash1" || st.Image != testImage || st.LogPath != s.LogPath {
		t.Errorf("created status %+v does not match the spec", st)
	}
	if err := r.Start(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, r, s.ID, container.StateRunning)
	if st.PID == 0 || st.StartedAt.IsZero() || !strings.HasPrefix(st.ImageID, "sha256:") {
		t.Errorf("running status %+v: want a PID, a start time and an image digest", st)
	}
	lines := waitLog(t, s.LogPath, "hello", "err")
	got := map[string]string{}
	for _, l := range lines {
		p, err := logs.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		got[string(p.Content)] = p.Stream
	}
	if got["hello"] != "stdout" || got["err"] != "stderr" {
		t.Errorf("log streams: got %v, want hello on stdout and err on stderr", got)
	}
	all, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range all {
		found = found || a.ID == s.ID && a.State == container.StateRunning && a.PID == st.PID
	}
	if !found {
		t.Errorf("List %+v lacks %s running as %d", all, s.ID, st.PID)
	}

	if err := r.Remove(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Inspect(ctx, s.ID); !errdefs.IsNotFound(err) {
		t.Errorf("inspect after remove: got %v, want not found", err)
	}
	nctx := namespaces.WithNamespace(ctx, Namespace)
	if _, err := r.c.TaskService().Get(nctx, &tasks.GetRequest{ContainerID: s.ID}); !cerrdefs.IsNotFound(classify(err)) {
		t.Errorf("task after remove: got %v, want not found", err)
	}
	if _, err := r.c.SnapshotService(r.snapshotter).Stat(nctx, s.ID); !cerrdefs.IsNotFound(err) {
		t.Errorf("snapshot after remove: got %v, want not found", err)
	}
	if _, err := os.Stat(filepath.Join(r.fifoDir, s.ID)); !os.IsNotExist(err) {
		t.Errorf("fifo directory after remove: %v, want none", err)
	}
	for _, d := range cgroupDirs(cgroupPath(s)) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s after remove: %v, want none", d, err)
		}
	}
	if err := r.Remove(ctx, s.ID); !errdefs.IsNotFound(err) {
		t.Errorf("second remove: got %v, want not found", err)
	}
}

// TestStop: a container that handles SIGTERM exits by itself within the
// grace period; one that ignores it is killed after it.
func TestStop(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		grace    time.Duration
		wantCode int32
		wantLog  string
	}{
		{"trap TERM", `trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.1; done`, 20 * time.Second, 0, "got-term"},
		{"ignore TERM", `trap "" TERM; echo ready; while :; do sleep 0.1; done`, 300 * time.Millisecond, 137, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRuntime(t)
			s := testSpec(t, "sh", "-c", tt.script)
			run(t, r, s)
			waitState(t, r, s.ID, container.StateRunning)
			waitLog(t, s.LogPath, "ready") // the trap is set
			if err := r.Stop(context.Background(), s.ID, tt.grace); err != nil {
				t.Fatal(err)
			}
			st, err := r.Inspect(context.Background(), s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != container.StateExited || st.ExitCode != tt.wantCode || st.FinishedAt.IsZero() {
				t.Errorf("after stop: got %s code %d finished %v, want Exited code %d with a finish time", st.State, st.ExitCode, st.FinishedAt, tt.wantCode)
			}
			if tt.wantLog != "" {
				waitLog(t, s.LogPath, tt.wantLog)
			}
			if err := r.Stop(context.Background(), s.ID, time.Second); err != nil {
				t.Errorf("stop of an exited container: %v, want no-op", err)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	r := newTestRuntime(t)
	s := testSpec(t, "sh", "-c", "exit 3")
	run(t, r, s)
	st := waitState(t, r, s.ID, container.StateExited)
	if st.ExitCode != 3 || st.OOMKilled || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("got code %d oom %v started %v finished %v, want code 3, no OOM, finish after start", st.ExitCode, st.OOMKilled, st.StartedAt, st.FinishedAt)
	}
	// The end is in the labels too, for when the task is lost.
	c, err := r.c.ContainerService().Get(namespaces.WithNamespace(context.Background(), Namespace), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Labels[labelExitCode] == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		c, _ = r.c.ContainerService().Get(namespaces.WithNamespace(context.Background(), Namespace), s.ID)
	}
	if got := statusOf(c, nil); got.State != container.StateExited || got.ExitCode != 3 {
		t.Errorf("status from labels alone: got %s code %d, want Exited code 3", got.State, got.ExitCode)
	}
	if err := r.Start(context.Background(), s.ID); !errdefs.IsInvalid(err) {
		t.Errorf("start of an exited container: got %v, want invalid", err)
	}
}

// TestSpecLands checks, from inside, what the spec asked for.
func TestSpecLands(t *testing.T) {
	r := newTestRuntime(t)
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "f"), []byte("from-host"), 0o644)
	uid, gid := int64(1000), int64(2000)
	s := testSpec(t, "sleep", "1000")
	s.Env = []string{"FOO=bar", "PATH=/bin:/usr/bin"}
	s.WorkingDir = "/bin"
	s.Hostname = "box1"
	s.Mounts = []container.Mount{{Source: data, Destination: "/data", ReadOnly: true}, {Source: data, Destination: "/rw"}}
	s.Resources = container.Resources{MemoryLimit: 64 << 20, CPUShares: 512, PidsLimit: 50}
	s.Security = container.Security{User: &uid, Group: &gid, SupplementalGroups: []int64{3000}}
	run(t, r, s)
	waitState(t, r, s.ID, container.StateRunning)

	tests := []struct {
		cmd      []string
		want     string
		wantCode int
	}{
		{[]string{"cat", "/data/f"}, "from-host", 0},
		{[]string{"sh", "-c", "echo $FOO $PATH"}, "bar /bin:/usr/bin", 0},
		{[]string{"pwd"}, "/bin", 0},
		{[]string{"id"}, "uid=1000 gid=2000 groups=2000,3000", 0},
		{[]string{"cat", "/proc/sys/kernel/hostname"}, "box1", 0},
		{[]string{"touch", "/data/x"}, "", 1}, // read-only mount
		{[]string{"sh", "-c", "cat /proc/self/status | grep NoNewPrivs"}, "NoNewPrivs:\t1", 0},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code, err := r.Exec(context.Background(), s.ID, container.ExecSpec{Command: tt.cmd, Stdout: &out, Stderr: &errOut})
		if err != nil {
			t.Errorf("exec %v: %v", tt.cmd, err)
			continue
		}
		if got := strings.TrimSpace(out.String()); code != tt.wantCode || (tt.want != "" && got != tt.want) {
			t.Errorf("exec %v: got %q code %d (stderr %q), want %q code %d", tt.cmd, got, code, errOut.String(), tt.want, tt.wantCode)
		}
	}

	files := map[string]string{"memory/memory.limit_in_bytes": "67108864", "cpu/cpu.shares": "512", "pids/pids.max": "50"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		files = map[string]string{"memory.max": "67108864", "pids.max": "50"}
	}
	for f, want := range files {
		dir, file := filepath.Split(f)
		p := filepath.Join("/sys/fs/cgroup", dir, cgroupPath(s), file)
		b, err := os.ReadFile(p)
		if got := strings.TrimSpace(string(b)); err != nil || got != want {
			t.Errorf("%s: got %q (%v), want %q", p, got, err, want)
		}
	}
}

func TestReadOnlyRootFS(t *testing.T) {
	r := newTestRuntime(t)
	s := testSpec(t, "sleep", "1000")
	s.Security.ReadOnlyRootFS = true
	run(t, r, s)
	waitState(t, r, s.ID, container.StateRunning)
	var errOut bytes.Buffer
	code, err := r.Exec(context.Background(), s.ID, container.ExecSpec{Command: []string{"touch", "/new"}, Stderr: &errOut})
	if err != nil || code == 0 || !strings.Contains(errOut.String(), "Read-only file system") {
		t.Errorf("write to read-only root: code %d err %v stderr %q, want a refusal", code, err, errOut.String())
	}
}

func TestCreateErrors(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	s := testSpec(t, "sleep", "1000")
	if err := r.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Remove(ctx, s.ID); err != nil {
			t.Errorf("remove %s: %v", s.ID, err)
		}
	})
	if err := r.Create(ctx, s); !errdefs.IsAlreadyExists(err) {
		t.Errorf("duplicate create: got %v, want already exists", err)
	}
	missing := testSpec(t, "sleep", "1")
	missing.Image = "skiff.test/nothing:here"
	err := r.Create(ctx, missing)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "skiff.test/nothing:here") {
		t.Errorf("missing image: got %v, want not found naming the image", err)
	}
	const id = "no-such-container"
	if err := r.Start(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("start %s: got %v, want not found", id, err)
	}
	if _, err := r.Inspect(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("inspect %s: got %v, want not found", id, err)
	}
	if err := r.Stop(ctx, id, time.Second); !errdefs.IsNotFound(err) {
		t.Errorf("stop %s: got %v, want not found", id, err)
	}
	if _, err := r.Exec(ctx, id, container.ExecSpec{Command: []string{"true"}}); !errdefs.IsNotFound(err) {
		t.Errorf("exec in %s: got %v, want not found", id, err)
	}
	if err := r.Remove(ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("remove %s: got %v, want not found", id, err)
	}
}

// TestOOM: a container that outgrows its memory limit is killed by the
// kernel, and says so.
func TestOOM(t *testing.T) {
	r := newTestRuntime(t)
	s := testSpec(t, "sh", "-c", "x=a; while true; do x=$x$x; done")
	s.Resources.MemoryLimit = 16 << 20
	run(t, r, s)
	st := waitState(t, r, s.ID, container.StateExited)
	if !st.OOMKilled || st.ExitCode != 137 {
		t.Errorf("got OOMKilled %v code %d, want true and 137", st.OOMKilled, st.ExitCode)
	}
}

// TestReadopt: a new Runtime (as after a skiff restart) finds a running
// container as it was, same PID, and copies its output again.
func TestReadopt(t *testing.T) {
	ctx := context.Background()
	fifoDir := filepath.Join(t.TempDir(), "fifo")
	r1, err := NewRuntime(ctx, RuntimeConfig{Client: testClient(t), FIFODir: fifoDir})
	if err != nil {
		t.Fatal(err)
	}
	s := testSpec(t, "sh", "-c", "echo one; while [ ! -e /go ]; do sleep 0.05; done; echo two; sleep 1000")
	if err := r1.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := r1.Start(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	before := waitState(t, r1, s.ID, container.StateRunning)
	waitLog(t, s.LogPath, "one")
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}

	r2, err := NewRuntime(ctx, RuntimeConfig{Client: testClient(t), FIFODir: fifoDir})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	defer func() {
		if err := r2.Remove(ctx, s.ID); err != nil {
			t.Errorf("remove %s: %v", s.ID, err)
		}
	}()
	all, err := r2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var after container.Status
	for _, a := range all {
		if a.ID == s.ID {
			after = a
		}
	}
	if after.State != container.StateRunning || after.PID != before.PID || !after.StartedAt.Equal(before.StartedAt) {
		t.Errorf("after a new runtime: got %s pid %d started %v, want Running pid %d started %v", after.State, after.PID, after.StartedAt, before.PID, before.StartedAt)
	}
	if code, err := r2.Exec(ctx, s.ID, container.ExecSpec{Command: []string{"touch", "/go"}}); err != nil || code != 0 {
		t.Fatalf("exec touch: %d %v", code, err)
	}
	waitLog(t, s.LogPath, "one", "two")
}

func TestEvents(t *testing.T) {
	r := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := r.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The subscription takes hold at some point after Events returns:
	// run short containers until one is seen from start to end.
	got := map[string]map[container.EventType]container.Event{}
	var done container.Spec
	for try := 0; done.ID == "" && ctx.Err() == nil; try++ {
		s := testSpec(t, "sh", "-c", "exit 0")
		got[s.ID] = map[container.EventType]container.Event{}
		run(t, r, s)
		waitState(t, r, s.ID, container.StateExited)
		wait := time.After(5 * time.Second)
	collect:
		for {
			select {
			case e, ok := <-evs:
				if !ok {
					t.Fatalf("event stream closed; got %v", got)
				}
				if m := got[e.ContainerID]; m != nil {
					m[e.Type] = e
					if m[container.EventStarted].ContainerID != "" && m[container.EventExited].ContainerID != "" {
						done = s
						if e.ContainerID != s.ID {
							done.ID, done.Pod.UID = e.ContainerID, "uid-"+e.ContainerID
						}
						break collect
					}
				}
			case <-wait:
				break collect
			case <-ctx.Done():
				break collect
			}
		}
	}
	if done.ID == "" {
		t.Fatalf("events: got %v, want Started and Exited of one container", got)
	}
	if e := got[done.ID][container.EventStarted]; e.PodUID != done.Pod.UID {
		t.Errorf("started event: got pod %q, want %q", e.PodUID, done.Pod.UID)
	}
	cancel()
	for range evs { // closes once ctx ends
	}
}

func TestExec(t *testing.T) {
	r := newTestRuntime(t)
	s := testSpec(t, "sleep", "1000")
	run(t, r, s)
	waitState(t, r, s.ID, container.StateRunning)
	tests := []struct {
		name             string
		spec             container.ExecSpec
		wantOut, wantErr string
		wantCode         int
	}{
		{"streams", container.ExecSpec{Command: []string{"sh", "-c", "echo out; echo err >&2; exit 5"}}, "out\n", "err\n", 5},
		{"tty", container.ExecSpec{Command: []string{"sh", "-c", "echo tty; exit 2"}, TTY: true}, "tty\r\n", "", 2},
		{"stdin", container.ExecSpec{Command: []string{"cat"}, Stdin: strings.NewReader("from stdin\n")}, "from stdin\n", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			tt.spec.Stdout, tt.spec.Stderr = &out, &errOut
			resize := make(chan container.TermSize, 1)
			if tt.spec.TTY {
				resize <- container.TermSize{Width: 100, Height: 40}
				tt.spec.Resize = resize
			}
			code, err := r.Exec(context.Background(), s.ID, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || out.String() != tt.wantOut || errOut.String() != tt.wantErr {
				t.Errorf("got code %d out %q err %q, want %d %q %q", code, out.String(), errOut.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := r.Exec(ctx, s.ID, container.ExecSpec{Command: []string{"sleep", "1000"}})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the context's deadline", err)
		}
		// Only the container's own sleep is left.
		var out bytes.Buffer
		script := "for p in /proc/[0-9]*; do cat $p/cmdline; echo; done"
		if _, err := r.Exec(context.Background(), s.ID, container.ExecSpec{Command: []string{"sh", "-c", script}, Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out.String(), "sleep\x001000\x00\n"); n != 1 {
			t.Errorf("got %d sleep 1000 processes after the cancelled exec, want 1 (the container's)", n)
		}
	})
}

func TestImages(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	img, err := r.GetImage(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	if img.Ref != testImage || !strings.HasPrefix(img.ID, "sha256:") || img.Size <= 0 ||
		strings.Join(img.Config.Cmd, " ") != "/bin/sh" || strings.Join(img.Config.Env, " ") != "PATH=/bin:/usr/bin" {
		t.Errorf("got %+v, want the test image with cmd /bin/sh and PATH=/bin:/usr/bin", img)
	}
	all, err := r.ListImages(ctx)
	if err != nil || len(all) == 0 {
		t.Fatalf("list images: %v %v", all, err)
	}
	if _, err := r.GetImage(ctx, "skiff.test/absent:1"); !errdefs.IsNotFound(err) {
		t.Errorf("absent image: got %v, want not found", err)
	}
	// A second name for the same image, removed again.
	nctx := namespaces.WithNamespace(ctx, Namespace)
	src, _ := r.c.ImageService().Get(nctx, testImage)
	src.Name = "skiff.test/busybox:copy"
	if _, err := r.c.ImageService().Create(nctx, src); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveImage(ctx, "skiff.test/busybox:copy"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetImage(ctx, "skiff.test/busybox:copy"); !errdefs.IsNotFound(err) {
		t.Errorf("removed image: got %v, want not found", err)
	}
	if err := r.RemoveImage(ctx, "skiff.test/busybox:copy"); !errdefs.IsNotFound(err) {
		t.Errorf("second remove: got %v, want not found", err)
	}
}
