package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/logs"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

var _ container.Runtime = (*Runtime)(nil)

// RuntimeConfig configures a Runtime.
type RuntimeConfig struct {
	// Client talks to containerd (see Connect); the caller closes it,
	// after the Runtime.
	Client *containerd.Client
	// Snapshotter unpacks images and makes root filesystems; "" means
	// overlayfs.
	Snapshotter string
	// FIFODir holds each container's stdio FIFOs, in FIFODir/<id>; a
	// tmpfs such as /run/skiff/fifo, so that none outlive a reboot.
	FIFODir string
	Log     *slog.Logger
	// LogOptions tune the container log files (rotation).
	LogOptions logs.Options
	// Mirrors are registry hosts whose images Pull fetches from
	// elsewhere (a joined node's skiff.local, from its server).
	Mirrors []Mirror
}

// Validate says what is missing.
func (c RuntimeConfig) Validate() error {
	if c.Client == nil {
		return fmt.Errorf("containerd runtime: no containerd client: %w", errdefs.ErrInvalid)
	}
	if c.FIFODir == "" {
		return fmt.Errorf("containerd runtime: FIFODir is required (for example /run/skiff/fifo): %w", errdefs.ErrInvalid)
	}
	for i, m := range c.Mirrors {
		if m.Host == "" || m.URL == nil || m.URL.Host == "" || m.Client == nil {
			return fmt.Errorf("containerd runtime: mirror %d needs a host, a URL with a host and a client: %w", i, errdefs.ErrInvalid)
		}
	}
	return nil
}

// Runtime is container.Runtime on containerd: containers, tasks and
// images in namespace Namespace, container output copied from the
// shim's FIFOs into CRI-format log files, exits and OOM kills recorded
// as container labels. It holds no state that containerd does not: a new
// Runtime finds every container, and re-attaches to the output of those
// still running, without touching them.
type Runtime struct {
	c           *containerd.Client
	snapshotter string
	fifoDir     string
	log         *slog.Logger
	logOpts     logs.Options
	mirrors     []Mirror

	stop context.CancelFunc
	wg   sync.WaitGroup // the exit monitor and the output copiers

	mu      sync.Mutex
	copies  map[string]*outputCopy // by container ID, from Start (or adoption) to Remove
	podUIDs map[string]string      // by container ID, to name the pod in events
	closed  bool
	// removing holds the containers a Remove is deleting: no adoption.
	removing map[string]bool
}

// NewRuntime checks cfg, re-attaches to the output of every running skiff
// container, and starts watching tasks for exits and OOM kills until
// Close.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = "overlayfs"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.FIFODir, 0o700); err != nil {
		return nil, fmt.Errorf("containerd runtime: fifo directory: %w", err)
	}
	r := &Runtime{
		c:           cfg.Client,
		snapshotter: cfg.Snapshotter,
		fifoDir:     cfg.FIFODir,
		log:         cfg.Log.With("component", "containerd-runtime"),
		logOpts:     cfg.LogOptions,
		mirrors:     cfg.Mirrors,
		copies:      map[string]*outputCopy{},
		podUIDs:     map[string]string{},
		removing:    map[string]bool{},
	}
	if _, err := r.List(ctx); err != nil { // List re-adopts
		return nil, fmt.Errorf("containerd runtime: %w", err)
	}
	mctx, stop := context.WithCancel(context.WithoutCancel(r.ns(ctx)))
	r.stop = stop
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.monitor(mctx)
	}()
	return r, nil
}

// Close stops watching and copying; the containers keep running, and
// their output waits in the FIFOs for the next Runtime.
func (r *Runtime) Close() error {
	r.stop()
	r.mu.Lock()
	r.closed = true
	for _, oc := range r.copies {
		oc.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
	var errs []error
	r.mu.Lock()
	for id, oc := range r.copies {
		if err := oc.close(); err != nil {
			errs = append(errs, fmt.Errorf("container %q: %w", id, err))
		}
	}
	r.copies = map[string]*outputCopy{}
	r.mu.Unlock()
	return errors.Join(errs...)
}

// ns puts the skiff namespace on ctx.
func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, Namespace)
}

// cleanupContext is for work that must finish even when the caller's
// context has ended (deleting what a failed call made).
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}
