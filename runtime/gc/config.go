package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Runtime is what the collector asks of the container runtime. Every
// container.Runtime is one (runtime/containerd's Runtime in skiff).
type Runtime interface {
	// List returns every container on the node.
	List(ctx context.Context) ([]container.Status, error)
	// Remove deletes a container.
	Remove(ctx context.Context, id string) error
	// ListImages returns every image the runtime holds.
	ListImages(ctx context.Context) ([]container.Image, error)
	// RemoveImage deletes one reference of an image.
	RemoveImage(ctx context.Context, ref string) error
}

var _ Runtime = container.Runtime(nil)

// The defaults, the kubelet's where it has one.
const (
	DefaultHighThresholdPercent = 85
	DefaultLowThresholdPercent  = 80
	DefaultMaxPerPodContainer   = 2
	DefaultImageMinAge          = 2 * time.Minute
	DefaultMinAge               = time.Minute
	DefaultInterval             = time.Minute
)

// Config is what a collector is given. Zero values mean the defaults.
type Config struct {
	// Runtime lists and removes containers and images.
	Runtime Runtime
	// ImageFS is a path on the file system the runtime keeps images on:
	// containerd's root directory (<data-dir>/containerd). Its usage
	// decides whether images are collected.
	ImageFS string
	// LogDir is the directory of the agent's pod directories,
	// <data-dir>/pods; only the logs/ directory of each is touched.
	LogDir string
	// KnownPod says whether the agent knows the pod with this UID: it is
	// bound to this node in the API, or the agent is working on it.
	// Exited containers and log files of a pod it does not know are
	// removed. It must not answer false before the agent has its list of
	// pods (answer true until then). Required.
	KnownPod func(uid string) bool
	// Keep says whether an image must stay whatever the disk usage
	// (pinned images, images imported from <data-dir>/images). It is
	// asked about each of an image's references, as the runtime names
	// them ("docker.io/library/busybox:latest"), and about its digest
	// ("sha256:…"). Nil keeps nothing beyond the images in use.
	Keep func(ref string) bool
	// HighThresholdPercent is the disk usage of ImageFS above which
	// unused images are removed (default 85; 100 never removes images).
	HighThresholdPercent int
	// LowThresholdPercent is the usage image removal brings the disk
	// below (default 80, or HighThresholdPercent if that is lower); at
	// most HighThresholdPercent.
	LowThresholdPercent int
	// MaxPerPodContainer is how many exited runs of each container of a
	// known pod stay (default 2); the agent itself keeps fewer.
	MaxPerPodContainer int
	// ImageMinAge is how long an image must have been unused before it
	// is removed (default 2 min).
	ImageMinAge time.Duration
	// MinAge is how long a container must have been exited, and a log
	// file unmodified, before it is removed (default 1 min).
	MinAge time.Duration
	// Interval is the time between two passes of Run (default 1 min).
	Interval time.Duration
	// DiskUsage measures the file system holding path: bytes used and
	// its size. Default: statfs(2), counting space reserved for root as
	// used, as df's Use% and the kubelet do.
	DiskUsage func(path string) (used, total uint64, err error)
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

func (c *Config) setDefaults() {
	if c.HighThresholdPercent == 0 {
		c.HighThresholdPercent = DefaultHighThresholdPercent
	}
	if c.LowThresholdPercent == 0 {
		c.LowThresholdPercent = min(DefaultLowThresholdPercent, c.HighThresholdPercent)
	}
	if c.MaxPerPodContainer == 0 {
		c.MaxPerPodContainer = DefaultMaxPerPodContainer
	}
	if c.ImageMinAge == 0 {
		c.ImageMinAge = DefaultImageMinAge
	}
	if c.MinAge == 0 {
		c.MinAge = DefaultMinAge
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.DiskUsage == nil {
		c.DiskUsage = Statfs
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Keep == nil {
		c.Keep = func(string) bool { return false }
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate says what is missing or wrong, naming the field. Zero values
// are left for the defaults and pass.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("gc: "+format+": %w", append(args, errdefs.ErrInvalid)...))
	}
	if c.Runtime == nil {
		bad("Runtime is required (the node's container runtime)")
	}
	if c.KnownPod == nil {
		bad("KnownPod is required (without it every pod's exited containers and logs would count as orphaned)")
	}
	if c.ImageFS == "" {
		bad("ImageFS is required (the container runtime's root directory, such as <data-dir>/containerd)")
	} else if !filepath.IsAbs(c.ImageFS) {
		bad("ImageFS %q must be an absolute path", c.ImageFS)
	}
	if c.LogDir == "" {
		bad("LogDir is required (the agent's pod directories, <data-dir>/pods)")
	} else if !filepath.IsAbs(c.LogDir) {
		bad("LogDir %q must be an absolute path", c.LogDir)
	}
	high, low := c.HighThresholdPercent, c.LowThresholdPercent
	if high < 0 || high > 100 {
		bad("HighThresholdPercent %d must be between 1 and 100 (0 means %d)", high, DefaultHighThresholdPercent)
	}
	if low < 0 || low > 100 {
		bad("LowThresholdPercent %d must be between 1 and 100 (0 means %d)", low, DefaultLowThresholdPercent)
	}
	if high == 0 {
		high = DefaultHighThresholdPercent
	}
	if high >= 0 && high <= 100 && low > high {
		bad("LowThresholdPercent %d is above HighThresholdPercent %d; it must be at most that", low, high)
	}
	if c.MaxPerPodContainer < 0 {
		bad("MaxPerPodContainer %d must not be negative (0 means %d)", c.MaxPerPodContainer, DefaultMaxPerPodContainer)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ImageMinAge", c.ImageMinAge}, {"MinAge", c.MinAge}, {"Interval", c.Interval}} {
		if d.v < 0 {
			bad("%s %s must not be negative (0 means the default)", d.name, d.v)
		}
	}
	return errors.Join(errs...)
}
