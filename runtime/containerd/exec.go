package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Exec runs spec.Command in the running container id, as the container's
// own process runs (user, environment, working directory), with its
// stdio wired to spec's streams, and returns its exit code. When ctx ends
// first the command is killed.
func (r *Runtime) Exec(ctx context.Context, id string, spec container.ExecSpec) (int, error) {
	ctx = r.ns(ctx)
	if len(spec.Command) == 0 {
		return -1, fmt.Errorf("exec in container %q: empty command: %w", id, errdefs.ErrInvalid)
	}
	c, err := r.c.LoadContainer(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, classify(err))
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: not running: %w", id, classify(err))
	}
	ospec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, classify(err))
	}
	pspec := *ospec.Process
	pspec.Args = spec.Command
	pspec.Terminal = spec.TTY
	pspec.ConsoleSize = nil

	stdinDone := make(chan struct{})
	var stdin io.Reader
	if spec.Stdin != nil {
		stdin = &eofReader{r: spec.Stdin, eof: stdinDone}
	}
	// The shim wants both output FIFOs, whether or not anyone listens.
	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil || spec.TTY {
		stderr = io.Discard
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(filepath.Join(r.fifoDir, id))}
	if spec.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	execID := "exec-" + randomHex(8)
	p, err := t.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, classify(err))
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	defer p.Delete(cctx, containerd.WithProcessKill)
	exited, err := p.Wait(cctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, classify(err))
	}
	if err := p.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec in container %q: start %v: %w", id, spec.Command, classify(err))
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	defer wg.Wait()
	defer close(done)
	if spec.Stdin != nil {
		wg.Go(func() {
			select {
			case <-stdinDone:
				// The shim holds the stdin FIFO open too; it closes it,
				// and the command sees the end of its input, when told.
				p.CloseIO(cctx, containerd.WithStdinCloser)
			case <-done:
			}
		})
	}
	if spec.Resize != nil {
		wg.Go(func() {
			for {
				select {
				case sz, ok := <-spec.Resize:
					if !ok {
						return
					}
					if err := p.Resize(cctx, uint32(sz.Width), uint32(sz.Height)); err != nil {
						r.log.Debug("resize exec terminal", "container", id, "err", err)
					}
				case <-done:
					return
				}
			}
		})
	}

	var es containerd.ExitStatus
	select {
	case es = <-exited:
	case <-ctx.Done():
		p.Kill(cctx, syscall.SIGKILL)
		select {
		case <-exited:
		case <-cctx.Done():
		}
		return -1, fmt.Errorf("exec in container %q: %w", id, ctx.Err())
	}
	code, _, err := es.Result()
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: wait: %w", id, classify(err))
	}
	// Let the output drain before Delete cuts the pipes; a background
	// child that keeps them open gets a few seconds.
	drained := make(chan struct{})
	go func() { p.IO().Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
	}
	return int(code), nil
}

// eofReader closes eof when r reaches its end.
type eofReader struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
