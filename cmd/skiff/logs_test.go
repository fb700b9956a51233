package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
)

// logsTestPod stores a pod of app shop with process proc; state is its
// container's ("running", "exited", "waiting" or "" for no status).
func logsTestPod(t *testing.T, ctx context.Context, reg *registry.Registry, name, proc, state string, restarts int32) *api.Pod {
	t.Helper()
	pods := client.For[*api.Pod](reg, "default")
	p, err := pods.Get(ctx, name)
	if err != nil {
		p = &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelApp: "shop", api.LabelProcess: proc}}}
		p.Spec.Containers = []api.Container{{Name: proc, Image: "img"}}
		if p, err = pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	cs := api.ContainerStatus{Name: proc, RestartCount: restarts}
	switch state {
	case "running":
		cs.State.Running = &api.ContainerStateRunning{}
	case "exited":
		cs.State.Terminated = &api.ContainerStateTerminated{ExitCode: 0}
	case "waiting":
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	p.Status.ContainerStatuses = nil
	if state != "" {
		p.Status.ContainerStatuses = []api.ContainerStatus{cs}
	}
	if p, err = pods.UpdateStatus(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(lines)
	return lines
}

func TestAppLogs(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	if _, err := client.For[*api.App](reg, "default").Create(ctx, &api.App{ObjectMeta: api.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	logs := newFakeLogs()
	logsTestPod(t, ctx, reg, "shop-web-1", "web", "running", 0)
	logsTestPod(t, ctx, reg, "shop-web-2", "web", "exited", 0)
	logsTestPod(t, ctx, reg, "shop-worker-1", "worker", "running", 0)
	logsTestPod(t, ctx, reg, "shop-web-3", "web", "waiting", 0) // no log yet
	logsTestPod(t, ctx, reg, "shop-web-4", "web", "", 0)        // not on a node yet
	logs.write("shop-web-1", "GET / 200\nGET /a 404\n")
	logs.write("shop-web-2", "started\nno newline at the end")
	logs.write("shop-worker-1", "job 1 done\n")
	tail := 1

	for _, tc := range []struct {
		name, process string
		tail          *int
		want          []string
	}{
		{"every process", "", nil, []string{
			"shop-web-1[web]: GET / 200", "shop-web-1[web]: GET /a 404",
			"shop-web-2[web]: no newline at the end", "shop-web-2[web]: started",
			"shop-worker-1[worker]: job 1 done"}},
		{"-p worker", "worker", nil, []string{"shop-worker-1[worker]: job 1 done"}},
		{"-p web --tail 1", "web", &tail, []string{"shop-web-1[web]: GET /a 404", "shop-web-2[web]: no newline at the end"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			l := &appLogs{backend: reg, logs: logs, namespace: "default", app: "shop", process: tc.process,
				opts: client.LogOptions{TailLines: tc.tail}, out: &out, errOut: &errOut, poll: 20 * time.Millisecond, drain: 20 * time.Millisecond}
			if err := l.run(ctx); err != nil {
				t.Fatal(err)
			}
			if got := sortedLines(out.String()); !slices.Equal(got, tc.want) {
				t.Errorf("output:\n got %q\nwant %q", got, tc.want)
			}
			if errOut.Len() > 0 {
				t.Errorf("stderr %q", errOut.String())
			}
		})
	}
	for _, r := range logs.requests() {
		if strings.HasPrefix(r, "shop-web-3 ") || strings.HasPrefix(r, "shop-web-4 ") {
			t.Errorf("asked for the log of a pod whose container has not run: %s", r)
		}
	}

	t.Run("no pods", func(t *testing.T) {
		l := &appLogs{backend: reg, logs: logs, namespace: "default", app: "shop", process: "clock",
			out: &bytes.Buffer{}, errOut: &bytes.Buffer{}, poll: 20 * time.Millisecond}
		if err := l.run(ctx); err == nil || !strings.Contains(err.Error(), "app shop has no clock pods with a log yet") {
			t.Errorf("logs -p clock: %v", err)
		}
	})
	t.Run("no app", func(t *testing.T) {
		l := &appLogs{backend: reg, logs: logs, namespace: "default", app: "nope", out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
		if err := l.run(ctx); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("logs -a nope: %v", err)
		}
	})
}

func TestAppLogsFollow(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	if _, err := client.For[*api.App](reg, "default").Create(ctx, &api.App{ObjectMeta: api.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	logs := newFakeLogs()
	logsTestPod(t, ctx, reg, "shop-web-old", "web", "running", 0)
	logs.write("shop-web-old", "old 1\nold 2\n")
	var out, errOut lockedBuffer
	tail := 1
	l := &appLogs{backend: reg, logs: logs, namespace: "default", app: "shop", process: "web",
		opts: client.LogOptions{Follow: true, TailLines: &tail}, out: &out, errOut: &errOut,
		poll: 20 * time.Millisecond, drain: 20 * time.Millisecond}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.run(fctx) }()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the output after 5s:\n%s\nstderr: %s", what, out.String(), errOut.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("shop-web-old[web]: old 2\n")
	logs.write("shop-web-old", "old 3\n")
	waitFor("shop-web-old[web]: old 3\n")

	// A new release's pod starts: all of its log comes, not only the tail.
	logsTestPod(t, ctx, reg, "shop-web-new", "web", "running", 0)
	logs.write("shop-web-new", "new 1\nnew 2\n")
	waitFor("shop-web-new[web]: new 2\n")
	if !strings.Contains(out.String(), "shop-web-new[web]: new 1\n") {
		t.Errorf("the new pod's first line is missing:\n%s", out.String())
	}

	// The old pod ends: its stream stops (the fake's follow, like the
	// agent's, would go on past the exit).
	logsTestPod(t, ctx, reg, "shop-web-old", "web", "exited", 0)
	time.Sleep(200 * time.Millisecond)
	logs.write("shop-web-old", "after the end\n")

	// The new pod's container restarts: the new run's log is streamed.
	logsTestPod(t, ctx, reg, "shop-web-new", "web", "running", 1)
	logs.write("shop-web-new", "new 3\n")
	waitFor("shop-web-new[web]: new 3\n")
	// A worker pod is not of process web.
	logsTestPod(t, ctx, reg, "shop-worker-1", "worker", "running", 0)
	logs.write("shop-worker-1", "work\n")
	time.Sleep(100 * time.Millisecond)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs -f ended with %v; want nil on Ctrl-C", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("logs -f did not stop when its context ended")
	}
	got := out.String()
	for _, unwanted := range []string{"old 1", "after the end", "work"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output has %q:\n%s", unwanted, got)
		}
	}
	reqs := logs.requests()
	slices.Sort(reqs)
	want := []string{"shop-web-new follow=true tail=-1", "shop-web-new follow=true tail=-1", "shop-web-old follow=true tail=1"}
	if !slices.Equal(reqs, want) {
		t.Errorf("log requests %q, want %q", reqs, want)
	}
}

func TestLogsAndRunArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "-p", "web"}, "-p PROCESS needs -a APP (for a pod's run before the current one, say --previous)"},
		{[]string{"logs", "-a", "shop", "shop-web-1"}, "logs -a shop takes no pod name"},
		{[]string{"logs"}, "name one pod, or an app with -a APP"},
		{[]string{"run", "shop", "echo", "hi"}, "run needs APP -- COMMAND"},
		{[]string{"run", "--", "echo"}, "name the app: -a APP"},
		{[]string{"run", "shop", "extra", "--", "echo"}, `run takes one app before --, got also ["extra"]`},
		{[]string{"run", "-a", "shop", "--"}, "give the command after --"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, strings.NewReader(""), &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("skiff %s: exit %d, stderr %q; want 1 and %q", strings.Join(tc.args, " "), code, errOut.String(), tc.want)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"run", "--help"}, strings.NewReader(""), &out, &out); code != 0 ||
		!strings.Contains(out.String(), "no standard input and no terminal") {
		t.Errorf("skiff run --help: exit %d, %q; want it to say the command is not interactive", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"logs", "--help"}, strings.NewReader(""), &out, &out); code != 0 ||
		!strings.Contains(out.String(), "-p, --process") || !strings.Contains(out.String(), "    --previous") {
		t.Errorf("skiff logs --help: exit %d, %q; want -p for --process and --previous without a short flag", code, out.String())
	}
}
