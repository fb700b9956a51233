package probe

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// updateBuffer is how many Updates wait for the agent before workers
// block on sending (and so stop probing) until it reads.
const updateBuffer = 128

// Config configures a Manager.
type Config struct {
	// Exec runs exec probes: the container runtime. Without it every
	// exec probe fails with a message saying so.
	Exec Execer
	// Log is scoped with component=probe; nil discards.
	Log *slog.Logger
	// Clock schedules probes; nil is the real clock. Tests pass a fake
	// (probetest.Clock).
	Clock Clock
}

// Validate checks that the config is complete for a real node.
func (c Config) Validate() error {
	if c.Exec == nil {
		return errors.New("probe config: exec is nil: pass the container runtime, which runs exec probes")
	}
	if c.Log == nil {
		return errors.New("probe config: log is nil: pass the agent's logger")
	}
	return nil
}

// Target is one running container whose probes the manager runs.
type Target struct {
	PodUID string
	// PodIP is where httpGet and tcpSocket probes without a host go.
	PodIP string
	// Container is the pod spec's container: its probes and its named
	// ports.
	Container api.Container
	// ContainerID is the runtime's ID of this run of the container; a new
	// ID is a new run, with fresh workers and fresh results.
	ContainerID string
	// StartedAt is when the container started; initialDelaySeconds count
	// from it.
	StartedAt time.Time
	// WasReady says this run was already Ready when the caller started
	// (an agent re-adopting containers after its own restart): its
	// readiness starts at Success instead of Failure, so restarting the
	// agent does not take the pod out of its Services until the first
	// probe. It is read only when the run's workers are made.
	WasReady bool
}

// Manager runs the probes of a node's running containers: one worker
// goroutine per (pod, container, probe kind), while Run runs. Its methods
// are safe to call from any goroutine.
type Manager struct {
	log     *slog.Logger
	clock   Clock
	prober  *prober
	updates chan Update
	// failures carries every failed probe, for Events; a full buffer
	// drops them rather than slow the probes.
	failures chan Update
	wg       sync.WaitGroup // running workers

	mu      sync.Mutex
	runCtx  context.Context // Run's context; nil before Run
	stopped bool            // Run has ended: no worker starts any more
	pods    map[string]map[string]*entry
}

// entry is the probes of one run of one container.
type entry struct {
	podUID, name, containerID string
	workers                   map[Kind]*worker
}

// NewManager returns a Manager; probing begins when Run is called.
func NewManager(cfg Config) *Manager {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = realClock{}
	}
	return &Manager{
		log:      log.With("component", "probe"),
		clock:    clock,
		prober:   newProber(cfg.Exec),
		updates:  make(chan Update, updateBuffer),
		failures: make(chan Update, updateBuffer),
		pods:     make(map[string]map[string]*entry),
	}
}

// Run starts the workers of every container synced so far and of every
// one synced while it runs, and stops them all when ctx ends. It returns
// nil once every worker has stopped; it runs once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.runCtx != nil {
		m.mu.Unlock()
		return errors.New("probe manager: run called twice")
	}
	m.runCtx = ctx
	for _, pod := range m.pods {
		for _, e := range pod {
			m.startLocked(e)
		}
	}
	m.mu.Unlock()

	<-ctx.Done()
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Sync makes the manager probe exactly the given running containers of
// pod podUID. A container it already probes under the same ContainerID
// keeps its workers and results. A new container, or one whose
// ContainerID changed (it was restarted), gets fresh workers with the
// initial results: readiness Failure, liveness Success, startup Unknown.
// A container of the pod no longer listed loses its workers and results.
// Targets of another pod, without a ContainerID or with a name listed
// twice are skipped and logged. Sync keeps the targets: do not change
// them afterwards.
func (m *Manager) Sync(targets []Target, podUID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.pods[podUID]
	next := make(map[string]*entry, len(targets))
	seen := make(map[string]bool, len(targets))
	for _, t := range targets {
		name := t.Container.Name
		switch {
		case t.PodUID != "" && t.PodUID != podUID:
			m.log.Warn("sync probes: target of another pod skipped", "pod", podUID, "target_pod", t.PodUID, "container", name)
			continue
		case t.ContainerID == "":
			m.log.Warn("sync probes: target without container id skipped", "pod", podUID, "container", name)
			continue
		case seen[name]:
			m.log.Warn("sync probes: container listed twice, second skipped", "pod", podUID, "container", name)
			continue
		}
		seen[name] = true
		if e := old[name]; e != nil && e.containerID == t.ContainerID {
			next[name] = e
			continue
		}
		t.PodUID = podUID
		if e := m.newEntry(t); e != nil {
			next[name] = e
			m.startLocked(e)
		}
	}
	for name, e := range old {
		if next[name] != e {
			stopLocked(e)
		}
	}
	if len(next) == 0 {
		delete(m.pods, podUID)
		return
	}
	m.pods[podUID] = next
}

// RemovePod stops the workers of every container of the pod and forgets
// their results.
func (m *Manager) RemovePod(podUID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.pods[podUID] {
		stopLocked(e)
	}
	delete(m.pods, podUID)
}

// Result is the current result of a container's probe of kind k. It is
// Unknown when the container has no such probe or is not synced, so a
// readiness result of Unknown means there is no readiness probe (a probed
// container's readiness starts at Failure); a startup result of Unknown
// is also what a startup probe has until it first passes or fails.
func (m *Manager) Result(podUID, containerName string, k Kind) Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.pods[podUID][containerName].worker(k); w != nil {
		return w.result
	}
	return Unknown
}

// Updates delivers result changes. It is buffered; workers wait for room,
// so the agent should read it steadily. It is never closed.
func (m *Manager) Updates() <-chan Update { return m.updates }

// Failures delivers every failed probe run (not only flips), for the
// agent's Unhealthy events. Sends never block: when the reader is slow,
// failures are dropped. It is never closed.
func (m *Manager) Failures() <-chan Update { return m.failures }

// failed reports one failed probe run of w.
func (m *Manager) failed(w *worker, msg string) {
	u := Update{PodUID: w.entry.podUID, Container: w.entry.name, ContainerID: w.entry.containerID, Kind: w.kind, Result: Failure, Message: msg}
	select {
	case m.failures <- u:
	default:
	}
}

// newEntry makes the workers of t's probes, nil if it has none.
func (m *Manager) newEntry(t Target) *entry {
	t.Container.Ports = slices.Clone(t.Container.Ports)
	e := &entry{podUID: t.PodUID, name: t.Container.Name, containerID: t.ContainerID, workers: make(map[Kind]*worker, 3)}
	for k, p := range map[Kind]*api.Probe{
		Startup:   t.Container.StartupProbe,
		Liveness:  t.Container.LivenessProbe,
		Readiness: t.Container.ReadinessProbe,
	} {
		if p != nil {
			e.workers[k] = newWorker(m, e, k, *p, t)
		}
	}
	if len(e.workers) == 0 {
		return nil
	}
	return e
}

// worker returns e's worker of kind k; nil if e is nil or has none.
func (e *entry) worker(k Kind) *worker {
	if e == nil {
		return nil
	}
	return e.workers[k]
}

// startLocked starts e's workers if Run runs. m.mu is held.
func (m *Manager) startLocked(e *entry) {
	if m.runCtx == nil || m.stopped {
		return
	}
	for _, w := range e.workers {
		ctx, cancel := context.WithCancel(m.runCtx)
		w.cancel = cancel
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer cancel()
			w.run(ctx)
		}()
	}
}

// stopLocked stops e's workers. m.mu is held.
func stopLocked(e *entry) {
	for _, w := range e.workers {
		if w.cancel != nil {
			w.cancel()
		}
	}
}

// current reports whether w is still the worker of its container and
// kind, that is, it was not stopped by Sync or RemovePod. m.mu is held.
func (m *Manager) currentLocked(w *worker) bool {
	return m.pods[w.entry.podUID][w.entry.name].worker(w.kind) == w
}

// started reports whether e's container has started: it has no startup
// probe, or the startup probe has passed. Until then its liveness and
// readiness workers do not probe.
func (m *Manager) started(e *entry) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := e.workers[Startup]
	return w == nil || w.result == Success
}

// set records w's result and, when it changed, sends an Update (waiting
// for room until w is stopped). A stopped worker's result is dropped.
func (m *Manager) set(ctx context.Context, w *worker, r Result, msg string) {
	m.mu.Lock()
	if !m.currentLocked(w) {
		m.mu.Unlock()
		return
	}
	prev := w.result
	w.result = r
	m.mu.Unlock()
	if prev == r {
		return
	}
	w.log.Info("probe result changed", "from", prev.String(), "to", r.String(), "message", clip(msg))
	u := Update{PodUID: w.entry.podUID, Container: w.entry.name, ContainerID: w.entry.containerID, Kind: w.kind, Result: r, Message: msg}
	select {
	case m.updates <- u:
	case <-ctx.Done():
	}
}

// clip shortens a probe message for a log line.
func clip(s string) string {
	const n = 256
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
