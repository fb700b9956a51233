package registry

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestDeletePropagationPolicy(t *testing.T) {
	r, _ := newRegistry(t)
	for _, tc := range []struct {
		policy string
		want   []string // nil: deleted at once
	}{
		{"", nil},
		{"Background", nil},
		{"Foreground", []string{api.FinalizerForeground}},
		{"Orphan", []string{api.FinalizerOrphan}},
	} {
		name := "c" + strings.ToLower(tc.policy)
		if _, err := r.Create(ctx, "configmaps", "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
		got, err := r.Delete(ctx, "configmaps", "default", name, api.DeleteOptions{PropagationPolicy: tc.policy})
		if err != nil {
			t.Errorf("delete %q: %v", tc.policy, err)
			continue
		}
		live, err := r.Get(ctx, "configmaps", "default", name)
		if tc.want == nil {
			if !errdefs.IsNotFound(err) {
				t.Errorf("%q: Get after delete: %v, want not found", tc.policy, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: the object is gone at once: %v", tc.policy, err)
			continue
		}
		if m := got.GetObjectMeta(); m.DeletionTimestamp == nil || !slices.Equal(m.Finalizers, tc.want) {
			t.Errorf("%q: answer has deletionTimestamp %v finalizers %v, want set and %v", tc.policy, m.DeletionTimestamp, m.Finalizers, tc.want)
		}
		// What the garbage collector does when it is done: remove its
		// finalizer by an ordinary update. The store removes the object.
		live.GetObjectMeta().Finalizers = nil
		if _, err := r.Update(ctx, "configmaps", "default", live, ""); err != nil {
			t.Errorf("%q: remove the finalizer: %v", tc.policy, err)
		}
		if _, err := r.Get(ctx, "configmaps", "default", name); !errdefs.IsNotFound(err) {
			t.Errorf("%q: Get after the finalizer went: %v, want not found", tc.policy, err)
		}
	}
}

func TestDeleteBadOptions(t *testing.T) {
	r, _ := newRegistry(t)
	r.Create(ctx, "configmaps", "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c"}})
	_, err := r.Delete(ctx, "configmaps", "default", "c", api.DeleteOptions{PropagationPolicy: "foreground"})
	var fe api.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != "propagationPolicy" || fe[0].Type != api.FieldNotSupported {
		t.Errorf("policy %q: %v, want a not-supported error on propagationPolicy", "foreground", err)
	} else if msg := err.Error(); !strings.Contains(msg, `"Background", "Foreground", "Orphan"`) {
		t.Errorf("error %q does not list the valid policies", msg)
	}
	neg := int64(-1)
	if _, err := r.Delete(ctx, "configmaps", "default", "c", api.DeleteOptions{GracePeriodSeconds: &neg}); !errors.Is(err, errdefs.ErrBadRequest) {
		t.Errorf("negative grace period: %v, want bad request", err)
	}
	if _, err := r.Get(ctx, "configmaps", "default", "c"); err != nil {
		t.Errorf("refused deletes removed the object: %v", err)
	}
}

func TestNamespaceDeletion(t *testing.T) {
	r, _ := newRegistry(t)
	for _, ns := range SystemNamespaces() {
		if _, err := r.Delete(ctx, "namespaces", "", ns, api.DeleteOptions{}); !errdefs.IsForbidden(err) {
			t.Errorf("delete system namespace %s: %v, want forbidden", ns, err)
		}
		got, err := r.Get(ctx, "namespaces", "", ns)
		if err != nil || got.GetObjectMeta().DeletionTimestamp != nil {
			t.Errorf("system namespace %s after a refused delete: %v, err %v", ns, got, err)
		}
	}

	if _, err := r.Create(ctx, "namespaces", "", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, "configmaps", "team", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Delete(ctx, "namespaces", "", "team", api.DeleteOptions{PropagationPolicy: "Orphan"}); !errdefs.IsInvalid(err) {
		t.Errorf("orphan delete of a namespace: %v, want invalid", err)
	}
	got, err := r.Delete(ctx, "namespaces", "", "team", api.DeleteOptions{})
	if err != nil {
		t.Fatalf("delete a namespace that holds objects: %v", err)
	}
	ns := got.(*api.Namespace)
	if ns.DeletionTimestamp == nil || !slices.Equal(ns.Finalizers, []string{api.FinalizerNamespace}) || ns.Status.Phase != api.NamespaceTerminating {
		t.Fatalf("deleted namespace: deletionTimestamp %v finalizers %v phase %q; want set, [%s], Terminating",
			ns.DeletionTimestamp, ns.Finalizers, ns.Status.Phase, api.FinalizerNamespace)
	}
	if _, err := r.Create(ctx, "configmaps", "team", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "d"}}); !errdefs.IsForbidden(err) {
		t.Errorf("create in a terminating namespace: %v, want forbidden", err)
	}
	// What the garbage collector does: delete what is in it, then
	// remove the finalizer.
	if _, err := r.Delete(ctx, "configmaps", "team", "c", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	live, err := r.Get(ctx, "namespaces", "", "team")
	if err != nil {
		t.Fatalf("the namespace went before its finalizer: %v", err)
	}
	live.GetObjectMeta().Finalizers = nil
	if _, err := r.Update(ctx, "namespaces", "", live, ""); err != nil {
		t.Fatalf("remove the namespace finalizer: %v", err)
	}
	if _, err := r.Get(ctx, "namespaces", "", "team"); !errdefs.IsNotFound(err) {
		t.Errorf("namespace after its finalizer was removed: %v, want not found", err)
	}
	if _, err := r.Create(ctx, "configmaps", "team", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "d"}}); !errdefs.IsNotFound(err) {
		t.Errorf("create in the removed namespace: %v, want not found", err)
	}
}
