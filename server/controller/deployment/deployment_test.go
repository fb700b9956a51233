package deployment

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

func TestCreatesReplicaSetWithPods(t *testing.T) {
	e := newEnv(t)
	d, err := e.deps.Create(e.ctx, newDeployment("web", 3, "busybox:1"))
	if err != nil {
		t.Fatal(err)
	}
	d = e.waitComplete("web")
	rss := e.replicaSets("web")
	if len(rss) != 1 {
		t.Fatalf("%d replica sets, want 1", len(rss))
	}
	rs := rss[0]
	hash := TemplateHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash || rs.Labels[PodTemplateHashLabel] != hash ||
		rs.Spec.Selector.MatchLabels[PodTemplateHashLabel] != hash || rs.Spec.Template.Labels[PodTemplateHashLabel] != hash {
		t.Errorf("replica set %s labels %v selector %v template labels %v; want web-%s with the hash everywhere",
			rs.Name, rs.Labels, rs.Spec.Selector.MatchLabels, rs.Spec.Template.Labels, hash)
	}
	if ref := api.ControllerOf(&rs.ObjectMeta); ref == nil || ref.UID != d.UID || ref.Kind != "Deployment" {
		t.Errorf("owner references %+v, want controller deployment %s", rs.OwnerReferences, d.UID)
	}
	if rs.Annotations[RevisionAnnotation] != "1" || d.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("revision: replica set %q, deployment %q; want 1, 1", rs.Annotations[RevisionAnnotation], d.Annotations[RevisionAnnotation])
	}
	if ready, total := e.readyPods("web"); ready != 3 || total != 3 {
		t.Errorf("%d pods, %d ready; want 3, 3", total, ready)
	}
	s := d.Status
	if s.Replicas != 3 || s.UpdatedReplicas != 3 || s.ReadyReplicas != 3 || s.AvailableReplicas != 3 || s.UnavailableReplicas != 0 || s.ObservedGeneration != d.Generation {
		t.Errorf("status %+v, want 3 of everything at generation %d", s, d.Generation)
	}
	if c := getCondition(&s, api.DeploymentAvailable); c == nil || c.Status != api.ConditionTrue {
		t.Errorf("Available condition %+v, want True", c)
	}
	want := "Normal ScalingReplicaSet Scaled up replica set web-" + hash + " from 0 to 3"
	if evs := e.events.list(); len(evs) != 1 || evs[0] != want {
		t.Errorf("events %q, want [%q]", evs, want)
	}

	// Settled: nothing more is written.
	controllertest.Settles(t, e.st.Revision, "settled")
}

// podWatch follows the pods of one app through a watch, so that a test
// can check an invariant at every single change.
type podWatch struct {
	mu    sync.Mutex
	pods  map[string]*api.Pod
	check func(pods map[string]*api.Pod) string // "" when fine
	fail  []string
	done  chan struct{}
}

func (e *env) watchPods(app string, check func(map[string]*api.Pod) string) *podWatch {
	e.t.Helper()
	list, rv, _, err := e.pods.List(e.ctx, api.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		e.t.Fatal(err)
	}
	w := &podWatch{pods: map[string]*api.Pod{}, check: check, done: make(chan struct{})}
	for _, p := range list {
		w.pods[p.Name] = p
	}
	watch, err := e.pods.Watch(e.ctx, api.ListOptions{LabelSelector: "app=" + app, ResourceVersion: rv})
	if err != nil {
		e.t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		for ev := range watch.ResultChan() {
			p, ok := ev.Object.(*api.Pod)
			if !ok {
				continue
			}
			w.mu.Lock()
			if ev.Type == api.Deleted {
				delete(w.pods, p.Name)
			} else {
				w.pods[p.Name] = p
			}
			if msg := w.check(w.pods); msg != "" && len(w.fail) < 5 {
				w.fail = append(w.fail, fmt.Sprintf("at revision %s: %s", p.ResourceVersion, msg))
			}
			w.mu.Unlock()
		}
	}()
	e.t.Cleanup(watch.Stop)
	return w
}

func (w *podWatch) failures() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.fail...)
}

func countPods(pods map[string]*api.Pod, image string) (ready, total int) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil || (image != "" && p.Spec.Containers[0].Image != image) {
			continue
		}
		total++
		if podstate.Ready(p) {
			ready++
		}
	}
	return ready, total
}

func TestRollingUpdateNeverDropsReadyPods(t *testing.T) {
	e := newEnv(t)
	e.node.setDelay(20 * time.Millisecond)
	d := newDeployment("web", 3, "busybox:1")
	zero, one := api.FromInt(0), api.FromInt(1)
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}
	if _, err := e.deps.Create(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	e.waitComplete("web")
	maxTotal := 0
	w := e.watchPods("web", func(pods map[string]*api.Pod) string {
		ready, total := countPods(pods, "")
		maxTotal = max(maxTotal, total)
		if ready < 3 {
			return fmt.Sprintf("%d ready pods of %d", ready, total)
		}
		if total > 4 {
			return fmt.Sprintf("%d pods, more than 3 + maxSurge 1", total)
		}
		return ""
	})
	e.update("web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	d = e.waitComplete("web")
	e.eventually("only new pods", func() (bool, string) {
		ready, total := e.readyPods("web")
		return ready == 3 && total == 3, fmt.Sprintf("%d ready of %d", ready, total)
	})
	for _, f := range w.failures() {
		t.Error(f)
	}
	w.mu.Lock() // check runs in the watch's goroutine, under w.mu
	most := maxTotal
	w.mu.Unlock()
	if most != 4 {
		t.Errorf("at most %d pods at once, want 4 (3 + maxSurge 1)", most)
	}
	if d.Annotations[RevisionAnnotation] != "2" {
		t.Errorf("deployment revision %q, want 2", d.Annotations[RevisionAnnotation])
	}
	for _, rs := range e.replicaSets("web") {
		isNew := EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template)
		switch {
		case isNew && (rsReplicas(rs) != 3 || Revision(rs) != 2):
			t.Errorf("new replica set %s: %d replicas, revision %d; want 3, 2", rs.Name, rsReplicas(rs), Revision(rs))
		case !isNew && (rsReplicas(rs) != 0 || Revision(rs) != 1):
			t.Errorf("old replica set %s: %d replicas, revision %d; want 0, 1", rs.Name, rsReplicas(rs), Revision(rs))
		}
	}
	var scaling int
	for _, ev := range e.events.list() {
		if strings.Contains(ev, "ScalingReplicaSet") {
			scaling++
		}
	}
	if scaling < 7 { // 0→3; then 3 ups of the new one and 3 downs of the old
		t.Errorf("%d ScalingReplicaSet events, want at least 7: %q", scaling, e.events.list())
	}
}

func TestRecreateStopsOldPodsFirst(t *testing.T) {
	e := newEnv(t)
	e.node.setDelay(10 * time.Millisecond)
	d := newDeployment("web", 3, "busybox:1")
	d.Spec.Strategy = api.DeploymentStrategy{Type: api.RecreateDeploymentStrategyType}
	if _, err := e.deps.Create(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	e.waitComplete("web")
	w := e.watchPods("web", func(pods map[string]*api.Pod) string {
		_, old := countPods(pods, "busybox:1")
		_, cur := countPods(pods, "busybox:2")
		// Count terminating old pods too: Recreate waits for them.
		for _, p := range pods {
			if p.DeletionTimestamp != nil && p.Spec.Containers[0].Image == "busybox:1" {
				old++
			}
		}
		if old > 0 && cur > 0 {
			return fmt.Sprintf("%d old and %d new pods at once", old, cur)
		}
		return ""
	})
	e.update("web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	e.waitComplete("web")
	for _, f := range w.failures() {
		t.Error(f)
	}
	if ready, total := e.readyPods("web"); ready != 3 || total != 3 {
		t.Errorf("%d pods, %d ready; want 3, 3", total, ready)
	}
}

func TestPauseStopsRolloutAndResumeContinues(t *testing.T) {
	e := newEnv(t)
	if _, err := e.deps.Create(e.ctx, newDeployment("web", 4, "busybox:1")); err != nil {
		t.Fatal(err)
	}
	e.waitComplete("web")
	e.update("web", func(d *api.Deployment) {
		d.Spec.Paused = true
		d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	})
	e.eventually("the Progressing condition to say paused", func() (bool, string) {
		d, _ := e.deps.Get(e.ctx, "web")
		c := getCondition(&d.Status, api.DeploymentProgressing)
		return c != nil && c.Reason == ReasonPaused && c.Status == api.ConditionUnknown && d.Status.ObservedGeneration == d.Generation,
			fmt.Sprintf("%+v", d.Status)
	})
	// Scaling still applies while paused.
	e.update("web", func(d *api.Deployment) { n := int32(6); d.Spec.Replicas = &n })
	e.eventually("6 pods of the old template", func() (bool, string) {
		ready, total := e.readyPods("web")
		return ready == 6 && total == 6, fmt.Sprintf("%d ready of %d", ready, total)
	})
	time.Sleep(200 * time.Millisecond)
	if rss := e.replicaSets("web"); len(rss) != 1 {
		t.Fatalf("%d replica sets while paused, want 1 (no rollout)", len(rss))
	}
	e.update("web", func(d *api.Deployment) { d.Spec.Paused = false })
	d := e.waitComplete("web")
	if d.Annotations[RevisionAnnotation] != "2" || replicasOf(d) != 6 {
		t.Errorf("after resume: revision %q, %d replicas; want 2, 6", d.Annotations[RevisionAnnotation], replicasOf(d))
	}
	_, total := e.readyPods("web")
	e.eventually("6 new pods", func() (bool, string) {
		list, _, _, _ := e.pods.List(e.ctx, api.ListOptions{LabelSelector: "app=web"})
		n := 0
		for _, p := range list {
			if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image == "busybox:2" {
				n++
			}
		}
		return n == 6, fmt.Sprintf("%d new of %d", n, total)
	})
}

func TestProportionalScalingMidRollout(t *testing.T) {
	e := newEnv(t)
	if _, err := e.deps.Create(e.ctx, newDeployment("web", 10, "busybox:1")); err != nil {
		t.Fatal(err)
	}
	e.waitComplete("web")
	// Start a rollout whose new pods never become ready, then scale.
	e.update("web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "never-ready" })
	e.eventually("the rollout stuck at 8 old and 5 new", func() (bool, string) {
		var sizes []int32
		for _, rs := range e.replicaSets("web") {
			sizes = append(sizes, rsReplicas(rs))
		}
		return len(sizes) == 2 && sizes[0]+sizes[1] == 13, fmt.Sprintf("%v", sizes)
	})
	e.update("web", func(d *api.Deployment) { n := int32(20); d.Spec.Replicas = &n })
	e.eventually("both replica sets scaled in proportion", func() (bool, string) {
		var total int32
		var sizes []string
		for _, rs := range e.replicaSets("web") {
			total += rsReplicas(rs)
			sizes = append(sizes, fmt.Sprintf("%s=%d", rs.Spec.Template.Spec.Containers[0].Image, rsReplicas(rs)))
		}
		// 20 + maxSurge 5 = 25, shared 8:5 of 13: 15 and 10.
		got := strings.Join(sizes, " ")
		return total == 25 && (got == "busybox:1=15 never-ready=10" || got == "never-ready=10 busybox:1=15"), got
	})
}

func TestUndoReturnsToPreviousTemplate(t *testing.T) {
	e := newEnv(t)
	if _, err := e.deps.Create(e.ctx, newDeployment("web", 2, "busybox:1")); err != nil {
		t.Fatal(err)
	}
	e.waitComplete("web")
	e.update("web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	d := e.waitComplete("web")
	if _, _, err := Rollback(d, Owned(d, e.replicaSets("web")), 2); err != ErrSkipped {
		t.Errorf("roll back to the current revision: err %v, want ErrSkipped", err)
	}
	if _, _, err := Rollback(d, Owned(d, e.replicaSets("web")), 9); !errdefs.IsNotFound(err) {
		t.Errorf("roll back to revision 9: err %v, want not found", err)
	}
	next, rev, err := Rollback(d, Owned(d, e.replicaSets("web")), 0)
	if err != nil || rev != 1 {
		t.Fatalf("Rollback: revision %d, err %v; want 1", rev, err)
	}
	if _, err := e.deps.Update(e.ctx, next); err != nil {
		t.Fatal(err)
	}
	d = e.waitComplete("web")
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "busybox:1" {
		t.Errorf("image after undo %q, want busybox:1", img)
	}
	if d.Annotations[RevisionAnnotation] != "3" {
		t.Errorf("deployment revision %q, want 3", d.Annotations[RevisionAnnotation])
	}
	rss := e.replicaSets("web")
	if len(rss) != 2 {
		t.Fatalf("%d replica sets, want 2 (the first one came back)", len(rss))
	}
	for _, rs := range rss {
		if rs.Spec.Template.Spec.Containers[0].Image == "busybox:1" {
			if Revision(rs) != 3 || rs.Annotations[RevisionHistoryAnnotation] != "1" || rsReplicas(rs) != 2 {
				t.Errorf("rolled back replica set: revision %d, history %q, %d replicas; want 3, \"1\", 2",
					Revision(rs), rs.Annotations[RevisionHistoryAnnotation], rsReplicas(rs))
			}
		} else if rsReplicas(rs) != 0 {
			t.Errorf("replica set %s still has %d replicas", rs.Name, rsReplicas(rs))
		}
	}
}

func TestRevisionHistoryLimitPrunes(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 1, "busybox:1")
	limit := int32(1)
	d.Spec.RevisionHistoryLimit = &limit
	if _, err := e.deps.Create(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	e.waitComplete("web")
	for i := 2; i <= 4; i++ {
		e.update("web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = fmt.Sprintf("busybox:%d", i) })
		e.waitComplete("web")
	}
	e.eventually("the current and one old replica set", func() (bool, string) {
		rss := e.replicaSets("web")
		var revs []int64
		for _, rs := range rss {
			revs = append(revs, Revision(rs))
		}
		return len(rss) == 2 && (revs[0]+revs[1] == 7), fmt.Sprintf("revisions %v", revs)
	})
}

func TestProgressDeadlineExceeded(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 2, "never-ready")
	deadline := int32(1)
	d.Spec.ProgressDeadlineSeconds = &deadline
	if _, err := e.deps.Create(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	e.eventually("ProgressDeadlineExceeded", func() (bool, string) {
		d, _ := e.deps.Get(e.ctx, "web")
		c := getCondition(&d.Status, api.DeploymentProgressing)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == ReasonTimedOut, fmt.Sprintf("%+v", d.Status.Conditions)
	})
	d, _ = e.deps.Get(e.ctx, "web")
	if c := getCondition(&d.Status, api.DeploymentAvailable); c == nil || c.Status != api.ConditionFalse {
		t.Errorf("Available condition %+v, want False", c)
	}
}

func TestHashCollisionBumpsCollisionCount(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 1, "busybox:1")
	// Defaulted as stored, so that the hash is the one the controller
	// will compute.
	api.Default(d)
	hash := TemplateHash(&d.Spec.Template, nil)
	squatter := newDeployment("other", 0, "busybox:9")
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-" + hash, Labels: map[string]string{"app": "other"}}}
	rs.Spec.Replicas = squatter.Spec.Replicas
	rs.Spec.Selector = squatter.Spec.Selector
	rs.Spec.Template = squatter.Spec.Template
	if _, err := e.rsets.Create(e.ctx, rs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.deps.Create(e.ctx, newDeployment("web", 1, "busybox:1")); err != nil {
		t.Fatal(err)
	}
	d = e.waitComplete("web")
	if d.Status.CollisionCount == nil || *d.Status.CollisionCount != 1 {
		t.Fatalf("collisionCount %v, want 1", d.Status.CollisionCount)
	}
	want := "web-" + TemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	if _, err := e.rsets.Get(e.ctx, want); err != nil {
		t.Errorf("replica set %s: %v", want, err)
	}
	if got, _ := e.rsets.Get(e.ctx, "web-"+hash); got.Spec.Template.Spec.Containers[0].Image != "busybox:9" || len(got.OwnerReferences) != 0 {
		t.Errorf("the squatting replica set was changed: %+v", got)
	}
}

func TestPauseMidRolloutHoldsTheNewReplicaSet(t *testing.T) {
	e := newEnv(t)
	d := newDeployment("web", 4, "busybox:1")
	zero, one := api.FromInt(0), api.FromInt(1)
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}
	if _, err := e.deps.Create(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	e.waitComplete("web")
	e.node.setDelay(150 * time.Millisecond)
	e.update("web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	newRS := func() *api.ReplicaSet {
		for _, rs := range e.replicaSets("web") {
			if rs.Spec.Template.Spec.Containers[0].Image == "busybox:2" {
				return rs
			}
		}
		return nil
	}
	e.eventually("the rollout under way", func() (bool, string) {
		rs := newRS()
		return rs != nil && rsReplicas(rs) >= 1, "no new replica set yet"
	})
	e.update("web", func(d *api.Deployment) { d.Spec.Paused = true })
	e.eventually("the pause observed", func() (bool, string) {
		d, _ := e.deps.Get(e.ctx, "web")
		c := getCondition(&d.Status, api.DeploymentProgressing)
		return d.Status.ObservedGeneration == d.Generation && c != nil && c.Reason == ReasonPaused, fmt.Sprintf("%+v", d.Status)
	})
	held := rsReplicas(newRS())
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n := rsReplicas(newRS()); n != held {
			t.Fatalf("paused: the new replica set went from %d to %d replicas", held, n)
		}
	}
	if held == 4 {
		t.Fatal("the rollout finished before the pause; the test proves nothing")
	}
	e.update("web", func(d *api.Deployment) { d.Spec.Paused = false })
	e.waitComplete("web")
	if rs := newRS(); rsReplicas(rs) != 4 {
		t.Errorf("after resume: new replica set has %d replicas, want 4", rsReplicas(rs))
	}
}
