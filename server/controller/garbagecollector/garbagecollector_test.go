package garbagecollector

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/replicaset"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// env is a real store and registry in a temporary directory with the
// collector (and, if asked, the replica set controller) running on it.
type env struct {
	t   testing.TB
	ctx context.Context
	reg *registry.Registry
}

func newEnv(t testing.TB, withReplicaSets bool) *env {
	t.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, reg: reg}
	var runs []func(context.Context) error
	gc, err := New(Config{Backend: reg, Resync: time.Second, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	runs = append(runs, gc.Run)
	if withReplicaSets {
		rsc, err := replicaset.New(replicaset.Config{Backend: reg, Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, rsc.Run)
	}
	done := make(chan error, len(runs))
	for _, run := range runs {
		go func() { done <- run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for range runs {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
		st.Close()
	})
	return e
}

func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

func (e *env) create(obj api.Object) api.Object {
	e.t.Helper()
	k, err := api.KindOf(obj)
	if err != nil {
		e.t.Fatal(err)
	}
	ns := obj.GetObjectMeta().Namespace
	if k.Namespaced && ns == "" {
		ns = "default"
	}
	out, err := e.reg.Create(e.ctx, k.Resource, ns, obj)
	if err != nil {
		e.t.Fatalf("create %s %s: %v", k.Kind, obj.GetObjectMeta().Name, err)
	}
	return out
}

func (e *env) get(obj api.Object) (api.Object, error) {
	k, _ := api.KindOf(obj)
	m := obj.GetObjectMeta()
	return e.reg.Get(e.ctx, k.Resource, m.Namespace, m.Name)
}

func (e *env) gone(obj api.Object) (bool, string) {
	_, err := e.get(obj)
	return errdefs.IsNotFound(err), fmt.Sprintf("%s %s: err %v", obj.GetObjectMeta().Name, obj.GetTypeMeta().Kind, err)
}

func (e *env) del(obj api.Object) { e.delete(obj, "") }

// delete deletes obj through the API with a propagation policy and
// returns the answer: the object's last state, or its state while
// its finalizers hold it.
func (e *env) delete(obj api.Object, policy string) api.Object {
	e.t.Helper()
	k, _ := api.KindOf(obj)
	m := obj.GetObjectMeta()
	out, err := e.reg.Delete(e.ctx, k.Resource, m.Namespace, m.Name, api.DeleteOptions{PropagationPolicy: policy})
	if err != nil {
		e.t.Fatalf("delete %s %s (%s): %v", k.Kind, m.Name, policy, err)
	}
	return out
}

func refTo(owner api.Object, controller, block bool) api.OwnerReference {
	tm, m := owner.GetTypeMeta(), owner.GetObjectMeta()
	return api.OwnerReference{APIVersion: tm.APIVersion, Kind: tm.Kind, Name: m.Name, UID: m.UID, Controller: &controller, BlockOwnerDeletion: &block}
}

func template(app string) api.PodTemplateSpec {
	var t api.PodTemplateSpec
	t.Labels = map[string]string{"app": app}
	t.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	return t
}

func selector(app string) *api.LabelSelector {
	return &api.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

func newPod(name string, owners ...api.OwnerReference) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: owners},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
}

func newRS(name string, n int32, owners ...api.OwnerReference) *api.ReplicaSet {
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: owners}}
	rs.Spec.Replicas = &n
	rs.Spec.Selector = selector(name)
	rs.Spec.Template = template(name)
	return rs
}

func newJob(name string, owners ...api.OwnerReference) *api.Job {
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: owners}}
	j.Spec.Template = template(name)
	j.Spec.Template.Spec.RestartPolicy = api.RestartPolicyNever
	return j
}

func TestEveryKindWatched(t *testing.T) {
	for _, k := range api.Kinds() {
		_, ok := newKindCache(k, client.NewInformers(&registry.Registry{}, nil), nil)
		if want := k.Kind != "Event"; ok != want {
			t.Errorf("kind %s: watched = %v, want %v (add it to newKindCache)", k.Kind, ok, want)
		}
	}
}

// owners returns one of each owner kind whose dependents the test
// deletes in the background.
func owners() []struct {
	name      string
	owner     api.Object
	dependent func(owner api.OwnerReference) api.Object
} {
	one := int32(0)
	dep := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "d", Namespace: "default"}}
	dep.Spec.Replicas, dep.Spec.Selector, dep.Spec.Template = &one, selector("d"), template("d")
	sts := &api.StatefulSet{ObjectMeta: api.ObjectMeta{Name: "s", Namespace: "default"}}
	sts.Spec.Replicas, sts.Spec.Selector, sts.Spec.Template = &one, selector("s"), template("s")
	ds := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "ds", Namespace: "default"}}
	ds.Spec.Selector, ds.Spec.Template = selector("ds"), template("ds")
	cj := &api.CronJob{ObjectMeta: api.ObjectMeta{Name: "cj", Namespace: "default"}}
	cj.Spec.Schedule = "*/5 * * * *"
	cj.Spec.JobTemplate.Spec.Template = template("cj")
	cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = api.RestartPolicyNever
	pod := func(name string) func(api.OwnerReference) api.Object {
		return func(r api.OwnerReference) api.Object { return newPod(name, r) }
	}
	return []struct {
		name      string
		owner     api.Object
		dependent func(owner api.OwnerReference) api.Object
	}{
		{"Deployment→ReplicaSet", dep, func(r api.OwnerReference) api.Object { return newRS("d-1", 0, r) }},
		{"ReplicaSet→Pod", newRS("rs", 0), pod("rs-1")},
		{"StatefulSet→Pod", sts, pod("s-0")},
		{"DaemonSet→Pod", ds, pod("ds-1")},
		{"Job→Pod", newJob("j"), pod("j-1")},
		{"CronJob→Job", cj, func(r api.OwnerReference) api.Object { return newJob("cj-1", r) }},
	}
}

func TestBackgroundDeletesDependentsOfEveryKind(t *testing.T) {
	e := newEnv(t, false)
	var deps []api.Object
	for _, tc := range owners() {
		owner := e.create(tc.owner)
		deps = append(deps, e.create(tc.dependent(refTo(owner, true, true))))
	}
	// A bystander with no owner stays.
	bystander := e.create(newPod("bystander"))
	for _, tc := range owners() {
		e.del(tc.owner)
	}
	for i, d := range deps {
		e.eventually(owners()[i].name+": dependent deleted", func() (bool, string) { return e.gone(d) })
	}
	if gone, _ := e.gone(bystander); gone {
		t.Error("a pod with no owner was deleted")
	}
}

func TestOwnedObjectsStay(t *testing.T) {
	e := newEnv(t, false)
	rs := e.create(newRS("rs", 0))
	p := e.create(newPod("p", refTo(rs, true, true)))
	time.Sleep(300 * time.Millisecond)
	if gone, _ := e.gone(p); gone {
		t.Fatal("a pod whose owner exists was deleted")
	}
	// An owner of the same name but another UID is not its owner.
	e.del(rs)
	e.create(newRS("rs", 0))
	e.eventually("the pod of the old replica set deleted", func() (bool, string) { return e.gone(p) })
}

func TestDanglingBeforeStart(t *testing.T) {
	// Objects left over from before the collector started: one with an
	// owner that is long gone, one with an owner that exists.
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, _ := registry.New(registry.Config{Store: st})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, reg: reg}
	rs := e.create(newRS("rs", 0))
	kept := e.create(newPod("kept", refTo(rs, true, true)))
	ghost := refTo(rs, true, true)
	ghost.Name, ghost.UID = "ghost", "00000000-0000-4000-8000-000000000000"
	orphaned := e.create(newPod("orphaned", ghost))
	gc, err := New(Config{Backend: reg})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gc.Run(ctx) }()
	e.eventually("the pod with a gone owner deleted", func() (bool, string) { return e.gone(orphaned) })
	if gone, _ := e.gone(kept); gone {
		t.Error("the pod with an owner was deleted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestSolidOwnerKeepsDependent(t *testing.T) {
	e := newEnv(t, false)
	a := e.create(newRS("a", 0))
	b := e.create(newRS("b", 0))
	p := e.create(newPod("p", refTo(a, true, true), refTo(b, false, false)))
	e.del(a)
	e.eventually("the reference to the gone owner dropped", func() (bool, string) {
		got, err := e.get(p)
		if err != nil {
			return false, err.Error()
		}
		refs := got.GetObjectMeta().OwnerReferences
		return len(refs) == 1 && refs[0].UID == b.GetObjectMeta().UID, fmt.Sprintf("%+v", refs)
	})
}

// rsPods lists the pods labelled app=name.
func (e *env) rsPods(name string) []*api.Pod {
	e.t.Helper()
	pods, _, _, err := client.For[*api.Pod](e.reg, "default").List(e.ctx, api.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		e.t.Fatal(err)
	}
	return pods
}

func (e *env) waitRS(name string, n int) []*api.Pod {
	e.t.Helper()
	var pods []*api.Pod
	e.eventually(fmt.Sprintf("%d pods of %s", n, name), func() (bool, string) {
		pods = e.rsPods(name)
		return len(pods) == n, fmt.Sprintf("%d pods", len(pods))
	})
	return pods
}

func TestReplicaSetBackground(t *testing.T) {
	e := newEnv(t, true)
	rs := e.create(newRS("web", 3))
	e.waitRS("web", 3)
	e.del(rs)
	e.waitRS("web", 0)
}

func TestReplicaSetOrphan(t *testing.T) {
	e := newEnv(t, true)
	rs := e.create(newRS("web", 3))
	before := e.waitRS("web", 3)
	if got := e.delete(rs, "Orphan"); !slices.Contains(got.GetObjectMeta().Finalizers, api.FinalizerOrphan) {
		t.Fatalf("orphan delete: finalizers %v, want %s", got.GetObjectMeta().Finalizers, api.FinalizerOrphan)
	}
	e.eventually("the replica set removed", func() (bool, string) { return e.gone(rs) })
	// The pods stay, with no owner, and nobody deletes them afterwards.
	time.Sleep(300 * time.Millisecond)
	after := e.rsPods("web")
	if len(after) != 3 {
		t.Fatalf("%d pods left, want the 3", len(after))
	}
	for i, p := range after {
		if len(p.OwnerReferences) != 0 {
			t.Errorf("pod %s still has owner references %+v", p.Name, p.OwnerReferences)
		}
		if p.UID != before[i].UID {
			t.Errorf("pod %s is not the one from before", p.Name)
		}
	}
}

func TestReplicaSetForeground(t *testing.T) {
	e := newEnv(t, true)
	rs := e.create(newRS("web", 3))
	pods := e.waitRS("web", 3)
	// One pod is on a node: its deletion waits for its grace period, as
	// it would for an agent to stop it.
	bound := api.Clone(pods[0])
	bound.Spec.NodeName = "node1"
	if _, err := client.For[*api.Pod](e.reg, "default").Update(e.ctx, bound); err != nil {
		t.Fatal(err)
	}
	e.delete(rs, "Foreground")
	e.eventually("the unbound pods deleted, the bound one terminating", func() (bool, string) {
		left := e.rsPods("web")
		return len(left) == 1 && left[0].Name == bound.Name && left[0].DeletionTimestamp != nil, fmt.Sprintf("%d pods", len(left))
	})
	time.Sleep(200 * time.Millisecond)
	got, err := e.get(rs)
	if err != nil || got.GetObjectMeta().DeletionTimestamp == nil {
		t.Fatalf("replica set: %v, err %v; want it waiting for its pod", got, err)
	}
	// The "agent" finishes the pod.
	zero := int64(0)
	if _, err := client.For[*api.Pod](e.reg, "default").Delete(e.ctx, bound.Name, api.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the replica set removed after its pods", func() (bool, string) { return e.gone(rs) })
}

func TestForegroundChain(t *testing.T) {
	e := newEnv(t, false)
	zero := int32(0)
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "d", Namespace: "default"}}
	d.Spec.Replicas, d.Spec.Selector, d.Spec.Template = &zero, selector("d"), template("d")
	dep := e.create(d)
	rs := e.create(newRS("d-1", 0, refTo(dep, true, true)))
	p := e.create(newPod("d-1-a", refTo(rs, true, true)))
	bound := newPod("d-1-b", refTo(rs, true, true))
	bound.Spec.NodeName = "node1"
	pb := e.create(bound)
	e.delete(dep, "Foreground")
	e.eventually("the unbound pod deleted", func() (bool, string) { return e.gone(p) })
	// The replica set waits on the bound pod, the deployment on the
	// replica set.
	time.Sleep(200 * time.Millisecond)
	for _, o := range []api.Object{dep, rs} {
		got, err := e.get(o)
		if err != nil || got.GetObjectMeta().DeletionTimestamp == nil {
			t.Fatalf("%s: err %v; want it present and being deleted", o.GetObjectMeta().Name, err)
		}
	}
	zero64 := int64(0)
	if _, err := client.For[*api.Pod](e.reg, "default").Delete(e.ctx, pb.GetObjectMeta().Name, api.DeleteOptions{GracePeriodSeconds: &zero64}); err != nil {
		t.Fatal(err)
	}
	e.eventually("the replica set removed", func() (bool, string) { return e.gone(rs) })
	e.eventually("the deployment removed", func() (bool, string) { return e.gone(dep) })
}

func TestNamespaceDeletion(t *testing.T) {
	e := newEnv(t, true)
	ns := e.create(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "doomed"}})
	rs := newRS("web", 3)
	rs.Namespace = "doomed"
	e.create(rs)
	cm := e.create(&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "cfg", Namespace: "doomed"}, Data: map[string]string{"a": "b"}})
	keep := e.create(&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "cfg", Namespace: "default"}})
	pods := client.For[*api.Pod](e.reg, "doomed")
	e.eventually("3 pods in the namespace", func() (bool, string) {
		l, _, _, _ := pods.List(e.ctx, api.ListOptions{})
		return len(l) == 3, fmt.Sprintf("%d pods", len(l))
	})
	// A plain delete: the namespace turns Terminating, held by the
	// collector's finalizer, and takes no new objects.
	got := e.delete(ns, "").(*api.Namespace)
	if got.DeletionTimestamp == nil || got.Status.Phase != api.NamespaceTerminating || !slices.Contains(got.Finalizers, api.FinalizerNamespace) {
		t.Fatalf("deleted namespace: deletionTimestamp %v phase %q finalizers %v; want set, Terminating, %s",
			got.DeletionTimestamp, got.Status.Phase, got.Finalizers, api.FinalizerNamespace)
	}
	late := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "late", Namespace: "doomed"}}
	if _, err := e.reg.Create(e.ctx, "configmaps", "doomed", late); !errdefs.IsForbidden(err) && !errdefs.IsNotFound(err) {
		t.Errorf("create in a namespace being deleted: %v, want forbidden (or not found, if it is gone already)", err)
	}
	e.eventually("the namespace removed", func() (bool, string) { return e.gone(ns) })
	for _, k := range api.Kinds() {
		if !k.Namespaced {
			continue
		}
		l, err := e.reg.List(e.ctx, k.Resource, "doomed", api.ListOptions{})
		if err != nil || len(l.Items) != 0 {
			t.Errorf("%s left in the deleted namespace: %d (err %v)", k.Resource, len(l.Items), err)
		}
	}
	if gone, _ := e.gone(cm); !gone {
		t.Error("the config map in the namespace survived")
	}
	if gone, _ := e.gone(keep); gone {
		t.Error("a config map in another namespace was deleted")
	}
	// The name is free again.
	e.create(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "doomed"}})
}

// An empty namespace goes through the same steps, quickly.
func TestEmptyNamespaceDeletion(t *testing.T) {
	e := newEnv(t, false)
	ns := e.create(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "empty"}})
	e.del(ns)
	e.eventually("the empty namespace removed", func() (bool, string) { return e.gone(ns) })
}
