package registry

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/store"
)

var ctx = context.Background()

func newRegistry(t *testing.T) (*Registry, *store.Bolt) {
	t.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	return r, st
}

func TestEnsureNamespacesWritesOnce(t *testing.T) {
	r, st := newRegistry(t)
	before := st.Stats()
	if err := r.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	if after := st.Stats(); after.Commits != before.Commits {
		t.Errorf("second EnsureNamespaces committed: %+v → %+v", before, after)
	}
	for _, ns := range SystemNamespaces() {
		if _, err := r.Delete(ctx, "namespaces", "", ns, api.DeleteOptions{}); !errdefs.IsForbidden(err) {
			t.Errorf("delete %s: %v, want forbidden", ns, err)
		}
	}
}

func TestCreateRules(t *testing.T) {
	r, _ := newRegistry(t)
	cm := func(ns string) *api.ConfigMap {
		return &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: ns}}
	}
	got, err := r.Create(ctx, "configmaps", "default", cm(""))
	if err != nil || got.GetObjectMeta().Namespace != "default" {
		t.Fatalf("create with namespace from the path: %v %v", got, err)
	}
	if _, err := r.Create(ctx, "configmaps", "missing", cm("")); !errdefs.IsNotFound(err) {
		t.Errorf("create in a missing namespace: %v, want not found", err)
	}
	if _, err := r.Create(ctx, "configmaps", "default", cm("other")); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Errorf("namespace mismatch: %v, want bad request", err)
	}
	if _, err := r.Create(ctx, "pods", "default", cm("")); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Errorf("configmap sent to pods: %v, want bad request", err)
	}
	if _, err := r.Create(ctx, "nodes", "default", &api.Node{ObjectMeta: api.ObjectMeta{Name: "n"}}); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Errorf("node under a namespace: %v, want bad request", err)
	}
	bad := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "Bad_Name"}, Spec: api.PodSpec{Containers: []api.Container{{Name: "c"}}}}
	_, err = r.Create(ctx, "pods", "default", bad)
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.Kind != "Pod" || inv.Name != "Bad_Name" || len(inv.Errs) < 2 {
		t.Errorf("invalid pod: %v, want an InvalidError naming the pod and each field", err)
	}
}

// TestPatchRetriesOnConflict: concurrent patches of different fields all
// land, none lost to a conflict.
func TestPatchRetriesOnConflict(t *testing.T) {
	r, _ := newRegistry(t)
	r.Create(ctx, "configmaps", "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c"}})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Patch(ctx, "configmaps", "default", "c", []byte(fmt.Sprintf(`{"data":{"k%d":"v"}}`, i)), "")
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("patch: %v", err)
	}
	got, _ := r.Get(ctx, "configmaps", "default", "c")
	if n := len(got.(*api.ConfigMap).Data); n != 20 {
		t.Errorf("%d of 20 concurrent patches landed", n)
	}
	// A patch that pins a stale resourceVersion is the caller's conflict.
	if _, err := r.Patch(ctx, "configmaps", "default", "c", []byte(`{"metadata":{"resourceVersion":"1"},"data":{"x":"y"}}`), ""); !errdefs.IsConflict(err) {
		t.Errorf("patch with a stale resourceVersion: %v, want conflict", err)
	}
}

func TestCallersObjectUnchanged(t *testing.T) {
	r, _ := newRegistry(t)
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}, Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := r.Create(ctx, "pods", "default", p); err != nil {
		t.Fatal(err)
	}
	if p.Namespace != "" || p.Spec.RestartPolicy != "" || p.ResourceVersion != "" {
		t.Errorf("Create changed the caller's pod: namespace %q restartPolicy %q rv %q", p.Namespace, p.Spec.RestartPolicy, p.ResourceVersion)
	}
	got, _ := r.Get(ctx, "pods", "default", "p")
	upd := api.Clone(got.(*api.Pod))
	upd.Spec.RestartPolicy = ""
	if _, err := r.Update(ctx, "pods", "default", upd, ""); err != nil {
		t.Fatal(err)
	}
	if upd.Spec.RestartPolicy != "" {
		t.Error("Update changed the caller's pod")
	}
}

// A status write validates the object as it will be stored: a stale spec
// in the request cannot make it fail.
func TestStatusUpdateIgnoresStaleSpec(t *testing.T) {
	r, _ := newRegistry(t)
	r.Create(ctx, "pods", "default", &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}})
	got, _ := r.Get(ctx, "pods", "default", "p")
	st := api.Clone(got.(*api.Pod))
	st.Spec.Containers[0].Name = "renamed" // an immutable field; ignored by a status write
	st.Status.Phase = "Running"
	out, err := r.Update(ctx, "pods", "default", st, "status")
	if err != nil {
		t.Fatalf("status update with a stale spec: %v", err)
	}
	if p := out.(*api.Pod); p.Status.Phase != "Running" || p.Spec.Containers[0].Name != "c" {
		t.Errorf("stored %q %q, want Running and the old spec", p.Status.Phase, p.Spec.Containers[0].Name)
	}
	bad := api.Clone(out.(*api.Pod))
	bad.Status.Phase = "Sleepy"
	if _, err := r.Update(ctx, "pods", "default", bad, "status"); !errdefs.IsInvalid(err) {
		t.Errorf("status with a bad phase: %v, want invalid", err)
	}
}

// A Job's selector is generated from its UID at create, so a later spec
// update (suspend) does not trip the immutable-selector rule.
func TestJobSelectorGeneratedAtCreate(t *testing.T) {
	reg, st := newRegistry(t)
	defer st.Close()
	ctx := context.Background()
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: "j", Namespace: "default", UID: "chosen-by-the-client"},
		Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever,
			Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}
	obj, err := reg.Create(ctx, "jobs", "default", j)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*api.Job)
	if got.UID == "chosen-by-the-client" || got.UID == "" {
		t.Fatalf("uid %q: the server must choose it", got.UID)
	}
	if got.Spec.Selector == nil || got.Spec.Selector.MatchLabels[api.JobControllerUIDLabel] != got.UID ||
		got.Spec.Template.Labels[api.JobControllerUIDLabel] != got.UID {
		t.Fatalf("selector %+v, template labels %v: want both made from uid %s", got.Spec.Selector, got.Spec.Template.Labels, got.UID)
	}
	yes := true
	got.Spec.Suspend = &yes
	if _, err := reg.Update(ctx, "jobs", "default", got, ""); err != nil {
		t.Fatalf("suspend a job: %v", err)
	}
}
