package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// maxOutput caps how much of an HTTP body or a command's output is read
// and kept for a probe's message, as kubelet's 10 KiB.
const maxOutput = 10 << 10

// userAgent is sent by httpGet probes that set no User-Agent header.
const userAgent = "skiff-probe/1"

// prober runs one probe attempt of any handler kind.
type prober struct {
	http *httpProber
	exec Execer // nil: exec probes fail with a message saying so
}

// newProber returns a prober that runs exec probes through exec.
func newProber(exec Execer) *prober {
	return &prober{http: newHTTPProber(), exec: exec}
}

// probe runs p once against target t, bounded by p's timeout, and
// returns the result and a message (the output, or what failed). Every
// problem, a bad port name included, is a Failure: a probe that cannot run
// is not passing.
func (pr *prober) probe(ctx context.Context, p *api.Probe, t *Target) (Result, string) {
	timeout := timeoutOf(p)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch h := p.ProbeHandler; {
	case h.HTTPGet != nil:
		host, port, err := address(h.HTTPGet.Host, h.HTTPGet.Port, t)
		if err != nil {
			return Failure, "httpGet: " + err.Error()
		}
		return pr.http.probe(ctx, h.HTTPGet, host, port, timeout)
	case h.TCPSocket != nil:
		host, port, err := address(h.TCPSocket.Host, h.TCPSocket.Port, t)
		if err != nil {
			return Failure, "tcpSocket: " + err.Error()
		}
		return probeTCP(ctx, host, port, timeout)
	case h.Exec != nil:
		if pr.exec == nil {
			return Failure, "exec: this node agent runs no exec probes (no Execer configured)"
		}
		return probeExec(ctx, pr.exec, t.ContainerID, h.Exec.Command, timeout)
	default:
		return Failure, "probe has no handler: set one of exec, httpGet, tcpSocket"
	}
}

// address is where a network probe connects: host, or the pod IP when
// host is empty, and the port resolved against the container's ports.
// No host at all is an error, never an empty host that would dial the
// node itself.
func address(host string, port api.IntOrString, t *Target) (string, int, error) {
	n, err := resolvePort(port, &t.Container)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		host = t.PodIP
	}
	if host == "" {
		return "", 0, fmt.Errorf("container %q: no host set and the pod has no IP", t.Container.Name)
	}
	return host, n, nil
}

// timeoutOf is p's per-attempt timeout, 1s when unset.
func timeoutOf(p *api.Probe) time.Duration {
	return secondsOr(p.TimeoutSeconds, 1)
}

// secondsOr is s seconds, or def seconds when s is not positive.
func secondsOr(s, def int32) time.Duration {
	if s <= 0 {
		s = def
	}
	return time.Duration(s) * time.Second
}

// timedOut is the message of an attempt that ran out of time.
func timedOut(what string, timeout time.Duration) string {
	return fmt.Sprintf("%s: timed out after %s", what, timeout)
}
