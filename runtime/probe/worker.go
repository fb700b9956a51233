package probe

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// worker probes one container's probe of one kind, on the probe's period,
// from its goroutine (run). Its result is guarded by the manager's mutex;
// the rest is its goroutine's own.
type worker struct {
	m      *Manager
	entry  *entry
	kind   Kind
	probe  api.Probe
	target Target
	log    *slog.Logger
	cancel context.CancelFunc // set when started; guarded by m.mu

	result Result // the cached result; guarded by m.mu

	last   Result // the latest probe's outcome
	inARow int    // how many probes in a row had that outcome
}

// newWorker returns a worker, not yet running, with kind k's initial
// result.
func newWorker(m *Manager, e *entry, k Kind, p api.Probe, t Target) *worker {
	result := initialResult(k)
	if k == Readiness && t.WasReady {
		result = Success
	}
	return &worker{
		m: m, entry: e, kind: k, probe: p, target: t,
		log:    m.log.With("pod", t.PodUID, "container", t.Container.Name, "container_id", t.ContainerID, "probe", string(k)),
		result: result,
	}
}

// run probes until ctx ends or the worker is done: a startup probe that
// passed, or a liveness or startup probe that failed, probes no more (the
// agent restarts the container, and a new ContainerID brings a new
// worker).
func (w *worker) run(ctx context.Context) {
	period := secondsOr(w.probe.PeriodSeconds, 10)
	now := w.m.clock.Now()
	wait := firstDelay(now, w.target.StartedAt, secondsOr(w.probe.InitialDelaySeconds, 0), period, jitter)
	next := now.Add(wait)
	t := w.m.clock.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if !w.tick(ctx) {
			return
		}
		now := w.m.clock.Now()
		next = nextRun(next, now, period)
		t.Reset(next.Sub(now))
	}
}

// tick runs one probe, counts it and records the result once a threshold
// is met. It reports whether the worker should go on probing.
func (w *worker) tick(ctx context.Context) bool {
	if w.kind != Startup && !w.m.started(w.entry) {
		return true
	}
	r, msg := w.m.prober.probe(ctx, &w.probe, &w.target)
	if ctx.Err() != nil {
		return false // stopped while probing: nobody asks about this run any more
	}
	if r == Failure {
		w.m.failed(w, msg)
	}
	if r == w.last {
		w.inARow++
	} else {
		w.last, w.inARow = r, 1
	}
	if w.inARow < threshold(&w.probe, w.kind, r) {
		w.log.Debug("probe", "result", r.String(), "in_a_row", w.inARow, "message", clip(msg))
		return true
	}
	w.m.set(ctx, w, r, msg)
	switch {
	case w.kind == Startup && r == Success:
		return false
	case w.kind != Readiness && r == Failure:
		return false
	}
	return true
}

// threshold is how many probes in a row with result r flip the result:
// successThreshold (always 1 for liveness and startup probes) or
// failureThreshold, defaulting to 1 and 3.
func threshold(p *api.Probe, k Kind, r Result) int {
	if r == Success {
		if k != Readiness || p.SuccessThreshold <= 0 {
			return 1
		}
		return int(p.SuccessThreshold)
	}
	if p.FailureThreshold <= 0 {
		return 3
	}
	return int(p.FailureThreshold)
}

// firstDelay is how long a new worker waits before its first probe: until
// initialDelay after the container started (a zero start time counts as
// now), plus a jitter of up to a tenth of the period, so that many
// containers started together (an agent restart re-adopting 50 pods) do
// not probe in lockstep for ever.
func firstDelay(now, started time.Time, initialDelay, period time.Duration, jitter func(time.Duration) time.Duration) time.Duration {
	if started.IsZero() {
		started = now
	}
	wait := max(started.Add(initialDelay).Sub(now), 0)
	if spread := period / 10; spread > 0 {
		wait += jitter(spread)
	}
	return wait
}

// jitter is a random duration in [0, d); d > 0.
func jitter(d time.Duration) time.Duration { return rand.N(d) }

// nextRun is the probe time after prev, on prev's grid of periods: the
// first one after now, so that a probe that overran its period skips the
// runs it missed instead of bunching them, as a ticker does.
func nextRun(prev, now time.Time, period time.Duration) time.Time {
	n := prev.Add(period)
	if n.After(now) {
		return n
	}
	missed := now.Sub(prev) / period
	return prev.Add((missed + 1) * period)
}
