package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
)

// runTestApp stores app "shop" in the registry, running release v2 with
// a config snapshot.
func runTestApp(t *testing.T, ctx context.Context, reg *registry.Registry) (*api.App, *api.Release) {
	t.Helper()
	a, err := client.For[*api.App](reg, "default").Create(ctx, &api.App{ObjectMeta: api.ObjectMeta{Name: "shop"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &api.Release{ObjectMeta: api.ObjectMeta{Name: api.ReleaseName("shop", 2), Labels: map[string]string{api.LabelApp: "shop"}}}
	r.Spec = api.ReleaseSpec{App: "shop", Version: 2, Image: "skiff.local/apps/shop@sha256:" + strings.Repeat("ab", 32),
		Config: api.ReleaseConfigSecretName("shop-v2"), Processes: map[string]string{"web": "httpd -f"}, Port: 8080}
	if r, err = client.For[*api.Release](reg, "default").Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	a.Status.Release = r.Name
	if a, err = client.For[*api.App](reg, "default").UpdateStatus(ctx, a); err != nil {
		t.Fatal(err)
	}
	return a, r
}

func TestOneOffPod(t *testing.T) {
	a := &api.App{ObjectMeta: api.ObjectMeta{Name: "shop", Namespace: "default", UID: "u1"}}
	mem, err := api.ParseQuantity("256Mi")
	if err != nil {
		t.Fatal(err)
	}
	a.Spec.Resources.Limits = api.ResourceList{"memory": mem}
	r := &api.Release{ObjectMeta: api.ObjectMeta{Name: "shop-v2", Annotations: map[string]string{api.AnnotationImageArch: "arm64"}}}
	r.Spec = api.ReleaseSpec{App: "shop", Version: 2, Image: "img@sha256:1", Config: "release-shop-v2-config", Port: 8080}
	p := oneOffPod(a, r, "shop-run-abcde", []string{"sh", "-c", "echo $GREETING"})
	c := p.Spec.Containers[0]
	for _, tc := range []struct{ what, got, want string }{
		{"name", p.Name, "shop-run-abcde"},
		{"namespace", p.Namespace, "default"},
		{"app label", p.Labels[api.LabelApp], "shop"},
		{"process label", p.Labels[api.LabelProcess], "run"},
		{"release label", p.Labels[api.LabelRelease], "shop-v2"},
		{"restart policy", string(p.Spec.RestartPolicy), "Never"},
		{"image", c.Image, "img@sha256:1"},
		{"command", strings.Join(c.Command, "|"), "sh|-c|echo $GREETING"},
		{"env", c.Env[0].Name + "=" + c.Env[0].Value, "PORT=8080"},
		{"envFrom", c.EnvFrom[0].SecretRef.Name, "release-shop-v2-config"},
		{"owner", p.OwnerReferences[0].Kind + "/" + p.OwnerReferences[0].Name + "/" + p.OwnerReferences[0].UID, "App/shop/u1"},
		{"memory", c.Resources.Limits["memory"].String(), "256Mi"},
		{"node selector", fmt.Sprint(p.Spec.NodeSelector), "map[kubernetes.io/arch:arm64]"}, // as the release's own pods
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if p.OwnerReferences[0].Controller != nil {
		t.Errorf("the App must own the pod without controlling it (no controller would run it)")
	}
	a.Spec.Port = 3000
	if got := oneOffPod(a, r, "x", []string{"true"}).Spec.Containers[0].Env[0].Value; got != "3000" {
		t.Errorf("app port 3000: PORT=%s", got)
	}
	r.Spec.Port, a.Spec.Port, r.Spec.Config = 0, 0, ""
	p = oneOffPod(a, r, "x", []string{"true"})
	if got := p.Spec.Containers[0].Env[0].Value; got != "5000" || p.Spec.Containers[0].EnvFrom != nil {
		t.Errorf("no port, no config: PORT=%s envFrom %v; want 5000 and none", got, p.Spec.Containers[0].EnvFrom)
	}
	if n := oneOffName("shop"); len(n) != len("shop-run-xxxxx") || !strings.HasPrefix(n, "shop-run-") || n == oneOffName("shop") {
		t.Errorf("oneOffName: %q (and a second one should differ)", n)
	}
}

func TestOneOffStateOf(t *testing.T) {
	status := func(s api.ContainerState) *api.Pod {
		return &api.Pod{Status: api.PodStatus{ContainerStatuses: []api.ContainerStatus{{Name: "run", State: s}}}}
	}
	for _, tc := range []struct {
		name    string
		pod     *api.Pod
		want    oneOffState
		wantErr string
	}{
		{"no status yet", &api.Pod{}, oneOffWaiting, ""},
		{"creating", status(api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ContainerCreating"}}), oneOffWaiting, ""},
		{"running", status(api.ContainerState{Running: &api.ContainerStateRunning{}}), oneOffRunning, ""},
		{"exited", status(api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 3}}), oneOffExited, ""},
		{"pod failed", &api.Pod{Status: api.PodStatus{Phase: api.PodFailed}}, oneOffExited, ""},
		{"no image", status(api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}),
			oneOffWaiting, "cannot start: ErrImagePull: not found"},
	} {
		got, err := oneOffStateOf(tc.pod)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: got %v, %v; want %v, %q", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// fakeRunAgent plays the node for one-off pods of app: it waits for one,
// marks it running, lets script write the log and then ends the
// container with code.
func fakeRunAgent(ctx context.Context, reg *registry.Registry, logs *fakeLogs, script func(pod string), code int32) <-chan *api.Pod {
	seen := make(chan *api.Pod, 1)
	go func() {
		pods := client.For[*api.Pod](reg, "default")
		for ctx.Err() == nil {
			list, _, _, _ := pods.List(ctx, api.ListOptions{LabelSelector: api.LabelProcess + "=run"})
			if len(list) == 0 {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			p := list[0]
			seen <- p
			logs.write(p.Name, "")
			p.Status.Phase = api.PodRunning
			p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "run", State: api.ContainerState{Running: &api.ContainerStateRunning{}}}}
			p, err := pods.UpdateStatus(ctx, p)
			if err != nil {
				return
			}
			script(p.Name)
			if code < 0 {
				return // runs until stopped
			}
			p.Status.Phase = api.PodSucceeded
			if code != 0 {
				p.Status.Phase = api.PodFailed
			}
			p.Status.ContainerStatuses[0].State = api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code}}
			pods.UpdateStatus(ctx, p)
			return
		}
	}()
	return seen
}

func TestOneOffRun(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	runTestApp(t, ctx, reg)
	for _, tc := range []struct {
		name     string
		script   func(logs *fakeLogs) func(string)
		code     int32
		wantOut  string
		wantCode int
	}{
		{"exit 3", func(logs *fakeLogs) func(string) {
			return func(pod string) {
				logs.write(pod, "hello\n")
				time.Sleep(100 * time.Millisecond)
				logs.write(pod, "bye\n")
			}
		}, 3, "hello\nbye\n", 3},
		{"exit 0, output before the log is read", func(logs *fakeLogs) func(string) {
			return func(pod string) { logs.write(pod, "all at once\n") }
		}, 0, "all at once\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := newFakeLogs()
			seen := fakeRunAgent(ctx, reg, logs, tc.script(logs), tc.code)
			var out, errOut lockedBuffer
			o := &oneOff{backend: reg, logs: logs, namespace: "default", app: "shop", command: []string{"sh", "-c", "echo hi"},
				out: &out, errOut: &errOut, startTimeout: 10 * time.Second, poll: 20 * time.Millisecond}
			code, err := o.run(ctx)
			if err != nil {
				t.Fatalf("run: %v (stderr %q)", err, errOut.String())
			}
			if code != tc.wantCode || out.String() != tc.wantOut {
				t.Errorf("got code %d, output %q; want %d, %q", code, out.String(), tc.wantCode, tc.wantOut)
			}
			p := <-seen
			if !strings.Contains(errOut.String(), "Running sh -c echo hi on shop (v2) as "+p.Name) {
				t.Errorf("stderr %q: want it to say what runs where", errOut.String())
			}
			if _, err := client.For[*api.Pod](reg, "default").Get(ctx, p.Name); !errdefs.IsNotFound(err) {
				t.Errorf("pod %s after run: %v; want it deleted", p.Name, err)
			}
		})
	}

	t.Run("follow lags behind the exit", func(t *testing.T) {
		logs := newFakeLogs()
		logs.lag = true
		fakeRunAgent(ctx, reg, logs, func(pod string) {
			time.Sleep(100 * time.Millisecond) // the log is asked for first
			logs.write(pod, "late line\n")
		}, 0)
		var out, errOut lockedBuffer
		o := &oneOff{backend: reg, logs: logs, namespace: "default", app: "shop", command: []string{"true"},
			out: &out, errOut: &errOut, startTimeout: 10 * time.Second, poll: 20 * time.Millisecond}
		if code, err := o.run(ctx); err != nil || code != 0 || out.String() != "late line\n" {
			t.Errorf("got code %d, %v, output %q; want 0, the late line once", code, err, out.String())
		}
		if reqs := logs.requests(); len(reqs) != 2 || reqs[1] != reqs[0][:strings.Index(reqs[0], " ")]+" follow=false tail=-1" {
			t.Errorf("log requests %q: want a follow, then one read of the whole log", reqs)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		logs := newFakeLogs()
		seen := fakeRunAgent(ctx, reg, logs, func(pod string) { logs.write(pod, "working\n") }, -1)
		rctx, cancel := context.WithCancel(ctx)
		var out, errOut lockedBuffer
		o := &oneOff{backend: reg, logs: logs, namespace: "default", app: "shop", command: []string{"sleep", "1d"},
			out: &out, errOut: &errOut, startTimeout: 10 * time.Second, poll: 20 * time.Millisecond}
		go func() {
			for !strings.Contains(out.String(), "working") {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		}()
		_, err := o.run(rctx)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 130 {
			t.Errorf("run interrupted: %v; want exit code 130", err)
		}
		p := <-seen
		if _, err := client.For[*api.Pod](reg, "default").Get(ctx, p.Name); !errdefs.IsNotFound(err) {
			t.Errorf("pod %s after Ctrl-C: %v; want it deleted", p.Name, err)
		}
	})

	t.Run("never starts", func(t *testing.T) {
		var out, errOut bytes.Buffer
		o := &oneOff{backend: reg, logs: newFakeLogs(), namespace: "default", app: "shop", command: []string{"true"},
			out: &out, errOut: &errOut, startTimeout: 200 * time.Millisecond, poll: 20 * time.Millisecond}
		_, err := o.run(ctx)
		if err == nil || !strings.Contains(err.Error(), "has not started after 200ms (not scheduled yet)") {
			t.Errorf("run on no node: %v; want it to say the pod did not start", err)
		}
		if pods, _, _, _ := client.For[*api.Pod](reg, "default").List(ctx, api.ListOptions{}); len(pods) != 0 {
			t.Errorf("pods left: %d", len(pods))
		}
	})

	t.Run("not deployed", func(t *testing.T) {
		if _, err := client.For[*api.App](reg, "default").Create(ctx, &api.App{ObjectMeta: api.ObjectMeta{Name: "fresh"}}); err != nil {
			t.Fatal(err)
		}
		o := &oneOff{backend: reg, logs: newFakeLogs(), namespace: "default", app: "fresh", command: []string{"true"},
			out: io.Discard, errOut: io.Discard, startTimeout: time.Second, poll: 20 * time.Millisecond}
		if _, err := o.run(ctx); err == nil || !strings.Contains(err.Error(), "no release to run yet: git push") {
			t.Errorf("run of an app never pushed: %v", err)
		}
	})
}
