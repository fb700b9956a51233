package containerd

import (
	"context"
	"fmt"
	"sort"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// List returns every skiff container, sorted by ID: those made for pods
// (a build's RUN steps share the namespace and are not listed, or the
// agent would take them for strays and remove them). On the way it heals
// what it sees: it re-attaches the output of running containers nobody
// copies (after a new Runtime, or a containerd restart) and records the
// end of tasks that exited unseen.
func (r *Runtime) List(ctx context.Context) ([]container.Status, error) {
	ctx = r.ns(ctx)
	cs, err := r.c.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", classify(err))
	}
	resp, err := r.c.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", classify(err))
	}
	procs := make(map[string]*task.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		procs[p.ID] = p
	}
	out := make([]container.Status, 0, len(cs))
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if c.Labels[container.LabelPodUID] == "" {
			continue
		}
		seen[c.ID] = true
		out = append(out, r.heal(ctx, c, procs[c.ID]))
	}
	r.mu.Lock()
	for id := range r.podUIDs {
		if !seen[id] {
			delete(r.podUIDs, id)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Inspect is one container's status; errdefs.ErrNotFound if it is gone.
func (r *Runtime) Inspect(ctx context.Context, id string) (container.Status, error) {
	ctx = r.ns(ctx)
	c, err := r.c.ContainerService().Get(ctx, id)
	if err != nil {
		return container.Status{}, fmt.Errorf("inspect container %q: %w", id, classify(err))
	}
	if c.Labels[container.LabelPodUID] == "" {
		return container.Status{}, fmt.Errorf("container %q is not a pod's (a build step's): %w", id, errdefs.ErrNotFound)
	}
	var p *task.Process
	resp, err := r.c.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	switch err = classify(err); {
	case err == nil:
		p = resp.Process
	case !cerrdefs.IsNotFound(err):
		return container.Status{}, fmt.Errorf("inspect container %q: task: %w", id, err)
	}
	return r.heal(ctx, c, p), nil
}

// heal returns c's status after re-attaching its output if it runs
// uncopied, and recording its end if it exited unrecorded.
func (r *Runtime) heal(ctx context.Context, c containers.Container, p *task.Process) container.Status {
	r.mu.Lock()
	r.podUIDs[c.ID] = c.Labels[container.LabelPodUID]
	r.mu.Unlock()
	st := statusOf(c, p)
	switch {
	case st.State == container.StateRunning:
		r.adopt(c, p)
	case st.State == container.StateExited && p != nil && c.Labels[labelFinishedAt] == "":
		c.Labels = r.recordExit(ctx, c, p.ExitStatus, st.FinishedAt)
		st = statusOf(c, p)
	}
	return st
}

// adopt starts copying the output of a running task that has no copier,
// from the FIFOs its task was made with; it neither restarts nor signals
// the container.
func (r *Runtime) adopt(c containers.Container, p *task.Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.copies[c.ID] != nil || r.removing[c.ID] || p.Stdout == "" {
		return
	}
	fifos := cio.Config{Terminal: p.Terminal, Stdout: p.Stdout, Stderr: p.Stderr}
	oc, err := r.copyOutput(c.ID, c.Labels[labelLogPath], fifos)
	if err != nil {
		r.log.Error("re-attach container output", "container", c.ID, "err", err)
		return
	}
	r.copies[c.ID] = oc
	r.log.Info("re-attached container output", "container", c.ID, "pid", p.Pid)
}
