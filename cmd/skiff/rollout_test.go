package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/deployment"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// The rollout and scale commands are tested in-process on a real
// registry and store (no controller runs: the tests write the replica
// sets and statuses a controller would), and once through the built
// binary against `skiff server` (TestE2ERolloutAndScale).

func newRolloutRegistry(t *testing.T) (context.Context, *registry.Registry) {
	t.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, reg
}

func rolloutTestDeployment(name string, replicas int32, image string) *api.Deployment {
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: name}}
	d.Spec.Replicas = &replicas
	d.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	d.Spec.Template.Labels = map[string]string{"app": name}
	d.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: image}}
	return d
}

// rolloutReplicaSet creates the replica set a deployment controller would
// have made for revision rev with image.
func rolloutReplicaSet(t *testing.T, ctx context.Context, b client.Backend, d *api.Deployment, rev int, image, cause string) *api.ReplicaSet {
	t.Helper()
	tmpl := rolloutTestDeployment(d.Name, 1, image).Spec.Template
	hash := deployment.TemplateHash(&tmpl, nil)
	tmpl.Labels["pod-template-hash"] = hash
	zero, yes := int32(0), true
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{
		Name: d.Name + "-" + hash, Labels: tmpl.Labels,
		Annotations:     map[string]string{deployment.RevisionAnnotation: fmt.Sprint(rev)},
		OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes}},
	}}
	if cause != "" {
		rs.Annotations[deployment.ChangeCauseAnnotation] = cause
	}
	rs.Spec.Replicas = &zero
	rs.Spec.Selector = &api.LabelSelector{MatchLabels: tmpl.Labels}
	rs.Spec.Template = tmpl
	rs, err := client.For[*api.ReplicaSet](b, d.Namespace).Create(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestRolloutMessage(t *testing.T) {
	d := rolloutTestDeployment("web", 3, "x")
	d.Generation = 2
	for _, tc := range []struct {
		status api.DeploymentStatus
		want   string
		done   bool
	}{
		{api.DeploymentStatus{ObservedGeneration: 1}, "Waiting for deployment spec update to be observed...", false},
		{api.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1}, `Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...`, false},
		{api.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 3}, `Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`, false},
		{api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}, `Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...`, false},
		{api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}, `deployment "web" successfully rolled out`, true},
	} {
		d.Status = tc.status
		got, done, err := rolloutMessage(d)
		if err != nil || got != tc.want || done != tc.done {
			t.Errorf("status %+v: %q, %v, %v; want %q, %v", tc.status, got, done, err, tc.want, tc.done)
		}
	}
	d.Status = api.DeploymentStatus{ObservedGeneration: 2, Conditions: []api.DeploymentCondition{
		{Type: api.DeploymentProgressing, Status: api.ConditionFalse, Reason: deployment.ReasonTimedOut}}}
	if _, _, err := rolloutMessage(d); err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
		t.Errorf("timed out: err %v, want exceeded its progress deadline", err)
	}
}

type rolloutBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *rolloutBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *rolloutBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitRolloutOutput(t *testing.T, out *rolloutBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q never showed %q", out.String(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRolloutStatusWaitsAndPrintsProgress(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	deps := client.For[*api.Deployment](reg, "default")
	d, err := deps.Create(ctx, rolloutTestDeployment("web", 3, "x"))
	if err != nil {
		t.Fatal(err)
	}
	out := &rolloutBuffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- rolloutStatus(ctx, out, reg, "default", deploy("web"), rolloutStatusOptions{watch: true})
	}()
	waitRolloutOutput(t, out, "Waiting for deployment spec update to be observed...")
	for _, s := range []api.DeploymentStatus{
		{Replicas: 4, UpdatedReplicas: 1},
		{Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3}, // the same line: not printed again
		{Replicas: 4, UpdatedReplicas: 3},
		{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 1},
		{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3},
	} {
		s.ObservedGeneration = d.Generation
		d.Status = s
		if d, err = deps.UpdateStatus(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("rollout status: %v", err)
	}
	want := `Waiting for deployment spec update to be observed...
Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...
Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...
Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are available...
deployment "web" successfully rolled out
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestRolloutStatusFailsOnDeadlineAndTimeout(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	deps := client.For[*api.Deployment](reg, "default")
	d, err := deps.Create(ctx, rolloutTestDeployment("web", 3, "x"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	begin := time.Now()
	err = rolloutStatus(ctx, &out, reg, "default", deploy("web"), rolloutStatusOptions{watch: true, timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timed out") || time.Since(begin) > 5*time.Second {
		t.Errorf("after %v: err %v, want a timeout after 300ms", time.Since(begin), err)
	}
	out.Reset()
	if err := rolloutStatus(ctx, &out, reg, "default", deploy("web"), rolloutStatusOptions{watch: false}); err != nil || !strings.Contains(out.String(), "spec update") {
		t.Errorf("--watch=false: %q, %v; want one line and no error", out.String(), err)
	}
	d.Status = api.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 3, UpdatedReplicas: 1, Conditions: []api.DeploymentCondition{
		{Type: api.DeploymentProgressing, Status: api.ConditionFalse, Reason: deployment.ReasonTimedOut}}}
	if _, err := deps.UpdateStatus(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := rolloutStatus(ctx, &out, reg, "default", deploy("web"), rolloutStatusOptions{watch: true}); err == nil || !strings.Contains(err.Error(), `deployment "web" exceeded its progress deadline`) {
		t.Errorf("past the deadline: err %v", err)
	}
	if err := rolloutStatus(ctx, &out, reg, "default", deploy("nope"), rolloutStatusOptions{watch: true}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing deployment: err %v, want not found", err)
	}
}

func TestRolloutHistoryAndUndo(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	deps := client.For[*api.Deployment](reg, "default")
	d, err := deps.Create(ctx, rolloutTestDeployment("web", 2, "busybox:2"))
	if err != nil {
		t.Fatal(err)
	}
	rolloutReplicaSet(t, ctx, reg, d, 1, "busybox:1", "first")
	rolloutReplicaSet(t, ctx, reg, d, 2, "busybox:2", "")
	// Another deployment's replica set is not in this history.
	other, err := deps.Create(ctx, rolloutTestDeployment("db", 1, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	rolloutReplicaSet(t, ctx, reg, other, 7, "postgres", "")

	var out bytes.Buffer
	if err := rolloutHistory(ctx, &out, reg, "default", deploy("web"), 0); err != nil {
		t.Fatal(err)
	}
	want := "deployment/web\nREVISION  CHANGE-CAUSE\n1         first\n2         <none>\n"
	if out.String() != want {
		t.Errorf("history:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	if err := rolloutHistory(ctx, &out, reg, "default", deploy("web"), 1); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "deployment/web with revision #1\nPod Template:\n") ||
		!strings.Contains(got, "image: busybox:1") || strings.Contains(got, "pod-template-hash") {
		t.Errorf("history --revision 1:\n%s", got)
	}
	if err := rolloutHistory(ctx, &out, reg, "default", deploy("web"), 5); err == nil {
		t.Error("history --revision 5: want an error")
	}

	out.Reset()
	if err := rolloutUndo(ctx, &out, reg, "default", "web", 0); err != nil || out.String() != "deployment/web rolled back\n" {
		t.Fatalf("undo: %q, %v", out.String(), err)
	}
	d, _ = deps.Get(ctx, "web")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "busybox:1" || d.Spec.Template.Labels["pod-template-hash"] != "" ||
		d.Annotations[deployment.ChangeCauseAnnotation] != "first" {
		t.Errorf("after undo: image %q, template labels %v, annotations %v; want busybox:1, no hash, the change cause",
			img, d.Spec.Template.Labels, d.Annotations)
	}
	out.Reset()
	if err := rolloutUndo(ctx, &out, reg, "default", "web", 1); err != nil || !strings.Contains(out.String(), "skipped rollback (current template already matches revision 1)") {
		t.Errorf("undo to the current template: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := rolloutUndo(ctx, &out, reg, "default", "web", 2); err != nil || out.String() != "deployment/web rolled back\n" {
		t.Errorf("undo --to-revision 2: %q, %v", out.String(), err)
	}
	if d, _ = deps.Get(ctx, "web"); d.Spec.Template.Spec.Containers[0].Image != "busybox:2" {
		t.Errorf("after undo --to-revision 2: image %q", d.Spec.Template.Spec.Containers[0].Image)
	}
	if err := rolloutUndo(ctx, &out, reg, "default", "web", 9); err == nil || !strings.Contains(err.Error(), "revision 9") {
		t.Errorf("undo --to-revision 9: err %v", err)
	}
	if err := patchDeployment(ctx, &out, reg, "default", "web", "pause", pauseDeployment, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := rolloutUndo(ctx, &out, reg, "default", "web", 0); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Errorf("undo of a paused deployment: err %v, want refused", err)
	}
	if err := rolloutUndo(ctx, &out, reg, "default", "db", 0); err == nil {
		t.Error("undo with one revision: want an error")
	}
}

func TestRolloutPauseResumeRestart(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	deps := client.For[*api.Deployment](reg, "default")
	if _, err := deps.Create(ctx, rolloutTestDeployment("web", 2, "x")); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	run := func(verb string, p patcher) error {
		return patchDeployment(ctx, &out, reg, "default", "web", verb, p, now)
	}
	if err := run("pause", pauseDeployment); err != nil {
		t.Fatal(err)
	}
	if d, _ := deps.Get(ctx, "web"); !d.Spec.Paused {
		t.Error("pause: spec.paused is false")
	}
	if err := run("pause", pauseDeployment); err == nil || !strings.Contains(err.Error(), "already paused") {
		t.Errorf("pause twice: err %v", err)
	}
	if err := run("restart", restartDeployment); err == nil || !strings.Contains(err.Error(), "resume it first") {
		t.Errorf("restart while paused: err %v", err)
	}
	if err := run("resume", resumeDeployment); err != nil {
		t.Fatal(err)
	}
	if err := run("resume", resumeDeployment); err == nil || !strings.Contains(err.Error(), "not paused") {
		t.Errorf("resume twice: err %v", err)
	}
	before, _ := deps.Get(ctx, "web")
	if err := run("restart", restartDeployment); err != nil {
		t.Fatal(err)
	}
	d, _ := deps.Get(ctx, "web")
	if d.Spec.Paused || d.Spec.Template.Annotations[deployment.RestartedAtAnnotation] != "2026-12-01T10:00:00Z" || d.Generation != before.Generation+1 {
		t.Errorf("after resume and restart: paused %v, template annotations %v, generation %d; want false, restartedAt, %d",
			d.Spec.Paused, d.Spec.Template.Annotations, d.Generation, before.Generation+1)
	}
	want := "deployment/web paused\ndeployment/web resumed\ndeployment/web restarted\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

// TestE2ERolloutAndScale runs the commands through the built binary
// against `skiff server`.
func TestE2ERolloutAndScale(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "")
	s.skiff(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox:2}]
`, "apply", "-f", "-").must(t)
	cfg, err := client.LoadConfig(s.config)
	if err != nil {
		t.Fatal(err)
	}
	b, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := client.For[*api.Deployment](b, "default").Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}

	if r := s.skiff("", "scale", "deployment/web", "--replicas", "4").must(t); r.out != "deployment/web scaled\n" {
		t.Errorf("scale: %q", r.out)
	}
	if r := s.skiff("", "get", "deploy", "web", "-o", "json").must(t); !strings.Contains(r.out, `"replicas": 4`) {
		t.Errorf("after scale:\n%s", r.out)
	}
	if r := s.skiff("", "scale", "pod/x", "--replicas", "1"); r.code != 1 || !strings.Contains(r.err, "cannot be scaled") {
		t.Errorf("scale pod: %d %q", r.code, r.err)
	}
	if r := s.skiff("", "scale", "deployment/web"); r.code != 1 || !strings.Contains(r.err, "--replicas") {
		t.Errorf("scale without --replicas: %d %q", r.code, r.err)
	}
	s.skiff("", "rollout", "pause", "deployment/web").must(t)
	if r := s.skiff("", "rollout", "pause", "deploy", "web"); r.code != 1 || !strings.Contains(r.err, "already paused") {
		t.Errorf("pause twice: %d %q", r.code, r.err)
	}
	s.skiff("", "rollout", "resume", "deployment/web").must(t)
	if r := s.skiff("", "rollout", "restart", "deployment/web").must(t); r.out != "deployment/web restarted\n" {
		t.Errorf("restart: %q", r.out)
	}
	if r := s.skiff("", "get", "deploy", "web", "-o", "yaml").must(t); !strings.Contains(r.out, deployment.RestartedAtAnnotation) {
		t.Errorf("after restart:\n%s", r.out)
	}
	// No agent runs, so no rollout can finish: status gives up at --timeout.
	if r := s.skiff("", "rollout", "status", "deployment/web", "--timeout", "1s"); r.code != 1 || !strings.Contains(r.err, "timed out") || !strings.Contains(r.out, "Waiting for") {
		t.Errorf("rollout status --timeout 1s: %d\n%s%s", r.code, r.out, r.err)
	}
	if r := s.skiff("", "rollout", "status", "pod/web"); r.code != 1 || !strings.Contains(r.err, "deployments") {
		t.Errorf("rollout status pod/web: %d %q", r.code, r.err)
	}

	// History and undo from a replica set the test writes. Its revision
	// is far from any a deployment controller would have given by now,
	// so the test holds whether or not the server runs one.
	rolloutReplicaSet(t, ctx, b, d, 100, "busybox:1", "from the test")
	r := s.skiff("", "rollout", "history", "deployment/web").must(t)
	if !strings.Contains(r.out, "REVISION  CHANGE-CAUSE\n") || !strings.Contains(r.out, "100       from the test\n") {
		t.Errorf("history:\n%s", r.out)
	}
	if r := s.skiff("", "rollout", "undo", "deployment/web", "--to-revision", "100").must(t); r.out != "deployment/web rolled back\n" {
		t.Errorf("undo: %q", r.out)
	}
	if r := s.skiff("", "get", "deploy", "web", "-o", "yaml").must(t); !strings.Contains(r.out, "image: busybox:1") {
		t.Errorf("after undo:\n%s", r.out)
	}
}

func deploy(name string) workload { return workload{kind: "Deployment", name: name} }

// rolloutSets are a stateful set and a daemon set named name running
// image, as the tests create them.
func rolloutStatefulSet(name, image string) *api.StatefulSet {
	s := &api.StatefulSet{ObjectMeta: api.ObjectMeta{Name: name}}
	s.Spec.Replicas = ptrTo[int32](2)
	s.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	s.Spec.Template = rolloutTestDeployment(name, 1, image).Spec.Template
	return s
}

func rolloutDaemonSet(name, image string) *api.DaemonSet {
	ds := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: name}}
	ds.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	ds.Spec.Template = rolloutTestDeployment(name, 1, image).Spec.Template
	return ds
}

func ptrTo[T any](v T) *T { return &v }

// rolloutRevision creates the ControllerRevision a stateful set or
// daemon set controller would have made for revision rev with image.
func rolloutRevision(t *testing.T, ctx context.Context, b client.Backend, owner api.Object, rev int64, image, cause string) {
	t.Helper()
	m := owner.GetObjectMeta()
	k, err := api.KindOf(owner)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := rolloutTestDeployment(m.Name, 1, image).Spec.Template
	data, err := api.RevisionData(&tmpl)
	if err != nil {
		t.Fatal(err)
	}
	hash := deployment.TemplateHash(&tmpl, nil)
	yes := true
	r := &api.ControllerRevision{ObjectMeta: api.ObjectMeta{
		Name: m.Name + "-" + hash, Labels: map[string]string{"app": m.Name, "controller-revision-hash": hash},
		OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: k.Kind, Name: m.Name, UID: m.UID, Controller: &yes}},
	}, Data: data, Revision: rev}
	if cause != "" {
		r.Annotations = map[string]string{deployment.ChangeCauseAnnotation: cause}
	}
	if _, err := client.For[*api.ControllerRevision](b, m.Namespace).Create(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// TestRolloutHistoryAndUndoFromRevisions: stateful sets and daemon sets
// list and roll back to their ControllerRevisions.
func TestRolloutHistoryAndUndoFromRevisions(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		create func(t *testing.T, ctx context.Context, b client.Backend, name, image string) api.Object
		image  func(t *testing.T, ctx context.Context, b client.Backend, name string) string
	}{
		{"StatefulSet", func(t *testing.T, ctx context.Context, b client.Backend, name, image string) api.Object {
			s, err := client.For[*api.StatefulSet](b, "default").Create(ctx, rolloutStatefulSet(name, image))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, func(t *testing.T, ctx context.Context, b client.Backend, name string) string {
			s, err := client.For[*api.StatefulSet](b, "default").Get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			return s.Spec.Template.Spec.Containers[0].Image
		}},
		{"DaemonSet", func(t *testing.T, ctx context.Context, b client.Backend, name, image string) api.Object {
			ds, err := client.For[*api.DaemonSet](b, "default").Create(ctx, rolloutDaemonSet(name, image))
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}, func(t *testing.T, ctx context.Context, b client.Backend, name string) string {
			ds, err := client.For[*api.DaemonSet](b, "default").Get(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			return ds.Spec.Template.Spec.Containers[0].Image
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			ctx, reg := newRolloutRegistry(t)
			w := workload{kind: tc.kind, name: "web"}
			kind := strings.ToLower(tc.kind)
			web := tc.create(t, ctx, reg, "web", "busybox:2")
			rolloutRevision(t, ctx, reg, web, 1, "busybox:1", "first")
			rolloutRevision(t, ctx, reg, web, 2, "busybox:2", "")
			// Another set's revision is not in this history.
			other := tc.create(t, ctx, reg, "db", "postgres")
			rolloutRevision(t, ctx, reg, other, 7, "postgres", "")

			var out bytes.Buffer
			if err := rolloutHistory(ctx, &out, reg, "default", w, 0); err != nil {
				t.Fatal(err)
			}
			want := kind + "/web\nREVISION  CHANGE-CAUSE\n1         first\n2         <none>\n"
			if out.String() != want {
				t.Errorf("history:\n%s\nwant:\n%s", out.String(), want)
			}
			out.Reset()
			if err := rolloutHistory(ctx, &out, reg, "default", w, 1); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); !strings.HasPrefix(got, kind+"/web with revision #1\nPod Template:\n") || !strings.Contains(got, "image: busybox:1") {
				t.Errorf("history --revision 1:\n%s", got)
			}
			if err := rolloutHistory(ctx, &out, reg, "default", w, 5); err == nil || !strings.Contains(err.Error(), "unable to find revision 5 of "+kind) {
				t.Errorf("history --revision 5: err %v", err)
			}

			out.Reset()
			if err := undoRollout(ctx, &out, reg, "default", w, 0); err != nil || out.String() != kind+"/web rolled back\n" {
				t.Fatalf("undo: %q, %v", out.String(), err)
			}
			if img := tc.image(t, ctx, reg, "web"); img != "busybox:1" {
				t.Errorf("after undo: image %q, want busybox:1", img)
			}
			out.Reset()
			if err := undoRollout(ctx, &out, reg, "default", w, 1); err != nil || out.String() != kind+"/web skipped rollback (current template already matches revision 1)\n" {
				t.Errorf("undo to the current template: %q, %v", out.String(), err)
			}
			out.Reset()
			if err := undoRollout(ctx, &out, reg, "default", w, 2); err != nil || out.String() != kind+"/web rolled back\n" {
				t.Errorf("undo --to-revision 2: %q, %v", out.String(), err)
			}
			if img := tc.image(t, ctx, reg, "web"); img != "busybox:2" {
				t.Errorf("after undo --to-revision 2: image %q", img)
			}
			if err := undoRollout(ctx, &out, reg, "default", w, 9); err == nil || !strings.Contains(err.Error(), "revision 9") {
				t.Errorf("undo --to-revision 9: err %v", err)
			}
			if err := undoRollout(ctx, &out, reg, "default", workload{kind: tc.kind, name: "db"}, 0); err == nil || !strings.Contains(err.Error(), "no previous revision") {
				t.Errorf("undo with one revision: err %v", err)
			}
			tc.create(t, ctx, reg, "fresh", "x")
			out.Reset()
			if err := rolloutHistory(ctx, &out, reg, "default", workload{kind: tc.kind, name: "fresh"}, 0); err != nil || !strings.Contains(out.String(), "No rollout history found.") {
				t.Errorf("history without revisions: %q, %v", out.String(), err)
			}
		})
	}
}

func TestStatefulSetAndDaemonSetRolloutMessages(t *testing.T) {
	s := rolloutStatefulSet("db", "x")
	api.Default(s)
	s.Generation = 2
	partition := func(p int32) *api.StatefulSet {
		c := api.Clone(s)
		c.Spec.UpdateStrategy.RollingUpdate.Partition = &p
		return c
	}
	noRU := api.Clone(s)
	noRU.Spec.UpdateStrategy.RollingUpdate = nil
	onDelete := api.Clone(s)
	onDelete.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: api.OnDeleteStatefulSetStrategyType}
	for _, tc := range []struct {
		set    *api.StatefulSet
		status api.StatefulSetStatus
		want   string
		done   bool
	}{
		{s, api.StatefulSetStatus{ObservedGeneration: 1}, "Waiting for statefulset spec update to be observed...", false},
		{s, api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 1}, "Waiting for 1 pods to be ready...", false},
		{s, api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 1}, "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...", false},
		{s, api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 2}, "partitioned roll out complete: 2 new pods have been updated...", true},
		{partition(1), api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 1}, "partitioned roll out complete: 1 new pods have been updated...", true},
		{noRU, api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 1, CurrentRevision: "db-a", UpdateRevision: "db-b"}, "waiting for statefulset rolling update to complete 1 pods at revision db-b...", false},
		{noRU, api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2, CurrentReplicas: 2, CurrentRevision: "db-b", UpdateRevision: "db-b"}, "statefulset rolling update complete 2 pods at revision db-b...", true},
	} {
		tc.set.Status = tc.status
		got, done, err := statefulSetRolloutMessage(tc.set)
		if err != nil || got != tc.want || done != tc.done {
			t.Errorf("status %+v: %q, %v, %v; want %q, %v", tc.status, got, done, err, tc.want, tc.done)
		}
	}
	if _, _, err := statefulSetRolloutMessage(onDelete); err == nil || !strings.Contains(err.Error(), "only available for RollingUpdate") {
		t.Errorf("OnDelete: err %v", err)
	}

	ds := rolloutDaemonSet("agent", "x")
	api.Default(ds)
	ds.Generation = 3
	for _, tc := range []struct {
		status api.DaemonSetStatus
		want   string
		done   bool
	}{
		{api.DaemonSetStatus{ObservedGeneration: 2}, "Waiting for daemon set spec update to be observed...", false},
		{api.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1}, `Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...`, false},
		{api.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2}, `Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...`, false},
		{api.DaemonSetStatus{ObservedGeneration: 3, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3}, `daemon set "agent" successfully rolled out`, true},
	} {
		ds.Status = tc.status
		got, done, err := daemonSetRolloutMessage(ds)
		if err != nil || got != tc.want || done != tc.done {
			t.Errorf("status %+v: %q, %v, %v; want %q, %v", tc.status, got, done, err, tc.want, tc.done)
		}
	}
	ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.OnDeleteDaemonSetStrategyType}
	if _, _, err := daemonSetRolloutMessage(ds); err == nil || !strings.Contains(err.Error(), "only available for RollingUpdate") {
		t.Errorf("OnDelete: err %v", err)
	}
}

// TestRolloutStatusStatefulSet watches a stateful set's rollout finish.
func TestRolloutStatusStatefulSet(t *testing.T) {
	ctx, reg := newRolloutRegistry(t)
	sets := client.For[*api.StatefulSet](reg, "default")
	s, err := sets.Create(ctx, rolloutStatefulSet("db", "x"))
	if err != nil {
		t.Fatal(err)
	}
	out := &rolloutBuffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- rolloutStatus(ctx, out, reg, "default", workload{kind: "StatefulSet", name: "db"}, rolloutStatusOptions{watch: true})
	}()
	waitRolloutOutput(t, out, "Waiting for statefulset spec update to be observed...")
	for _, st := range []api.StatefulSetStatus{
		{ReadyReplicas: 1},
		{ReadyReplicas: 2, UpdatedReplicas: 1},
		{ReadyReplicas: 2, UpdatedReplicas: 2},
	} {
		st.ObservedGeneration = s.Generation
		s.Status = st
		if s, err = sets.UpdateStatus(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("rollout status: %v", err)
	}
	want := `Waiting for statefulset spec update to be observed...
Waiting for 1 pods to be ready...
Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...
partitioned roll out complete: 2 new pods have been updated...
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestWorkloadArg(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		kinds []string
		want  workload
		err   string
	}{
		{[]string{"deploy/web"}, historyKinds, workload{"Deployment", "web"}, ""},
		{[]string{"sts", "db"}, historyKinds, workload{"StatefulSet", "db"}, ""},
		{[]string{"daemonset/agent"}, historyKinds, workload{"DaemonSet", "agent"}, ""},
		{[]string{"pod/web"}, historyKinds, workload{}, "rollout history works on deployments, statefulsets, daemonsets, not pods"},
		{[]string{"sts/db"}, deploymentKinds, workload{}, "rollout history works on deployments, not statefulsets"},
		{[]string{"web"}, historyKinds, workload{}, "name a deployment or statefulset or daemonset: deployment/NAME"},
		{[]string{"sts/"}, historyKinds, workload{}, "name a"},
	} {
		got, err := workloadArg("history", tc.args, tc.kinds)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

// TestE2ERolloutStatefulSetAndDaemonSet runs history and undo through
// the built binary against `skiff server`, whose controllers keep the
// ControllerRevisions (no agent runs: no pod ever starts, but every
// template is a revision).
func TestE2ERolloutStatefulSetAndDaemonSet(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "")
	for _, kind := range []string{"StatefulSet", "DaemonSet"} {
		noun := strings.ToLower(kind)
		service := ""
		if kind == "StatefulSet" {
			service = "serviceName: db"
		}
		manifest := func(image, cause string) string {
			return fmt.Sprintf(`apiVersion: apps/v1
kind: %s
metadata: {name: db, annotations: {kubernetes.io/change-cause: %q}}
spec:
  %s
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: %s}]
`, kind, cause, service, image)
		}
		history := func(want string) {
			t.Helper()
			deadline := time.Now().Add(15 * time.Second)
			for {
				r := s.skiff("", "rollout", "history", noun+"/db")
				if r.code == 0 && r.out == noun+"/db\nREVISION  CHANGE-CAUSE\n"+want {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s history: %d\n%s%s\nwant:\n%s", noun, r.code, r.out, r.err, want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		s.skiff(manifest("busybox:1", "first"), "apply", "-f", "-").must(t)
		history("1         first\n")
		s.skiff(manifest("busybox:2", "second"), "apply", "-f", "-").must(t)
		history("1         first\n2         second\n")
		if r := s.skiff("", "rollout", "history", noun+"/db", "--revision", "1").must(t); !strings.Contains(r.out, "image: busybox:1") {
			t.Errorf("%s history --revision 1:\n%s", noun, r.out)
		}
		if r := s.skiff("", "rollout", "undo", noun+"/db").must(t); r.out != noun+"/db rolled back\n" {
			t.Errorf("%s undo: %q", noun, r.out)
		}
		if r := s.skiff("", "get", noun, "db", "-o", "yaml").must(t); !strings.Contains(r.out, "image: busybox:1") {
			t.Errorf("%s after undo:\n%s", noun, r.out)
		}
		// The first template's revision is the newest now, as in Kubernetes.
		history("2         second\n3         first\n")
		if r := s.skiff("", "rollout", "undo", noun+"/db", "--to-revision", "3").must(t); !strings.Contains(r.out, "skipped rollback") {
			t.Errorf("%s undo --to-revision 3: %q", noun, r.out)
		}
		if r := s.skiff("", "get", "controllerrevisions").must(t); !strings.Contains(r.out, noun+".apps/db") {
			t.Errorf("get controllerrevisions:\n%s", r.out)
		}
		if r := s.skiff("", "rollout", "pause", noun+"/db"); r.code != 1 || !strings.Contains(r.err, "works on deployments, not "+noun+"s") {
			t.Errorf("%s pause: %d %q", noun, r.code, r.err)
		}
		// No pod of the stateful set starts; the daemon set has no node to
		// run on, so it is rolled out.
		r := s.skiff("", "rollout", "status", noun+"/db", "--timeout", "1s")
		if kind == "StatefulSet" && (r.code != 1 || !strings.Contains(r.err, "timed out") || !strings.Contains(r.out, "Waiting for")) ||
			kind == "DaemonSet" && (r.code != 0 || r.out != "daemon set \"db\" successfully rolled out\n") {
			t.Errorf("%s rollout status --timeout 1s: %d\n%s%s", noun, r.code, r.out, r.err)
		}
		s.skiff("", "delete", noun, "db").must(t)
	}
}
