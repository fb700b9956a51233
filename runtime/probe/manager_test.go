package probe_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/probe"
	"github.com/skiffhq/skiff/runtime/probe/probetest"
	"github.com/skiffhq/skiff/server/api"
)

// period is every test probe's period, in fake time.
const period = 10 * time.Second

// harness is a running Manager on a fake clock with a fake Execer.
type harness struct {
	t     *testing.T
	ctx   context.Context // bounds every wait: a stuck test fails, it does not hang
	clock *probetest.Clock
	exec  *probetest.Execer
	m     *probe.Manager
}

// start runs a Manager until the test ends.
func start(t *testing.T) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	h := &harness{
		t:     t,
		ctx:   ctx,
		clock: probetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		exec:  probetest.NewExecer(),
	}
	h.m = probe.NewManager(probe.Config{Exec: h.exec, Clock: h.clock})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.m.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("run did not return after its context ended")
		}
		cancel()
	})
	return h
}

// execProbe is an exec probe running command every period.
func execProbe(command string, successThreshold, failureThreshold int32) *api.Probe {
	return &api.Probe{
		ProbeHandler:     api.ProbeHandler{Exec: &api.ExecAction{Command: strings.Fields(command)}},
		PeriodSeconds:    int32(period / time.Second),
		SuccessThreshold: successThreshold,
		FailureThreshold: failureThreshold,
	}
}

// target is container "app" of pod uid, run id, started now.
func (h *harness) target(uid, id string, c api.Container) probe.Target {
	c.Name = "app"
	return probe.Target{PodUID: uid, PodIP: "127.0.0.1", Container: c, ContainerID: id, StartedAt: h.clock.Now()}
}

// armed waits until n worker timers are armed: every worker has finished
// its tick and waits for the next.
func (h *harness) armed(n int) {
	h.t.Helper()
	if err := h.clock.BlockUntil(h.ctx, n); err != nil {
		h.t.Fatal(err)
	}
}

// resynced waits until the workers of a Sync that made created new
// timers since before (a Created count) have armed them, and the workers
// it stopped have gone, leaving n armed.
func (h *harness) resynced(before, created, n int) {
	h.t.Helper()
	err := h.clock.WaitUntil(h.ctx, fmt.Sprintf("%d new timers, %d armed", created, n), func(t probetest.TimerCounts) bool {
		return t.Created == before+created && t.Armed == n && t.Fired == 0
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// created is how many timers the clock has made.
func (h *harness) created() int { return h.clock.Counts().Created }

// tick moves time one period on and waits until the n workers that stay
// armed have probed and re-armed.
func (h *harness) tick(n int) {
	h.t.Helper()
	h.clock.Advance(period)
	h.armed(n)
}

// answer sets the exit code of command in container id.
func (h *harness) answer(id, command string, code int) {
	h.exec.Set(id, command, probetest.Answer{Code: code, Output: fmt.Sprintf("exit %d", code)})
}

// updates returns the updates sent so far.
func (h *harness) updates() []probe.Update {
	var us []probe.Update
	for {
		select {
		case u := <-h.m.Updates():
			us = append(us, u)
		default:
			return us
		}
	}
}

// wantResult checks a result.
func (h *harness) wantResult(uid string, k probe.Kind, want probe.Result) {
	h.t.Helper()
	if got := h.m.Result(uid, "app", k); got != want {
		h.t.Errorf("%s result = %v, want %v", k, got, want)
	}
}

func TestReadinessThresholds(t *testing.T) {
	h := start(t)
	h.m.Sync([]probe.Target{h.target("p1", "c1", api.Container{ReadinessProbe: execProbe("ready", 2, 3)})}, "p1")
	h.wantResult("p1", probe.Readiness, probe.Failure) // not ready before a probe passes
	h.armed(1)
	steps := []struct {
		code       int
		want       probe.Result
		wantUpdate bool
	}{
		{0, probe.Failure, false}, // one success of two
		{0, probe.Success, true},
		{1, probe.Success, false},
		{1, probe.Success, false},
		{0, probe.Success, false}, // the failures in a row start again
		{1, probe.Success, false},
		{1, probe.Success, false},
		{1, probe.Failure, true},
		{1, probe.Failure, false}, // still failing: no update
		{0, probe.Failure, false},
		{0, probe.Success, true},
	}
	for i, s := range steps {
		h.answer("c1", "ready", s.code)
		h.tick(1)
		if got := h.exec.Calls("c1", "ready"); got != i+1 {
			t.Fatalf("step %d: probes run = %d, want %d", i, got, i+1)
		}
		h.wantResult("p1", probe.Readiness, s.want)
		us := h.updates()
		switch {
		case !s.wantUpdate && len(us) != 0:
			t.Errorf("step %d: updates = %+v, want none", i, us)
		case s.wantUpdate:
			want := probe.Update{PodUID: "p1", Container: "app", ContainerID: "c1", Kind: probe.Readiness, Result: s.want}
			wantMsg := fmt.Sprintf("exit %d", s.code) // the fake command's output
			if len(us) != 1 {
				t.Fatalf("step %d: updates = %+v, want one", i, us)
			}
			got := us[0]
			got.Message = ""
			if got != want || !strings.Contains(us[0].Message, wantMsg) {
				t.Errorf("step %d: update = %+v, want %+v with a message containing %q", i, us[0], want, wantMsg)
			}
		}
	}
}

func TestLivenessStopsAfterFailure(t *testing.T) {
	h := start(t)
	h.answer("c1", "live", 1)
	h.m.Sync([]probe.Target{h.target("p1", "c1", api.Container{LivenessProbe: execProbe("live", 1, 2)})}, "p1")
	h.wantResult("p1", probe.Liveness, probe.Success) // alive until shown otherwise
	h.armed(1)
	h.tick(1)
	h.wantResult("p1", probe.Liveness, probe.Success) // one failure of two
	h.tick(0)                                         // the second failure: the worker stops
	h.wantResult("p1", probe.Liveness, probe.Failure)
	us := h.updates()
	if len(us) != 1 || us[0].Result != probe.Failure || us[0].Kind != probe.Liveness {
		t.Errorf("updates = %+v, want one liveness Failure", us)
	}
	h.answer("c1", "live", 0)
	for range 3 {
		h.tick(0)
	}
	if got := h.exec.Calls("c1", "live"); got != 2 {
		t.Errorf("probes run = %d, want 2: no probing after a liveness failure", got)
	}
	h.wantResult("p1", probe.Liveness, probe.Failure)

	// The agent restarts the container: a new run is probed afresh.
	before := h.created()
	h.m.Sync([]probe.Target{h.target("p1", "c2", api.Container{LivenessProbe: execProbe("live", 1, 2)})}, "p1")
	h.wantResult("p1", probe.Liveness, probe.Success)
	h.resynced(before, 1, 1)
	h.tick(1)
	if got := h.exec.Calls("c2", "live"); got != 1 {
		t.Errorf("probes of the new run = %d, want 1", got)
	}
	if us := h.updates(); len(us) != 0 {
		t.Errorf("updates after restart = %+v, want none (a fresh result is no transition)", us)
	}
}

func TestInitialDelay(t *testing.T) {
	h := start(t)
	p := execProbe("live", 1, 1)
	p.InitialDelaySeconds = 30
	tg := h.target("p1", "c1", api.Container{LivenessProbe: p})
	tg.StartedAt = h.clock.Now().Add(-10 * time.Second) // the delay counts from the container's start
	h.m.Sync([]probe.Target{tg}, "p1")
	h.armed(1)
	h.clock.Advance(15 * time.Second) // 25s after start
	h.armed(1)
	if got := h.exec.Calls("c1", "live"); got != 0 {
		t.Fatalf("probes 25s after start = %d, want 0 before the 30s initial delay", got)
	}
	h.clock.Advance(6 * time.Second) // 31s: past the delay and its jitter (under a tenth of the period)
	h.armed(1)
	if got := h.exec.Calls("c1", "live"); got != 1 {
		t.Fatalf("probes 31s after start = %d, want 1", got)
	}
}

func TestStartupGatesLivenessAndReadiness(t *testing.T) {
	h := start(t)
	h.answer("c1", "started", 1)
	c := api.Container{
		StartupProbe:   execProbe("started", 1, 10),
		LivenessProbe:  execProbe("live", 1, 3),
		ReadinessProbe: execProbe("ready", 1, 3),
	}
	h.m.Sync([]probe.Target{h.target("p1", "c1", c)}, "p1")
	h.armed(3)
	for i := range 3 {
		h.tick(3)
		if got := h.exec.Calls("c1", "started"); got != i+1 {
			t.Fatalf("startup probes = %d, want %d", got, i+1)
		}
	}
	if l, r := h.exec.Calls("c1", "live"), h.exec.Calls("c1", "ready"); l != 0 || r != 0 {
		t.Fatalf("before startup passed: liveness probes %d, readiness probes %d, want 0 and 0", l, r)
	}
	h.wantResult("p1", probe.Startup, probe.Unknown)
	h.wantResult("p1", probe.Liveness, probe.Success)
	h.wantResult("p1", probe.Readiness, probe.Failure)

	h.answer("c1", "started", 0)
	h.tick(2) // startup passes and its worker stops
	h.wantResult("p1", probe.Startup, probe.Success)
	h.tick(2)
	if l, r := h.exec.Calls("c1", "live"), h.exec.Calls("c1", "ready"); l < 1 || r < 1 {
		t.Errorf("after startup passed: liveness probes %d, readiness probes %d, want at least 1 each", l, r)
	}
	h.wantResult("p1", probe.Readiness, probe.Success)
	if got := h.exec.Calls("c1", "started"); got != 4 {
		t.Errorf("startup probes = %d, want 4: none after it passed", got)
	}
	var kinds []string
	for _, u := range h.updates() {
		kinds = append(kinds, string(u.Kind)+"="+u.Result.String())
	}
	if got, want := strings.Join(kinds, ","), "startup=Success,readiness=Success"; got != want {
		t.Errorf("updates = %s, want %s", got, want)
	}
}

func TestRestartResetsResults(t *testing.T) {
	h := start(t)
	c := api.Container{ReadinessProbe: execProbe("ready", 1, 3)}
	h.m.Sync([]probe.Target{h.target("p1", "c1", c)}, "p1")
	h.armed(1)
	h.tick(1)
	h.wantResult("p1", probe.Readiness, probe.Success)
	h.updates()

	// Syncing the same run again keeps its worker and result.
	h.m.Sync([]probe.Target{h.target("p1", "c1", c)}, "p1")
	h.wantResult("p1", probe.Readiness, probe.Success)

	h.answer("c2", "ready", 1)
	before := h.created()
	h.m.Sync([]probe.Target{h.target("p1", "c2", c)}, "p1")
	h.wantResult("p1", probe.Readiness, probe.Failure)
	h.resynced(before, 1, 1)
	for range 2 {
		h.tick(1)
	}
	if got := h.exec.Calls("c1", "ready"); got != 1 {
		t.Errorf("probes of the old run = %d, want 1: its worker stopped", got)
	}
	if got := h.exec.Calls("c2", "ready"); got != 2 {
		t.Errorf("probes of the new run = %d, want 2", got)
	}
	if us := h.updates(); len(us) != 0 {
		t.Errorf("updates = %+v, want none", us)
	}
}

func TestUnknownPortNameFails(t *testing.T) {
	h := start(t)
	p := &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/", Port: api.FromString("admin")}}, FailureThreshold: 1}
	c := api.Container{LivenessProbe: p, Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	h.m.Sync([]probe.Target{h.target("p1", "c1", c)}, "p1")
	h.armed(1)
	h.tick(0)
	h.wantResult("p1", probe.Liveness, probe.Failure)
	us := h.updates()
	if len(us) != 1 || !strings.Contains(us[0].Message, `port "admin": container "app" has no port of that name`) {
		t.Errorf("updates = %+v, want one naming the unknown port", us)
	}
}

func TestSyncSkipsBadTargets(t *testing.T) {
	h := start(t)
	c := api.Container{ReadinessProbe: execProbe("ready", 1, 3)}
	other := h.target("p2", "c1", c)
	noID := h.target("p1", "", c)
	noID.Container.Name = "sidecar"
	h.m.Sync([]probe.Target{other, noID, h.target("p1", "c3", api.Container{})}, "p1")
	h.armed(0)
	for _, name := range []string{"app", "sidecar"} {
		if got := h.m.Result("p1", name, probe.Readiness); got != probe.Unknown {
			t.Errorf("%s readiness = %v, want Unknown (not probed)", name, got)
		}
	}
	if got := h.m.Result("p2", "app", probe.Readiness); got != probe.Unknown {
		t.Errorf("p2 readiness = %v, want Unknown: synced under another pod", got)
	}
}

func TestRemoveStopsWorkers(t *testing.T) {
	h := start(t)
	before := runtime.NumGoroutine()
	c := api.Container{LivenessProbe: execProbe("live", 1, 3), ReadinessProbe: execProbe("ready", 1, 3)}
	const pods = 50
	for i := range pods {
		uid := "p" + strconv.Itoa(i)
		h.m.Sync([]probe.Target{h.target(uid, "c"+strconv.Itoa(i), c)}, uid)
	}
	h.armed(2 * pods)
	h.tick(2 * pods)
	if got := runtime.NumGoroutine(); got < before+2*pods-10 { // -10: other tests' goroutines may end meanwhile
		t.Fatalf("goroutines = %d, want about %d + %d workers", got, before, 2*pods)
	}
	for i := range pods {
		uid := "p" + strconv.Itoa(i)
		if i%2 == 0 {
			h.m.RemovePod(uid)
		} else {
			h.m.Sync(nil, uid) // no running containers left
		}
	}
	h.armed(0)
	waitGoroutines(t, h.ctx, "after removing every pod", before)
	if got := h.m.Result("p1", "app", probe.Readiness); got != probe.Unknown {
		t.Errorf("readiness of a removed pod = %v, want Unknown", got)
	}
}

func TestRunStopsEveryWorker(t *testing.T) {
	before := runtime.NumGoroutine()
	clock := probetest.NewClock(time.Now())
	m := probe.NewManager(probe.Config{Exec: probetest.NewExecer(), Clock: clock})
	c := api.Container{Name: "app", LivenessProbe: execProbe("live", 1, 3), StartupProbe: execProbe("started", 1, 3)}
	m.Sync([]probe.Target{{PodUID: "p1", Container: c, ContainerID: "c1"}}, "p1") // before Run: starts with it
	if got := clock.Counts().Armed; got != 0 {
		t.Fatalf("armed timers before run = %d, want 0", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	wait, cancelWait := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelWait()
	if err := clock.BlockUntil(wait, 2); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err == nil {
		t.Errorf("second run = nil, want an error")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil", err)
		}
	case <-wait.Done():
		t.Fatal("run did not return")
	}
	// A worker has called wg.Done but may not have exited yet.
	waitGoroutines(t, wait, "after run returned", before)
}

// waitGoroutines waits until at most n goroutines run, failing the test
// when ctx ends first: stopped workers take a moment to exit.
func waitGoroutines(t *testing.T, ctx context.Context, when string, n int) {
	t.Helper()
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("goroutines %s = %d, want at most %d", when, got, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestRealClock runs a readiness probe on the real clock against a
// loopback server: the first probe comes within a tenth of the period.
func TestRealClock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	m := probe.NewManager(probe.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	p := &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Path: "/", Port: api.FromInt(int32(port))}}, PeriodSeconds: 1}
	m.Sync([]probe.Target{{PodUID: "p1", PodIP: "127.0.0.1", Container: api.Container{Name: "app", ReadinessProbe: p}, ContainerID: "c1", StartedAt: time.Now()}}, "p1")
	select {
	case u := <-m.Updates():
		if u.Kind != probe.Readiness || u.Result != probe.Success {
			t.Errorf("update = %+v, want readiness Success", u)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no readiness update")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     probe.Config
		wantErr string // "" for none
	}{
		{"complete", probe.Config{Exec: probetest.NewExecer(), Log: slog.New(slog.DiscardHandler)}, ""},
		{"no log", probe.Config{Exec: probetest.NewExecer()}, "log is nil"},
		{"no exec", probe.Config{Log: slog.New(slog.DiscardHandler)}, "exec is nil"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: validate = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestWasReadyKeepsReadiness: a run that was Ready before the agent
// restarted starts Ready, and a new run of the container does not
// inherit it.
func TestWasReadyKeepsReadiness(t *testing.T) {
	h := start(t)
	tg := h.target("p1", "c1", api.Container{ReadinessProbe: execProbe("ready", 1, 1)})
	tg.WasReady = true
	h.m.Sync([]probe.Target{tg}, "p1")
	h.wantResult("p1", probe.Readiness, probe.Success)
	h.armed(1)
	h.answer("c1", "ready", 1)
	h.tick(1)
	h.wantResult("p1", probe.Readiness, probe.Failure) // a probe still decides
	if us := h.updates(); len(us) != 1 || us[0].Result != probe.Failure {
		t.Errorf("updates = %+v, want one readiness Failure", us)
	}
	fresh := h.target("p1", "c2", api.Container{ReadinessProbe: execProbe("ready", 1, 1)})
	h.m.Sync([]probe.Target{fresh}, "p1")
	h.wantResult("p1", probe.Readiness, probe.Failure)
}
