package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// firstPass is the longest Run waits before its first pass: long enough
// for the agent to have relisted and adopted what runs, short enough that
// a node that booted with a full disk does not wait an Interval.
const firstPass = 10 * time.Second

// GC collects a node's garbage; see the package comment for the policy.
type GC struct {
	cfg Config
	log *slog.Logger

	// mu makes passes one at a time and guards unused.
	mu sync.Mutex
	// unused is, by image key (see imageKey), when a pass first saw the
	// image used by no container. Images in use, and images gone, have
	// no entry.
	unused map[string]time.Time
}

// New checks cfg and builds a collector; Run starts it.
func New(cfg Config) (*GC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &GC{
		cfg:    cfg,
		log:    cfg.Log.With("component", "gc"),
		unused: map[string]time.Time{},
	}, nil
}

// Report is what one pass removed.
type Report struct {
	ContainersRemoved int
	LogFilesRemoved   int
	LogBytesFreed     int64
	ImagesRemoved     int
	// ImageBytesFreed adds up the sizes of the removed images as the
	// runtime reports them: an estimate, since layers an image shares
	// with one that stays are not freed.
	ImageBytesFreed int64
}

// LogValue makes a Report one slog group.
func (r Report) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("containers", r.ContainersRemoved),
		slog.Int("log-files", r.LogFilesRemoved),
		slog.Int64("log-bytes", r.LogBytesFreed),
		slog.Int("images", r.ImagesRemoved),
		slog.Int64("image-bytes", r.ImageBytesFreed),
	)
}

// Run collects every Interval until ctx ends, the first time after at
// most 10 s. A pass's errors are logged and the next pass runs on time.
func (g *GC) Run(ctx context.Context) error {
	t := time.NewTimer(min(firstPass, g.cfg.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		rep, err := g.Collect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			g.log.Warn("garbage collection", "err", err)
		}
		if rep != (Report{}) {
			g.log.Info("collected garbage", "removed", rep, "took", time.Since(start).Round(time.Millisecond))
		}
		t.Reset(g.cfg.Interval)
	}
}

// Collect makes one pass: exited containers, then log files, then images,
// so that what one step frees the next sees as unused. It returns what it
// removed, and every error it met joined; an error in one step does not
// stop the next, except a failure to list containers, which stops the
// pass.
func (g *GC) Collect(ctx context.Context) (Report, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var rep Report
	cs, err := g.cfg.Runtime.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("gc: list containers: %w", err)
	}
	now := g.cfg.Now()
	known := g.knownPods()
	var errs []error
	cs, err = g.collectContainers(ctx, cs, now, known, &rep)
	errs = append(errs, err)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	errs = append(errs, g.collectLogs(cs, now, known, &rep))
	errs = append(errs, g.collectImages(ctx, cs, now, &rep))
	return rep, errors.Join(errs...)
}

// knownPods asks KnownPod once per UID and pass.
func (g *GC) knownPods() func(uid string) bool {
	seen := map[string]bool{}
	return func(uid string) bool {
		k, ok := seen[uid]
		if !ok {
			k = g.cfg.KnownPod(uid)
			seen[uid] = k
		}
		return k
	}
}
