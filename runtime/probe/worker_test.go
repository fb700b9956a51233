package probe

import (
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

func TestFirstDelay(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	half := func(d time.Duration) time.Duration { return d / 2 }
	none := func(time.Duration) time.Duration { return 0 }
	tests := []struct {
		name         string
		started      time.Time
		initialDelay time.Duration
		jitter       func(time.Duration) time.Duration
		want         time.Duration
	}{
		{"just started, no delay", now, 0, none, 0},
		{"just started, jitter is within a tenth of the period", now, 0, half, 500 * time.Millisecond},
		{"initial delay from start", now.Add(-2 * time.Second), 5 * time.Second, none, 3 * time.Second},
		{"initial delay passed long ago", now.Add(-time.Hour), 5 * time.Second, half, 500 * time.Millisecond},
		{"zero start counts as now", time.Time{}, 5 * time.Second, none, 5 * time.Second},
	}
	for _, tt := range tests {
		if got := firstDelay(now, tt.started, tt.initialDelay, 10*time.Second, tt.jitter); got != tt.want {
			t.Errorf("%s: firstDelay = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestJitterInRange(t *testing.T) {
	for range 1000 {
		if got := jitter(time.Second); got < 0 || got >= time.Second {
			t.Fatalf("jitter(1s) = %s, want in [0, 1s)", got)
		}
	}
}

func TestNextRun(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := 10 * time.Second
	tests := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"probe was quick", t0.Add(time.Second), t0.Add(10 * time.Second)},
		{"probe ended on the next tick", t0.Add(10 * time.Second), t0.Add(20 * time.Second)},
		{"probe overran two periods", t0.Add(25 * time.Second), t0.Add(30 * time.Second)},
	}
	for _, tt := range tests {
		if got := nextRun(t0, tt.now, p); !got.Equal(tt.want) {
			t.Errorf("%s: nextRun = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestThreshold(t *testing.T) {
	p := &api.Probe{SuccessThreshold: 2, FailureThreshold: 5}
	tests := []struct {
		probe *api.Probe
		kind  Kind
		r     Result
		want  int
	}{
		{p, Readiness, Success, 2},
		{p, Liveness, Success, 1}, // must be 1 for liveness and startup
		{p, Startup, Success, 1},
		{p, Liveness, Failure, 5},
		{&api.Probe{}, Readiness, Success, 1},
		{&api.Probe{}, Readiness, Failure, 3},
	}
	for _, tt := range tests {
		if got := threshold(tt.probe, tt.kind, tt.r); got != tt.want {
			t.Errorf("threshold(%+v, %s, %s) = %d, want %d", *tt.probe, tt.kind, tt.r, got, tt.want)
		}
	}
}
