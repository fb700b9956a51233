package api

// The defaults of the app kinds (paas.go). An App's unset build settings
// stay unset: an empty spec.build.dockerfile means "the Dockerfile at the
// top of the repository if there is one, else detect the app's kind", and
// an empty branch means main (or master); the builder and the push
// handler read them so, and writing a guess here would turn "whatever the
// repository has" into a fixed choice.

// The App health check's defaults.
const (
	DefaultHealthCheckPath            = "/"
	DefaultHealthCheckTimeoutSeconds  = 2
	DefaultHealthCheckPeriodSeconds   = 1
	DefaultHealthCheckDeadlineSeconds = 120
	DefaultHealthCheckDrainSeconds    = 5
	// DefaultIdleMinutes is how long an app scaled to zero waits without a
	// request before its web pods stop.
	DefaultIdleMinutes = 15
)

// defaultApp fills an App's health check and idle policy.
func defaultApp(a *App) {
	h := &a.Spec.HealthCheck
	if h.Path == "" {
		h.Path = DefaultHealthCheckPath
	}
	setZeroInt32(&h.TimeoutSeconds, DefaultHealthCheckTimeoutSeconds)
	setZeroInt32(&h.PeriodSeconds, DefaultHealthCheckPeriodSeconds)
	setZeroInt32(&h.DeadlineSeconds, DefaultHealthCheckDeadlineSeconds)
	setZeroInt32(&h.DrainSeconds, DefaultHealthCheckDrainSeconds)
	if z := a.Spec.ScaleToZero; z != nil {
		setZeroInt32(&z.IdleMinutes, DefaultIdleMinutes)
	}
}

// defaultBuild starts a Build as Running: whoever creates one starts it.
func defaultBuild(b *Build) {
	if b.Status.Phase == "" {
		b.Status.Phase = BuildRunning
	}
}

// defaultRelease starts a Release as Pending: the app controller moves it
// on.
func defaultRelease(r *Release) {
	if r.Status.Phase == "" {
		r.Status.Phase = ReleasePending
	}
}

// setZeroInt32 sets *p to v if it is 0 (the app kinds' fields are plain
// values: 0 is unset).
func setZeroInt32(p *int32, v int32) {
	if *p == 0 {
		*p = v
	}
}
