package containerd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Start makes the container's task with its stdio on FIFOs, copies them
// into the log file, and starts it. The task stays after it exits, until
// Remove, so its end can be read. Starting a running container does
// nothing; one that has run already cannot start again (the agent makes
// a new attempt).
func (r *Runtime) Start(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.c.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("start container %q: %w", id, classify(err))
	}
	// LoadContainer has just read the record; no second Get.
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return fmt.Errorf("start container %q: %w", id, classify(err))
	}
	if t, err := c.Task(ctx, nil); err == nil {
		st, err := t.Status(ctx)
		if err != nil {
			return fmt.Errorf("start container %q: %w", id, classify(err))
		}
		switch st.Status {
		case containerd.Running, containerd.Paused, containerd.Pausing:
			return nil
		case containerd.Created:
			// Left by a Start cut short: make it again, with our copier.
			if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("start container %q: delete stale task: %w", id, classify(err))
			}
		default:
			return fmt.Errorf("start container %q: it has run already (%s); create a new attempt: %w", id, st.Status, errdefs.ErrInvalid)
		}
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("start container %q: %w", id, classify(err))
	}

	r.dropCopy(id) // a stale task's
	oc, err := r.copyOutput(id, info.Labels[labelLogPath], r.fifoConfig(id, info.Labels[labelTTY] == "true"))
	if err != nil {
		return fmt.Errorf("start container %q: %w", id, err)
	}
	r.mu.Lock()
	r.copies[id] = oc
	r.mu.Unlock()
	t, err := c.NewTask(ctx, func(string) (cio.IO, error) { return oc.io, nil })
	if err != nil {
		r.dropCopy(id)
		return fmt.Errorf("start container %q: create task: %w", id, classify(err))
	}
	startedAt := time.Now() // before: a quick exit must not end before it began
	if err := t.Start(ctx); err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		t.Delete(cctx, containerd.WithProcessKill)
		r.dropCopy(id)
		return fmt.Errorf("start container %q: %w", id, classify(err))
	}
	if err := r.setLabels(ctx, id, map[string]string{labelStartedAt: startedAt.UTC().Format(time.RFC3339Nano)}); err != nil {
		r.log.Warn("record start", "container", id, "err", err)
	}
	return nil
}

// dropCopy stops and forgets the output copy of id, if there is one.
func (r *Runtime) dropCopy(id string) {
	r.mu.Lock()
	oc := r.copies[id]
	delete(r.copies, id)
	r.mu.Unlock()
	if oc != nil {
		oc.cancel()
		if err := oc.close(); err != nil {
			r.log.Warn("close container log", "container", id, "err", err)
		}
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILLs, and returns once
// the container has exited. A container that is not running is left be.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ns(ctx)
	c, err := r.c.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("stop container %q: %w", id, classify(err))
	}
	t, err := c.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("stop container %q: %w", id, classify(err))
	}
	st, err := t.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %q: %w", id, classify(err))
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, err := t.Wait(wctx)
	if err != nil {
		return fmt.Errorf("stop container %q: %w", id, classify(err))
	}
	if err := t.Kill(ctx, syscall.SIGTERM); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %q: SIGTERM: %w", id, classify(err))
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var es containerd.ExitStatus
	select {
	case es = <-exited:
	case <-ctx.Done():
		return fmt.Errorf("stop container %q: %w", id, ctx.Err())
	case <-timer.C:
		if err := t.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stop container %q: SIGKILL: %w", id, classify(err))
		}
		select {
		case es = <-exited:
		case <-ctx.Done():
			return fmt.Errorf("stop container %q: %w", id, ctx.Err())
		}
	}
	code, at, err := es.Result()
	if err != nil {
		return fmt.Errorf("stop container %q: wait: %w", id, classify(err))
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("stop container %q: %w", id, classify(err))
	}
	r.recordExit(ctx, info, code, at)
	return nil
}

// Remove kills the container's task if it runs, deletes it, the
// container and its snapshot, and its FIFOs, and closes its log file.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.c.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("remove container %q: %w", id, classify(err))
	}
	r.mu.Lock()
	r.removing[id] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.removing, id)
		r.mu.Unlock()
	}()
	if t, err := c.Task(ctx, nil); err == nil {
		if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %q: delete task: %w", id, classify(err))
		}
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %q: %w", id, classify(err))
	}
	r.mu.Lock()
	oc := r.copies[id]
	r.mu.Unlock()
	if oc != nil {
		// The shim closed the FIFOs with the task; what is left in them
		// drains into the log before it is closed.
		select {
		case <-oc.done:
		case <-time.After(5 * time.Second):
			r.log.Warn("output still open after the task went; cutting it", "container", id)
		}
		r.dropCopy(id)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %q: %w", id, classify(err))
	}
	if err := os.RemoveAll(filepath.Join(r.fifoDir, id)); err != nil {
		return fmt.Errorf("remove container %q: fifos: %w", id, err)
	}
	r.mu.Lock()
	delete(r.podUIDs, id)
	r.mu.Unlock()
	return nil
}

// setLabels sets some labels of container id, leaving the others.
func (r *Runtime) setLabels(ctx context.Context, id string, labels map[string]string) error {
	paths := make([]string, 0, len(labels))
	for k := range labels {
		paths = append(paths, "labels."+k)
	}
	_, err := r.c.ContainerService().Update(r.ns(ctx), containers.Container{ID: id, Labels: labels}, paths...)
	return classify(err)
}
