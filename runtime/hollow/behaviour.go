package hollow

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The environment variables a container of a pod sets to make its hollow
// runs misbehave. They are read from the resolved environment the agent
// hands the runtime, so a value may also come from a ConfigMap or the
// downward API. A duration is Go's syntax ("2s", "1m30s") or "never".
const (
	// EnvExitAfter: the run exits by itself this long after it starts,
	// with HOLLOW_EXIT_CODE (default 0). A Job's pod that should
	// complete sets it.
	EnvExitAfter = "HOLLOW_EXIT_AFTER"
	// EnvExitCode: the code the run exits with. Set alone, the run exits
	// at once after starting: HOLLOW_EXIT_CODE=1 is a crash loop.
	EnvExitCode = "HOLLOW_EXIT_CODE"
	// EnvOOM: "true" makes the exit an OOM kill (exit 137, OOMKilled).
	// Set alone, the run is killed at once after starting.
	EnvOOM = "HOLLOW_OOM"
	// EnvStartError: Start fails with this message (the agent reports
	// RunContainerError, or StartError under restartPolicy Never).
	EnvStartError = "HOLLOW_START_ERROR"
	// EnvStopDelay: how long the run takes to exit after SIGTERM
	// (default at once, exit 143). Longer than the grace the agent
	// gives, it is SIGKILLed when the grace ends (exit 137).
	EnvStopDelay = "HOLLOW_STOP_DELAY"
	// EnvReadyAfter: every probe of kind readiness fails until the run
	// has lasted this long; "never" keeps it unready.
	EnvReadyAfter = "HOLLOW_READY_AFTER"
	// EnvStartupAfter: every startup probe fails until the run has
	// lasted this long.
	EnvStartupAfter = "HOLLOW_STARTUP_AFTER"
	// EnvLivenessFailAfter: liveness probes fail once the run has lasted
	// this long (the agent then kills and restarts it).
	EnvLivenessFailAfter = "HOLLOW_LIVENESS_FAIL_AFTER"
	// EnvExecExitCode: what any other command run in the container
	// (skiff exec, exec lifecycle hooks) exits with (default 0).
	EnvExecExitCode = "HOLLOW_EXEC_EXIT_CODE"
)

// never is a duration that does not end.
const never = time.Duration(1<<63 - 1)

// behaviour is what one run does, from its HOLLOW_* variables.
type behaviour struct {
	exits        bool          // the run ends by itself
	exitAfter    time.Duration // after this long
	exitCode     int32
	oom          bool
	startError   string
	stopDelay    time.Duration
	readyAfter   time.Duration
	startupAfter time.Duration
	livenessFail time.Duration // 0: never fails
	execCode     int
}

// parseBehaviour reads the HOLLOW_* variables of env ("NAME=value").
// A value that does not parse is an error naming the variable.
func parseBehaviour(env []string) (behaviour, error) {
	var b behaviour
	var hasAfter, hasCode bool
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "HOLLOW_") {
			continue
		}
		var err error
		switch name {
		case EnvExitAfter:
			b.exitAfter, err = parseDuration(val)
			hasAfter = true
		case EnvExitCode:
			var n int64
			n, err = strconv.ParseInt(val, 10, 32)
			b.exitCode, hasCode = int32(n), true
		case EnvOOM:
			b.oom, err = strconv.ParseBool(val)
		case EnvStartError:
			b.startError = val
		case EnvStopDelay:
			b.stopDelay, err = parseDuration(val)
		case EnvReadyAfter:
			b.readyAfter, err = parseDuration(val)
		case EnvStartupAfter:
			b.startupAfter, err = parseDuration(val)
		case EnvLivenessFailAfter:
			b.livenessFail, err = parseDuration(val)
		case EnvExecExitCode:
			b.execCode, err = strconv.Atoi(val)
		default:
			continue // not ours to judge
		}
		if err != nil {
			return behaviour{}, fmt.Errorf("hollow: %s=%q: want a duration such as 2s or never, a number or a bool as documented: %w", name, val, errdefs.ErrInvalid)
		}
	}
	b.exits = (hasAfter && b.exitAfter != never) || (!hasAfter && (hasCode || b.oom))
	if b.oom {
		b.exitCode = 137
	}
	return b, nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "never" {
		return never, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = fmt.Errorf("negative")
	}
	return d, err
}

// probeResult answers a hollow probe of kind for a run that has lasted
// ran: the exit code and, on failure, why.
func (b behaviour) probeResult(kind string, ran time.Duration) (int, string) {
	switch kind {
	case "readiness":
		if ran < b.readyAfter {
			return 1, fmt.Sprintf("hollow: not ready until %s (%s)", b.readyAfter, EnvReadyAfter)
		}
	case "startup":
		if ran < b.startupAfter {
			return 1, fmt.Sprintf("hollow: not started until %s (%s)", b.startupAfter, EnvStartupAfter)
		}
	case "liveness":
		if b.livenessFail > 0 && b.livenessFail != never && ran >= b.livenessFail {
			return 1, fmt.Sprintf("hollow: dead after %s (%s)", b.livenessFail, EnvLivenessFailAfter)
		}
	}
	return 0, ""
}
