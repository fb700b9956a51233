package replicaset

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// env is a real store and registry in a temporary directory, with the
// controller running on it.
type env struct {
	t     testing.TB
	ctx   context.Context
	st    *store.Bolt
	reg   *registry.Registry
	c     *Controller
	rsets *client.Resource[*api.ReplicaSet]
	pods  *client.Resource[*api.Pod]
}

func newEnv(t testing.TB) *env { return newEnvWith(t, nil, nil) }

// newEnvWith runs the controller on wrap(registry) with the clock now
// (nil: the real ones).
func newEnvWith(t testing.TB, wrap func(client.Backend) client.Backend, now func() time.Time) *env {
	t.Helper()
	reg, st, ctx := controllertest.Registry(t, 60*time.Second)
	var b client.Backend = reg
	if wrap != nil {
		b = wrap(reg)
	}
	c, err := New(Config{Backend: b, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, ctx, c.Run)
	return &env{t: t, ctx: ctx, st: st, reg: reg, c: c,
		rsets: client.For[*api.ReplicaSet](reg, "default"), pods: client.For[*api.Pod](reg, "default")}
}

func newRS(name string, n int32) *api.ReplicaSet {
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: name}}
	rs.Spec.Replicas = &n
	rs.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	rs.Spec.Template.Labels = map[string]string{"app": name}
	rs.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	return rs
}

// eventually polls cond every 10 ms until it holds or 20 s pass.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 20 * time.Second, Every: 10 * time.Millisecond}, what, cond)
}

// activePods lists rs's pods that are not being deleted.
func (e *env) activePods(app string) []*api.Pod {
	e.t.Helper()
	list, _, _, err := e.pods.List(e.ctx, api.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*api.Pod
	for _, p := range list {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// waitPods waits until rs has n active pods and status.replicas n.
func (e *env) waitPods(rsName string, n int) []*api.Pod {
	e.t.Helper()
	var pods []*api.Pod
	e.eventually(fmt.Sprintf("%d pods of %s", n, rsName), func() (bool, string) {
		pods = e.activePods(rsName)
		rs, err := e.rsets.Get(e.ctx, rsName)
		if err != nil {
			return false, err.Error()
		}
		return len(pods) == n && rs.Status.Replicas == int32(n),
			fmt.Sprintf("%d pods, status.replicas %d", len(pods), rs.Status.Replicas)
	})
	return pods
}

// bind sets the pod's node, as the scheduler would.
func (e *env) bind(p *api.Pod) *api.Pod {
	e.t.Helper()
	p = api.Clone(p)
	p.Spec.NodeName = "node1"
	p, err := e.pods.Update(e.ctx, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// setReady writes a Running phase and a Ready condition, as the agent would.
func (e *env) setReady(p *api.Pod, since time.Time) *api.Pod {
	e.t.Helper()
	var out *api.Pod
	err := client.RetryOnConflict(e.ctx, func() error {
		fresh, err := e.pods.Get(e.ctx, p.Name)
		if err != nil {
			return err
		}
		out, err = controllertest.SetRunningReady(e.ctx, e.pods, fresh, since)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) scale(name string, n int32) {
	e.t.Helper()
	err := client.RetryOnConflict(e.ctx, func() error {
		rs, err := e.rsets.Get(e.ctx, name)
		if err != nil {
			return err
		}
		rs.Spec.Replicas = &n
		_, err = e.rsets.Update(e.ctx, rs)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func isSuffix(s string) bool {
	if len(s) != 5 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("bcdfghjklmnpqrstvwxz2456789", r) {
			return false
		}
	}
	return true
}

func TestCreatesPodsWithOwnerReferences(t *testing.T) {
	e := newEnv(t)
	rs, err := e.rsets.Create(e.ctx, newRS("web", 3))
	if err != nil {
		t.Fatal(err)
	}
	pods := e.waitPods("web", 3)
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, "web-") || !isSuffix(strings.TrimPrefix(p.Name, "web-")) {
			t.Errorf("pod name %q, want web-<5 random>", p.Name)
		}
		ref := api.ControllerOf(&p.ObjectMeta)
		if ref == nil || ref.UID != rs.UID || ref.Name != "web" || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" ||
			ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s: owner references %+v, want controller web (%s) blocking deletion", p.Name, p.OwnerReferences, rs.UID)
		}
	}
	got, err := e.rsets.Get(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.ObservedGeneration != got.Generation || got.Status.FullyLabeledReplicas != 3 || got.Status.ReadyReplicas != 0 {
		t.Errorf("status = %+v, want observedGeneration %d, 3 fully labeled, 0 ready", got.Status, got.Generation)
	}

	// Settled: nothing more is written (the events are already out).
	e.eventually("3 SuccessfulCreate events", func() (bool, string) {
		evs, _, _, err := client.For[*api.Event](e.reg, "default").List(e.ctx, api.ListOptions{FieldSelector: "reason=SuccessfulCreate"})
		return err == nil && len(evs) == 3, fmt.Sprintf("%d events, err %v", len(evs), err)
	})
	// (A status write may still be on its way when the third event is
	// stored; what must not happen is writing on and on.)
	controllertest.Settles(t, e.st.Revision, "replica set web made its pods")

	// Ready pods are counted.
	for _, p := range pods {
		e.setReady(e.bind(p), time.Now())
	}
	e.eventually("3 ready replicas", func() (bool, string) {
		got, err := e.rsets.Get(e.ctx, "web")
		return err == nil && got.Status.ReadyReplicas == 3 && got.Status.AvailableReplicas == 3, fmt.Sprintf("%+v", got.Status)
	})
}

func TestScaleDownDeletesTheRightPods(t *testing.T) {
	e := newEnv(t)
	if _, err := e.rsets.Create(e.ctx, newRS("web", 3)); err != nil {
		t.Fatal(err)
	}
	pods := e.waitPods("web", 3)
	// One ready on a node, one on a node not ready, one unscheduled.
	keep := e.setReady(e.bind(pods[0]), time.Now())
	e.bind(pods[1])
	e.scale("web", 1)
	left := e.waitPods("web", 1)
	if left[0].Name != keep.Name {
		t.Errorf("kept %s, want the ready pod %s", left[0].Name, keep.Name)
	}
	// The bound one waits for its grace period (no agent here); the
	// unscheduled one is gone at once.
	if _, err := e.pods.Get(e.ctx, pods[2].Name); !errdefs.IsNotFound(err) {
		t.Errorf("unscheduled pod %s: err %v, want not found", pods[2].Name, err)
	}
	if p, err := e.pods.Get(e.ctx, pods[1].Name); err != nil || p.DeletionTimestamp == nil {
		t.Errorf("bound pod %s: err %v, want it terminating", pods[1].Name, err)
	}
	e.eventually("a SuccessfulDelete event", func() (bool, string) {
		evs, _, _, err := client.For[*api.Event](e.reg, "default").List(e.ctx, api.ListOptions{FieldSelector: "reason=SuccessfulDelete"})
		return err == nil && len(evs) == 2, fmt.Sprintf("%d events", len(evs))
	})
}

func TestReplacesDeletedPod(t *testing.T) {
	e := newEnv(t)
	if _, err := e.rsets.Create(e.ctx, newRS("web", 3)); err != nil {
		t.Fatal(err)
	}
	pods := e.waitPods("web", 3)
	if _, err := e.pods.Delete(e.ctx, pods[0].Name, api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("a replacement", func() (bool, string) {
		now := e.activePods("web")
		for _, p := range now {
			if p.Name == pods[0].Name {
				return false, "the deleted pod is still there"
			}
		}
		return len(now) == 3, fmt.Sprintf("%d pods", len(now))
	})
}

func TestAdoptsOrphanAndReleasesMismatch(t *testing.T) {
	e := newEnv(t)
	orphan := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "stray", Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := e.pods.Create(e.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	rs, err := e.rsets.Create(e.ctx, newRS("web", 2))
	if err != nil {
		t.Fatal(err)
	}
	pods := e.waitPods("web", 2)
	adopted := false
	for _, p := range pods {
		if p.Name == "stray" {
			adopted = true
			if ref := api.ControllerOf(&p.ObjectMeta); ref == nil || ref.UID != rs.UID {
				t.Errorf("stray pod owner references %+v, want controller %s", p.OwnerReferences, rs.UID)
			}
		}
	}
	if !adopted {
		t.Fatalf("pods %v: the orphan was not adopted", names(pods))
	}

	// Relabel the adopted pod: it is released and replaced.
	err = client.RetryOnConflict(e.ctx, func() error {
		p, err := e.pods.Get(e.ctx, "stray")
		if err != nil {
			return err
		}
		p.Labels = map[string]string{"app": "other"}
		_, err = e.pods.Update(e.ctx, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("the stray pod released", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "stray")
		return err == nil && len(p.OwnerReferences) == 0, fmt.Sprintf("%+v %v", p.OwnerReferences, err)
	})
	e.waitPods("web", 2)
}

func names(pods []*api.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

func TestMinReadySecondsRequeues(t *testing.T) {
	e := newEnv(t)
	rs := newRS("web", 1)
	rs.Spec.MinReadySeconds = 1
	if _, err := e.rsets.Create(e.ctx, rs); err != nil {
		t.Fatal(err)
	}
	pods := e.waitPods("web", 1)
	// Ready from now: available only once a whole second has passed,
	// with no other event to wake the controller.
	e.setReady(e.bind(pods[0]), time.Now())
	e.eventually("ready, not yet available", func() (bool, string) {
		got, _ := e.rsets.Get(e.ctx, "web")
		return got.Status.ReadyReplicas == 1, fmt.Sprintf("%+v", got.Status)
	})
	e.eventually("available after minReadySeconds", func() (bool, string) {
		got, _ := e.rsets.Get(e.ctx, "web")
		return got.Status.AvailableReplicas == 1, fmt.Sprintf("%+v", got.Status)
	})
}
