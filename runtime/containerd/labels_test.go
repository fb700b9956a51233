package containerd

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/skiffhq/skiff/runtime/container"
)

func TestStatusOf(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ended := created.Add(time.Minute)
	spec := container.Spec{ID: "c1", Pod: container.PodRef{UID: "u1", Namespace: "ns", Name: "p"}, Name: "web", Attempt: 2, Init: true, SpecHash: "h", LogPath: "/l"}
	labels := createLabels(spec, "sha256:abc", "/skiff/c1")
	exited := createLabels(spec, "sha256:abc", "/skiff/c1")
	exited[labelStartedAt] = created.Format(time.RFC3339Nano)
	for k, v := range exitLabels(137, ended, true) {
		exited[k] = v
	}
	started := createLabels(spec, "sha256:abc", "/skiff/c1")
	started[labelStartedAt] = created.Format(time.RFC3339Nano)

	tests := []struct {
		name   string
		labels map[string]string
		proc   *task.Process
		want   container.Status
	}{
		{"created", labels, nil, container.Status{State: container.StateCreated}},
		{"task created", labels, &task.Process{Status: task.Status_CREATED, Pid: 9}, container.Status{State: container.StateCreated}},
		{"running", started, &task.Process{Status: task.Status_RUNNING, Pid: 42}, container.Status{State: container.StateRunning, PID: 42, StartedAt: created}},
		{"stopped task", started, &task.Process{Status: task.Status_STOPPED, Pid: 42, ExitStatus: 3, ExitedAt: timestamppb.New(ended)},
			container.Status{State: container.StateExited, ExitCode: 3, StartedAt: created, FinishedAt: ended}},
		{"task lost, end recorded", exited, nil, container.Status{State: container.StateExited, ExitCode: 137, OOMKilled: true, StartedAt: created, FinishedAt: ended}},
		{"task lost, end unknown", started, nil, container.Status{State: container.StateUnknown, StartedAt: created}},
		{"task unknown", started, &task.Process{Status: task.Status_UNKNOWN}, container.Status{State: container.StateUnknown, StartedAt: created}},
	}
	for _, tt := range tests {
		got := statusOf(containers.Container{ID: "c1", Labels: tt.labels, Image: "img", CreatedAt: created}, tt.proc)
		want := tt.want
		want.ID, want.Pod, want.Name, want.Attempt, want.Init, want.SpecHash = "c1", spec.Pod, "web", 2, true, "h"
		want.CreatedAt, want.Image, want.ImageID, want.LogPath = created, "img", "sha256:abc", "/l"
		if !got.StartedAt.Equal(want.StartedAt) || !got.FinishedAt.Equal(want.FinishedAt) {
			t.Errorf("%s: got times %v/%v, want %v/%v", tt.name, got.StartedAt, got.FinishedAt, want.StartedAt, want.FinishedAt)
		}
		got.StartedAt, got.FinishedAt, want.StartedAt, want.FinishedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, want)
		}
	}
}

func TestOOMKills(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	write("memory/v1/c/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
	write("v2/c/memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n")
	write("v2/quiet/memory.events", "low 0\noom 0\noom_kill 0\n")
	tests := []struct {
		path string
		want int
	}{
		{"/v1/c", 2},
		{"/v2/c", 1},
		{"/v2/quiet", 0},
		{"/gone", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := oomKills(root, tt.path); got != tt.want {
			t.Errorf("%q: got %d, want %d", tt.path, got, tt.want)
		}
	}
}

func TestEventOf(t *testing.T) {
	tests := []struct {
		name string
		ev   any
		want container.Event
		ok   bool
	}{
		{"start", &apievents.TaskStart{ContainerID: "c1"}, container.Event{Type: container.EventStarted, ContainerID: "c1"}, true},
		{"exit", &apievents.TaskExit{ContainerID: "c1", ID: "c1"}, container.Event{Type: container.EventExited, ContainerID: "c1"}, true},
		{"exec exit", &apievents.TaskExit{ContainerID: "c1", ID: "exec-1"}, container.Event{}, false},
		{"oom", &apievents.TaskOOM{ContainerID: "c1"}, container.Event{Type: container.EventOOM, ContainerID: "c1"}, true},
		{"delete", &apievents.TaskDelete{ContainerID: "c1"}, container.Event{Type: container.EventDeleted, ContainerID: "c1"}, true},
		{"exec delete", &apievents.TaskDelete{ContainerID: "c1", ID: "exec-1"}, container.Event{}, false},
		{"other", &apievents.TaskPaused{ContainerID: "c1"}, container.Event{}, false},
	}
	for _, tt := range tests {
		got, ok := eventOf(tt.ev)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: got %+v %v, want %+v %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
