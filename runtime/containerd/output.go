package containerd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/skiffhq/skiff/runtime/logs"
)

// outputCopy copies one container's stdout and stderr from the shim's
// FIFOs into its log file. It ends by itself when the shim closes the
// FIFOs (the container exited) or when cancelled (the Runtime closes);
// the shim keeps the FIFOs open, so a container's output written while
// nobody copies waits in them for the next Runtime.
type outputCopy struct {
	io   cio.IO
	w    *logs.Writer // nil when the container has no log path
	done chan struct{}
	err  error // from closing w; read after done
}

// fifoConfig is the FIFO set of a container's task: FIFODir/<id>/stdout
// and stderr (no stderr with a terminal: it joins stdout).
func (r *Runtime) fifoConfig(id string, tty bool) cio.Config {
	dir := filepath.Join(r.fifoDir, id)
	c := cio.Config{Terminal: tty, Stdout: filepath.Join(dir, "stdout")}
	if !tty {
		c.Stderr = filepath.Join(dir, "stderr")
	}
	return c
}

// copyOutput opens the log file at logPath and starts copying the FIFOs
// of fifos into it, creating the FIFOs if they are not there yet.
func (r *Runtime) copyOutput(id, logPath string, fifos cio.Config) (*outputCopy, error) {
	oc := &outputCopy{done: make(chan struct{})}
	var stdout, stderr io.Writer = io.Discard, io.Discard
	if logPath != "" {
		w, err := logs.NewWriter(logPath, r.logOpts)
		if err != nil {
			return nil, fmt.Errorf("container %q: %w", id, err)
		}
		oc.w = w
		stdout, stderr = w.Stream(logs.Stdout), w.Stream(logs.Stderr)
	}
	for _, p := range []string{fifos.Stdout, fifos.Stderr} {
		if p != "" {
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				oc.closeWriter()
				return nil, fmt.Errorf("container %q: fifo directory: %w", id, err)
			}
		}
	}
	var err error
	oc.io, err = cio.NewAttach(cio.WithStreams(nil, stdout, stderr))(cio.NewFIFOSet(fifos, nil))
	if err != nil {
		oc.closeWriter()
		return nil, fmt.Errorf("container %q: open output fifos %s: %w", id, fifos.Stdout, err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		oc.io.Wait()
		oc.closeWriter()
		close(oc.done)
	}()
	return oc, nil
}

func (oc *outputCopy) closeWriter() {
	if oc.w != nil {
		oc.err = oc.w.Close()
	}
}

// cancel stops copying without waiting.
func (oc *outputCopy) cancel() { oc.io.Cancel() }

// close waits for copying to end, then releases the FIFOs (not removing
// them) and returns the log file's closing error.
func (oc *outputCopy) close() error {
	<-oc.done
	oc.io.Close()
	return oc.err
}
