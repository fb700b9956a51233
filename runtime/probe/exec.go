package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
)

// Execer runs a command in a running container and returns its exit code
// once it ends; when ctx ends first it kills the command and returns.
// The container runtime is one.
type Execer interface {
	Exec(ctx context.Context, containerID string, spec container.ExecSpec) (int, error)
}

var _ Execer = container.ContainerService(nil)

// probeExec runs command in the container; exit status 0 is success. The
// command's stdout and stderr, together and cut at maxOutput, are the
// message. ctx's deadline (the probe's timeout) kills it.
func probeExec(ctx context.Context, e Execer, containerID string, command []string, timeout time.Duration) (Result, string) {
	if len(command) == 0 {
		return Failure, "exec: no command"
	}
	var out cappedBuffer
	code, err := e.Exec(ctx, containerID, container.ExecSpec{Command: command, Stdout: &out, Stderr: &out})
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Failure, timedOut(fmt.Sprintf("exec %q", command), timeout)
	case err != nil:
		return Failure, fmt.Sprintf("exec %q in container %s: %v", command, containerID, err)
	case code != 0:
		return Failure, fmt.Sprintf("exec %q: exit status %d: %s", command, code, out.String())
	default:
		return Success, out.String()
	}
}

// cappedBuffer keeps the first maxOutput bytes written to it and drops
// the rest without an error, so that a chatty command is not cut off. It
// is safe for the runtime's stdout and stderr copiers at once.
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxOutput - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
