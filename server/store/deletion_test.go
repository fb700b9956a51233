package store

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func cmKey(name string) api.Key {
	return api.Key{Resource: "configmaps", Namespace: "default", Name: name}
}

// removeFinalizers stores obj's current state without its finalizers.
func removeFinalizers(t *testing.T, s *Bolt, key api.Key) (api.Object, error) {
	t.Helper()
	live, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	live.GetObjectMeta().Finalizers = nil
	return s.Update(ctx, live, UpdateOptions{})
}

func TestDeletePropagationPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy     string
		finalizers []string // before the delete
		want       []string // after it; nil: deleted at once
	}{
		{"", nil, nil},
		{"Background", nil, nil},
		{"Foreground", nil, []string{api.FinalizerForeground}},
		{"Orphan", nil, []string{api.FinalizerOrphan}},
		{"Foreground", []string{"skiff.dev/test", api.FinalizerOrphan}, []string{"skiff.dev/test", api.FinalizerForeground}},
		{"Orphan", []string{api.FinalizerForeground, "skiff.dev/test"}, []string{"skiff.dev/test", api.FinalizerOrphan}},
		{"Orphan", []string{api.FinalizerOrphan}, []string{api.FinalizerOrphan}},
		{"Background", []string{api.FinalizerOrphan, "skiff.dev/test"}, []string{"skiff.dev/test"}},
		{"", []string{api.FinalizerOrphan}, []string{api.FinalizerOrphan}},
	} {
		name := tc.policy + "/" + strings.Join(tc.finalizers, ",")
		t.Run(name, func(t *testing.T) {
			s := newStore(t, Config{})
			s.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default", Finalizers: tc.finalizers}})
			w, _ := s.Watch(ctx, "configmaps", WatchOptions{})
			defer w.Stop()
			got, err := s.Delete(ctx, cmKey("c"), api.DeleteOptions{PropagationPolicy: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if _, err := s.Get(ctx, cmKey("c")); !errdefs.IsNotFound(err) {
					t.Errorf("Get after delete: %v, want not found", err)
				}
				wantTypes(t, w, api.Deleted)
				return
			}
			m := got.GetObjectMeta()
			if !slices.Equal(m.Finalizers, tc.want) || m.DeletionTimestamp == nil {
				t.Fatalf("after delete: finalizers %v deletionTimestamp %v, want %v and set", m.Finalizers, m.DeletionTimestamp, tc.want)
			}
			live, err := s.Get(ctx, cmKey("c"))
			if err != nil || !slices.Equal(live.GetObjectMeta().Finalizers, tc.want) {
				t.Fatalf("stored: %v, err %v; want it there with finalizers %v", live, err, tc.want)
			}
			// The finalizers and the deletionTimestamp came in one write.
			wantTypes(t, w, api.Modified)
			if _, err := removeFinalizers(t, s, cmKey("c")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, cmKey("c")); !errdefs.IsNotFound(err) {
				t.Errorf("after its finalizers were removed, Get: %v, want not found", err)
			}
			wantTypes(t, w, api.Deleted)
		})
	}
}

// A second delete with another policy changes the finalizers (and only
// they: the deletionTimestamp stays); one with the same policy, or none,
// writes nothing.
func TestDeleteSwitchesPolicy(t *testing.T) {
	s := newStore(t, Config{})
	s.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default"}})
	first, err := s.Delete(ctx, cmKey("c"), api.DeleteOptions{PropagationPolicy: "Foreground"})
	if err != nil {
		t.Fatal(err)
	}
	ts := first.GetObjectMeta().DeletionTimestamp
	for _, step := range []struct {
		policy string
		want   []string
		write  bool
	}{
		{"Foreground", []string{api.FinalizerForeground}, false},
		{"", []string{api.FinalizerForeground}, false},
		{"Orphan", []string{api.FinalizerOrphan}, true},
		{"Orphan", []string{api.FinalizerOrphan}, false},
		{"Foreground", []string{api.FinalizerForeground}, true},
	} {
		before := s.Stats()
		got, err := s.Delete(ctx, cmKey("c"), api.DeleteOptions{PropagationPolicy: step.policy})
		if err != nil {
			t.Fatalf("delete %q: %v", step.policy, err)
		}
		m := got.GetObjectMeta()
		if !slices.Equal(m.Finalizers, step.want) {
			t.Errorf("delete %q: finalizers %v, want %v", step.policy, m.Finalizers, step.want)
		}
		if m.DeletionTimestamp == nil || !m.DeletionTimestamp.Equal(ts.Time) {
			t.Errorf("delete %q: deletionTimestamp %v, want it kept at %v", step.policy, m.DeletionTimestamp, ts)
		}
		if wrote := s.Stats() != before; wrote != step.write {
			t.Errorf("delete %q: wrote = %v, want %v", step.policy, wrote, step.write)
		}
	}
	// Background takes the last finalizer back: the object goes.
	if _, err := s.Delete(ctx, cmKey("c"), api.DeleteOptions{PropagationPolicy: "Background"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, cmKey("c")); !errdefs.IsNotFound(err) {
		t.Errorf("after a Background delete took back the finalizer, Get: %v, want not found", err)
	}
}

func TestDeleteUnknownPolicy(t *testing.T) {
	s := newStore(t, Config{})
	s.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "default"}})
	before := s.Stats()
	_, err := s.Delete(ctx, cmKey("c"), api.DeleteOptions{PropagationPolicy: "Sideways"})
	var fe api.FieldErrors
	if !errors.As(err, &fe) || !errdefs.IsInvalid(err) || len(fe) != 1 || fe[0].Field != "propagationPolicy" {
		t.Fatalf("unknown policy: %v, want one invalid-field error on propagationPolicy", err)
	}
	for _, v := range []string{"Sideways", "Background", "Foreground", "Orphan"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
	if s.Stats() != before {
		t.Error("a refused delete wrote")
	}
	if _, err := s.Get(ctx, cmKey("c")); err != nil {
		t.Errorf("the object is gone after a refused delete: %v", err)
	}
}

// A pod on a node keeps its grace period when a policy adds a finalizer:
// it goes once both are over, whichever ends last.
func TestDeletePodGraceWithFinalizers(t *testing.T) {
	s := newStore(t, Config{})
	s.Create(ctx, pod("default", "a", "n1", nil))
	s.Create(ctx, pod("default", "b", "n1", nil))
	zero := int64(0)

	// a: the finalizer goes first, then the agent ends the grace period.
	got, err := s.Delete(ctx, podKey("default", "a"), api.DeleteOptions{PropagationPolicy: "Foreground"})
	if err != nil {
		t.Fatal(err)
	}
	m := got.GetObjectMeta()
	if m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != 30 || !slices.Equal(m.Finalizers, []string{api.FinalizerForeground}) {
		t.Fatalf("foreground delete of a bound pod: grace %v finalizers %v, want 30 and [foregroundDeletion]", m.DeletionGracePeriodSeconds, m.Finalizers)
	}
	if _, err := removeFinalizers(t, s, podKey("default", "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, podKey("default", "a")); err != nil {
		t.Fatalf("pod removed before its grace period was over: %v", err)
	}
	if _, err := s.Delete(ctx, podKey("default", "a"), api.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, podKey("default", "a")); !errdefs.IsNotFound(err) {
		t.Errorf("pod a after grace 0 and no finalizers: %v, want not found", err)
	}

	// b: the agent ends the grace period first, then the finalizer goes.
	if _, err := s.Delete(ctx, podKey("default", "b"), api.DeleteOptions{PropagationPolicy: "Orphan"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.Delete(ctx, podKey("default", "b"), api.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil {
		t.Fatal(err)
	}
	m = got.GetObjectMeta()
	if m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds != 0 || !slices.Equal(m.Finalizers, []string{api.FinalizerOrphan}) {
		t.Fatalf("grace 0 delete of a pod with a finalizer: grace %v finalizers %v, want 0 and [orphan], still there", m.DeletionGracePeriodSeconds, m.Finalizers)
	}
	if _, err := removeFinalizers(t, s, podKey("default", "b")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, podKey("default", "b")); !errdefs.IsNotFound(err) {
		t.Errorf("pod b after its finalizer was removed: %v, want not found", err)
	}
}

func TestDeleteNamespace(t *testing.T) {
	s := newStore(t, Config{})
	nsKey := api.Key{Resource: "namespaces", Name: "team"}
	s.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team"}, Status: api.NamespaceStatus{Phase: api.NamespaceActive}})
	if _, err := s.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", Namespace: "team"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, nsKey, api.DeleteOptions{PropagationPolicy: "Orphan"}); !errdefs.IsInvalid(err) {
		t.Errorf("orphan delete of a namespace: %v, want invalid", err)
	}
	got, err := s.Delete(ctx, nsKey, api.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns := got.(*api.Namespace)
	if ns.DeletionTimestamp == nil || !slices.Equal(ns.Finalizers, []string{api.FinalizerNamespace}) || ns.Status.Phase != api.NamespaceTerminating {
		t.Fatalf("deleted namespace: deletionTimestamp %v finalizers %v phase %q; want set, [%s], Terminating",
			ns.DeletionTimestamp, ns.Finalizers, ns.Status.Phase, api.FinalizerNamespace)
	}
	// Nothing new gets in; what is there can still be changed and deleted.
	if _, err := s.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "d", Namespace: "team"}}); !errdefs.IsForbidden(err) {
		t.Errorf("create in a terminating namespace: %v, want forbidden", err)
	}
	if _, err := s.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "d", Namespace: "elsewhere"}}); err != nil {
		t.Errorf("create in another namespace: %v", err)
	}
	if _, err := s.Delete(ctx, api.Key{Resource: "configmaps", Namespace: "team", Name: "c"}, api.DeleteOptions{}); err != nil {
		t.Errorf("delete in a terminating namespace: %v", err)
	}
	// A second delete changes nothing; Foreground is what a namespace
	// does anyway.
	before := s.Stats()
	if _, err := s.Delete(ctx, nsKey, api.DeleteOptions{PropagationPolicy: "Foreground"}); err != nil {
		t.Fatal(err)
	}
	if s.Stats() != before {
		t.Error("a second delete of a terminating namespace wrote")
	}
	if _, err := removeFinalizers(t, s, nsKey); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, nsKey); !errdefs.IsNotFound(err) {
		t.Errorf("namespace after its finalizer was removed: %v, want not found", err)
	}
}
