package hollow

import (
	"github.com/skiffhq/skiff/runtime/agent"
	"github.com/skiffhq/skiff/runtime/probe"
	"github.com/skiffhq/skiff/server/api"
)

// Prober is runtime/probe's Manager with every probe turned into an exec
// of [ProbeCommand, kind] that the hollow Runtime answers: a pod address
// is not reachable (nothing listens there), so an httpGet or tcpSocket
// probe would only time out. Periods, initial delays, thresholds and
// results are the Manager's own, so a probe behaves on a hollow node as
// on a real one, passing unless the container's HOLLOW_* variables say
// otherwise.
type Prober struct {
	*probe.Manager
}

var _ agent.Prober = Prober{}

// NewProber returns a Prober whose exec probes run in rt.
func NewProber(rt *Runtime) Prober {
	return Prober{probe.NewManager(probe.Config{Exec: rt})}
}

// Sync hands the Manager the targets with their probes made hollow.
func (p Prober) Sync(targets []probe.Target, podUID string) {
	out := make([]probe.Target, len(targets))
	for i, t := range targets {
		c := t.Container // a copy; the probes are replaced, not changed
		c.StartupProbe = hollowProbe(c.StartupProbe, probe.Startup)
		c.LivenessProbe = hollowProbe(c.LivenessProbe, probe.Liveness)
		c.ReadinessProbe = hollowProbe(c.ReadinessProbe, probe.Readiness)
		t.Container = c
		out[i] = t
	}
	p.Manager.Sync(out, podUID)
}

func hollowProbe(p *api.Probe, k probe.Kind) *api.Probe {
	if p == nil {
		return nil
	}
	q := *p
	q.ProbeHandler = api.ProbeHandler{Exec: &api.ExecAction{Command: []string{ProbeCommand, string(k)}}}
	return &q
}
