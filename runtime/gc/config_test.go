package gc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/gc"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func validConfig() gc.Config {
	return gc.Config{
		Runtime:  newFakeRuntime(),
		ImageFS:  "/var/lib/skiff/containerd",
		LogDir:   "/var/lib/skiff/pods",
		KnownPod: func(string) bool { return true },
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*gc.Config)
		want   string // "" for valid
	}{
		{"minimal", func(*gc.Config) {}, ""},
		{"all set", func(c *gc.Config) {
			c.HighThresholdPercent, c.LowThresholdPercent = 90, 70
			c.MaxPerPodContainer, c.MinAge, c.ImageMinAge, c.Interval = 5, time.Second, time.Hour, time.Minute
		}, ""},
		{"low equal to high", func(c *gc.Config) { c.HighThresholdPercent, c.LowThresholdPercent = 90, 90 }, ""},
		{"high 100 disables", func(c *gc.Config) { c.HighThresholdPercent = 100 }, ""},
		{"high below default low", func(c *gc.Config) { c.HighThresholdPercent = 50 }, ""},
		{"no runtime", func(c *gc.Config) { c.Runtime = nil }, "Runtime is required"},
		{"no known pod", func(c *gc.Config) { c.KnownPod = nil }, "KnownPod is required"},
		{"no image fs", func(c *gc.Config) { c.ImageFS = "" }, "ImageFS is required"},
		{"relative image fs", func(c *gc.Config) { c.ImageFS = "containerd" }, `ImageFS "containerd" must be an absolute path`},
		{"no log dir", func(c *gc.Config) { c.LogDir = "" }, "LogDir is required"},
		{"relative log dir", func(c *gc.Config) { c.LogDir = "pods" }, `LogDir "pods" must be an absolute path`},
		{"high over 100", func(c *gc.Config) { c.HighThresholdPercent = 101 }, "HighThresholdPercent 101 must be between 1 and 100"},
		{"negative low", func(c *gc.Config) { c.LowThresholdPercent = -1 }, "LowThresholdPercent -1 must be between 1 and 100"},
		{"low above high", func(c *gc.Config) { c.HighThresholdPercent, c.LowThresholdPercent = 70, 75 }, "LowThresholdPercent 75 is above HighThresholdPercent 70"},
		{"low above default high", func(c *gc.Config) { c.LowThresholdPercent = 90 }, "LowThresholdPercent 90 is above HighThresholdPercent 85"},
		{"negative per pod", func(c *gc.Config) { c.MaxPerPodContainer = -1 }, "MaxPerPodContainer -1 must not be negative"},
		{"negative min age", func(c *gc.Config) { c.MinAge = -time.Second }, "MinAge -1s must not be negative"},
		{"negative image min age", func(c *gc.Config) { c.ImageMinAge = -time.Second }, "ImageMinAge -1s must not be negative"},
		{"negative interval", func(c *gc.Config) { c.Interval = -time.Second }, "Interval -1s must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: got %v, want nil", err)
				}
				if _, err := gc.New(cfg); err != nil {
					t.Fatalf("New: got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: got %v, want an error containing %q", err, tt.want)
			}
			if !errdefs.IsInvalid(err) {
				t.Errorf("Validate: got %v, want errdefs.ErrInvalid", err)
			}
			if _, err := gc.New(cfg); err == nil {
				t.Errorf("New: got nil error, want %q", tt.want)
			}
		})
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	err := gc.Config{}.Validate()
	if err == nil {
		t.Fatal("Validate of an empty config: got nil")
	}
	for _, want := range []string{"Runtime", "KnownPod", "ImageFS", "LogDir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: got %q, want it to name %s", err, want)
		}
	}
}
