package hollow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// ProbeCommand is the command the hollow prober turns every probe into:
// [ProbeCommand, kind]. The Runtime answers it from the run's behaviour
// instead of running anything.
const ProbeCommand = "hollow-probe"

// Exit codes of runs ended by a signal.
const (
	exitSIGTERM = 128 + 15
	exitSIGKILL = 128 + 9
)

// eventBuffer is how many events wait for a subscriber; one that falls
// further behind has its stream closed, and relists, as after a
// containerd restart.
const eventBuffer = 64

// Runtime is a container.Runtime that runs nothing: a container is a
// record that moves from Created to Running to Exited as it is told, or
// as its HOLLOW_* variables say (see EnvExitAfter and the others). Every
// image is present and pulls succeed at once, unless the reference
// contains "missing". Nothing touches the disk: the LogPath of a run is
// kept and never written. Its methods are safe to call from any goroutine.
type Runtime struct {
	now func() time.Time

	mu         sync.Mutex
	containers map[string]*run
	images     map[string]container.Image
	subs       map[*subscriber]struct{}
	pid        uint32
}

var _ container.Runtime = (*Runtime)(nil)

// run is one container.
type run struct {
	st     container.Status
	b      behaviour
	timer  *time.Timer   // ends the run by itself, when it should
	exited chan struct{} // closed when it exits
}

type subscriber struct {
	ch     chan container.Event
	closed bool
}

// NewRuntime returns an empty Runtime.
func NewRuntime() *Runtime {
	return &Runtime{
		now:        time.Now,
		containers: map[string]*run{},
		images:     map[string]container.Image{},
		subs:       map[*subscriber]struct{}{},
		pid:        1000,
	}
}

// Create records the container as Created. Its HOLLOW_* variables are
// read now; one that does not parse fails the create.
func (r *Runtime) Create(_ context.Context, spec container.Spec) error {
	if spec.ID == "" {
		return fmt.Errorf("hollow: create container: empty ID: %w", errdefs.ErrInvalid)
	}
	if missing(spec.Image) {
		return fmt.Errorf("hollow: create container %q: image %s: %w", spec.ID, spec.Image, errdefs.ErrNotFound)
	}
	b, err := parseBehaviour(spec.Env)
	if err != nil {
		return fmt.Errorf("create container %q: %w", spec.ID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.containers[spec.ID]; ok {
		return fmt.Errorf("hollow: create container %q: %w", spec.ID, errdefs.ErrAlreadyExists)
	}
	r.containers[spec.ID] = &run{
		b:      b,
		exited: make(chan struct{}),
		st: container.Status{
			ID:        spec.ID,
			Pod:       spec.Pod,
			Name:      spec.Name,
			Attempt:   spec.Attempt,
			Init:      spec.Init,
			SpecHash:  spec.SpecHash,
			State:     container.StateCreated,
			CreatedAt: r.now(),
			Image:     spec.Image,
			ImageID:   imageID(spec.Image),
			LogPath:   spec.LogPath,
		},
	}
	r.rememberImageLocked(spec.Image)
	return nil
}

// Start makes a created container run. Starting a running one is a
// no-op; starting one that has run already is an error, as containerd's.
func (r *Runtime) Start(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("hollow: start container %q: %w", id, errdefs.ErrNotFound)
	}
	switch c.st.State {
	case container.StateRunning:
		return nil
	case container.StateExited:
		return fmt.Errorf("hollow: start container %q: it has run already; create a new attempt: %w", id, errdefs.ErrInvalid)
	}
	if c.b.startError != "" {
		return fmt.Errorf("hollow: start container %q: %s", id, c.b.startError)
	}
	r.pid++
	c.st.State, c.st.PID, c.st.StartedAt = container.StateRunning, r.pid, r.now()
	if c.b.exits {
		code, oom := c.b.exitCode, c.b.oom
		c.timer = time.AfterFunc(c.b.exitAfter, func() { r.exit(c, code, oom) })
	}
	r.emitLocked(container.EventStarted, c)
	return nil
}

// exit ends c's run if it still runs.
func (r *Runtime) exit(c *run, code int32, oom bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exitLocked(c, code, oom)
}

func (r *Runtime) exitLocked(c *run, code int32, oom bool) {
	if c.st.State != container.StateRunning {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.st.State, c.st.PID, c.st.ExitCode, c.st.OOMKilled, c.st.FinishedAt = container.StateExited, 0, code, oom, r.now()
	close(c.exited)
	if oom {
		r.emitLocked(container.EventOOM, c)
	}
	r.emitLocked(container.EventExited, c)
}

// Stop "sends SIGTERM": the run exits after its HOLLOW_STOP_DELAY (exit
// 143), or is killed when grace ends first (exit 137). It returns once
// the run has exited, or when ctx ends.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("hollow: stop container %q: %w", id, errdefs.ErrNotFound)
	}
	if c.st.State != container.StateRunning {
		r.mu.Unlock()
		return nil
	}
	delay, code := c.b.stopDelay, int32(exitSIGTERM)
	if delay > grace {
		delay, code = grace, exitSIGKILL
	}
	if delay == 0 {
		r.exitLocked(c, code, false)
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-c.exited: // it ended by itself meanwhile
	case <-t.C:
		r.exit(c, code, false)
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Remove deletes a container, killing it first if it runs.
func (r *Runtime) Remove(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("hollow: remove container %q: %w", id, errdefs.ErrNotFound)
	}
	r.exitLocked(c, exitSIGKILL, false)
	delete(r.containers, id)
	r.emitLocked(container.EventDeleted, c)
	return nil
}

// List returns every container.
func (r *Runtime) List(context.Context) ([]container.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]container.Status, 0, len(r.containers))
	for _, c := range r.containers {
		out = append(out, c.st)
	}
	return out, nil
}

// Inspect returns one container's status.
func (r *Runtime) Inspect(_ context.Context, id string) (container.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return container.Status{}, fmt.Errorf("hollow: container %q: %w", id, errdefs.ErrNotFound)
	}
	return c.st, nil
}

// Exec runs nothing. [ProbeCommand, kind] answers as the run's behaviour
// says (HOLLOW_READY_AFTER and the others); any other command exits with
// HOLLOW_EXEC_EXIT_CODE (default 0) and prints nothing.
func (r *Runtime) Exec(_ context.Context, id string, spec container.ExecSpec) (int, error) {
	r.mu.Lock()
	c, ok := r.containers[id]
	var st container.Status
	var b behaviour
	if ok {
		st, b = c.st, c.b
	}
	r.mu.Unlock()
	if !ok {
		return -1, fmt.Errorf("hollow: exec in container %q: %w", id, errdefs.ErrNotFound)
	}
	if st.State != container.StateRunning {
		return -1, fmt.Errorf("hollow: exec in container %q: it is not running (%s): %w", id, st.State, errdefs.ErrInvalid)
	}
	if len(spec.Command) == 2 && spec.Command[0] == ProbeCommand {
		code, msg := b.probeResult(spec.Command[1], r.now().Sub(st.StartedAt))
		if msg != "" && spec.Stdout != nil {
			io.WriteString(spec.Stdout, msg)
		}
		return code, nil
	}
	return b.execCode, nil
}

// Events streams container events until ctx ends, or until the
// subscriber falls eventBuffer events behind (the channel then closes;
// the agent relists and subscribes again).
func (r *Runtime) Events(ctx context.Context) (<-chan container.Event, error) {
	s := &subscriber{ch: make(chan container.Event, eventBuffer)}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.closeLocked(s)
	})
	return s.ch, nil
}

func (r *Runtime) closeLocked(s *subscriber) {
	if !s.closed {
		s.closed = true
		close(s.ch)
		delete(r.subs, s)
	}
}

func (r *Runtime) emitLocked(t container.EventType, c *run) {
	ev := container.Event{Type: t, ContainerID: c.st.ID, PodUID: c.st.Pod.UID}
	for s := range r.subs {
		select {
		case s.ch <- ev:
		default:
			r.closeLocked(s)
		}
	}
}

// Kill ends a running container as if its process died with code (a
// test's crash); it reports whether the container was running.
func (r *Runtime) Kill(id string, code int32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok || c.st.State != container.StateRunning {
		return false
	}
	r.exitLocked(c, code, false)
	return true
}

// Reset forgets every container without an event, as a machine that
// rebooted: an agent started on it afterwards finds nothing running.
func (r *Runtime) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.containers {
		if c.timer != nil {
			c.timer.Stop()
		}
	}
	r.containers = map[string]*run{}
}

// Running counts the containers that run now.
func (r *Runtime) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.containers {
		if c.st.State == container.StateRunning {
			n++
		}
	}
	return n
}

// GetImage returns any image but a "missing" one: every image is present.
func (r *Runtime) GetImage(_ context.Context, ref string) (container.Image, error) {
	if missing(ref) {
		return container.Image{}, fmt.Errorf("hollow: image %s: %w", ref, errdefs.ErrNotFound)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rememberImageLocked(ref), nil
}

// Pull succeeds at once, unless the reference contains "missing".
func (r *Runtime) Pull(_ context.Context, ref string, _ *container.PullAuth, progress func(container.PullProgress)) (container.Image, error) {
	if missing(ref) {
		return container.Image{}, fmt.Errorf("hollow: pull %s: repository does not exist or may require authorization: %w", ref, errdefs.ErrNotFound)
	}
	r.mu.Lock()
	img := r.rememberImageLocked(ref)
	r.mu.Unlock()
	if progress != nil {
		progress(container.PullProgress{Ref: ref, Done: img.Size, Total: img.Size})
	}
	return img, nil
}

// ListImages lists the images used or pulled so far.
func (r *Runtime) ListImages(context.Context) ([]container.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]container.Image, 0, len(r.images))
	for _, img := range r.images {
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// RemoveImage forgets an image used or pulled (it stays "present").
func (r *Runtime) RemoveImage(_ context.Context, ref string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.images[ref]; !ok {
		return fmt.Errorf("hollow: remove image %s: %w", ref, errdefs.ErrNotFound)
	}
	delete(r.images, ref)
	return nil
}

// imageSize is what every hollow image weighs.
const imageSize = 10 << 20

func (r *Runtime) rememberImageLocked(ref string) container.Image {
	img, ok := r.images[ref]
	if !ok {
		img = container.Image{Ref: ref, ID: imageID(ref), Size: imageSize}
		r.images[ref] = img
	}
	return img
}

func missing(ref string) bool { return strings.Contains(ref, "missing") }

// imageID is a stable digest for a reference.
func imageID(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "sha256:" + hex.EncodeToString(sum[:])
}
