package probe

// Kind is which of a container's probes a result is for.
type Kind string

// The probe kinds.
const (
	Startup   Kind = "startup"
	Liveness  Kind = "liveness"
	Readiness Kind = "readiness"
)

// Result is the outcome of a probe, as counted against its thresholds.
type Result int

// The results.
const (
	// Unknown: not probed yet (a startup probe's first state), or no
	// such probe.
	Unknown Result = iota
	Success
	Failure
)

// String returns the result's name.
func (r Result) String() string {
	switch r {
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	default:
		return "Unknown"
	}
}

// initialResult is a fresh worker's result before its first probe, as
// kubelet: a container is not ready until a readiness probe passes, is
// alive until a liveness probe fails, and has not started until a startup
// probe passes.
func initialResult(k Kind) Result {
	switch k {
	case Readiness:
		return Failure
	case Liveness:
		return Success
	default:
		return Unknown
	}
}

// Update says that a probe's result changed. Updates are sent only on
// transitions, never for each probe run, and never for the initial result
// Sync sets. An update from a container that has since been replaced may
// still arrive: compare ContainerID, or read Manager.Result, which is
// always current.
type Update struct {
	PodUID, Container, ContainerID string
	Kind                           Kind
	Result                         Result
	// Message is the probe's output or error on the run that flipped the
	// result (HTTP body, command output, connection error).
	Message string
}
