package containerd

import (
	"strconv"
	"time"

	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"

	"github.com/skiffhq/skiff/runtime/container"
)

// Labels this package keeps on a container besides container.Label*: what
// it needs to answer Status after skiff, containerd or the shim restarted.
// The exit labels are written when the container's task exits, so its
// end stays known even if the task is lost with its shim.
const (
	labelLogPath    = "skiff.io/log-path"
	labelImageID    = "skiff.io/image-id"
	labelCgroup     = "skiff.io/cgroup"
	labelTTY        = "skiff.io/tty"
	labelStartedAt  = "skiff.io/started-at"
	labelFinishedAt = "skiff.io/finished-at"
	labelExitCode   = "skiff.io/exit-code"
	labelOOMKilled  = "skiff.io/oom-killed"
)

// createLabels are the labels a container is made with.
func createLabels(s container.Spec, imageID, cgroup string) map[string]string {
	l := map[string]string{
		container.LabelPodUID:       s.Pod.UID,
		container.LabelPodNamespace: s.Pod.Namespace,
		container.LabelPodName:      s.Pod.Name,
		container.LabelContainer:    s.Name,
		container.LabelAttempt:      strconv.Itoa(s.Attempt),
		container.LabelSpecHash:     s.SpecHash,
		labelImageID:                imageID,
		labelCgroup:                 cgroup,
	}
	if s.Init {
		l[container.LabelInit] = "true"
	}
	if s.TTY {
		l[labelTTY] = "true"
	}
	if s.LogPath != "" {
		l[labelLogPath] = s.LogPath
	}
	return l
}

// exitLabels record how a task ended.
func exitLabels(code uint32, at time.Time, oom bool) map[string]string {
	l := map[string]string{
		labelExitCode:   strconv.FormatUint(uint64(code), 10),
		labelFinishedAt: at.UTC().Format(time.RFC3339Nano),
	}
	if oom {
		l[labelOOMKilled] = "true"
	}
	return l
}

// statusOf builds a container's Status from its record and its task's
// process (nil when it has no task). The task, when there is one, is the
// fresher word; the labels speak for a task that is gone.
func statusOf(c containers.Container, p *task.Process) container.Status {
	l := c.Labels
	attempt, _ := strconv.Atoi(l[container.LabelAttempt])
	st := container.Status{
		ID:         c.ID,
		Pod:        container.PodRef{UID: l[container.LabelPodUID], Namespace: l[container.LabelPodNamespace], Name: l[container.LabelPodName]},
		Name:       l[container.LabelContainer],
		Attempt:    attempt,
		Init:       l[container.LabelInit] == "true",
		SpecHash:   l[container.LabelSpecHash],
		CreatedAt:  c.CreatedAt,
		StartedAt:  labelTime(l[labelStartedAt]),
		FinishedAt: labelTime(l[labelFinishedAt]),
		OOMKilled:  l[labelOOMKilled] == "true",
		Image:      c.Image,
		ImageID:    l[labelImageID],
		LogPath:    l[labelLogPath],
	}
	labelExit := func() {
		if code, err := strconv.ParseInt(l[labelExitCode], 10, 32); err == nil {
			st.ExitCode = int32(code)
		}
	}
	switch {
	case p == nil && l[labelFinishedAt] != "":
		st.State = container.StateExited
		labelExit()
	case p == nil && l[labelStartedAt] != "":
		// It ran, and its task went without a recorded end: lost with
		// its shim (a reboot, a killed shim).
		st.State = container.StateUnknown
	case p == nil:
		st.State = container.StateCreated
	default:
		switch p.Status {
		case task.Status_CREATED:
			st.State = container.StateCreated
		case task.Status_RUNNING, task.Status_PAUSED, task.Status_PAUSING:
			st.State = container.StateRunning
			st.PID = p.Pid
		case task.Status_STOPPED:
			st.State = container.StateExited
			st.ExitCode = int32(p.ExitStatus)
			if p.ExitedAt != nil && st.FinishedAt.IsZero() {
				st.FinishedAt = p.ExitedAt.AsTime()
			}
		default:
			st.State = container.StateUnknown
		}
	}
	return st
}

func labelTime(v string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}
