package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

func ref[T any](v T) *T { return &v }

func priorityClass(name string, value int32, opts ...func(*api.PriorityClass)) *api.PriorityClass {
	pc := &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: name}, Value: value}
	for _, o := range opts {
		o(pc)
	}
	return pc
}

func globalDefault(pc *api.PriorityClass) { pc.GlobalDefault = true }

func neverPreempts(pc *api.PriorityClass) { pc.PreemptionPolicy = ref(api.PreemptNever) }

func podSpec(f func(s *api.PodSpec)) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}, Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if f != nil {
		f(&p.Spec)
	}
	return p
}

// fieldOf returns the single field an invalid error names, or "".
func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error %v is not an InvalidError", err)
	}
	if len(inv.Errs) != 1 {
		t.Fatalf("error %v: want one field error", err)
	}
	return inv.Errs[0].Field
}

func TestPodPriorityAdmission(t *testing.T) {
	tests := []struct {
		name    string
		classes []*api.PriorityClass
		pod     *api.Pod
		// want: the stored class name, priority and policy; or wantField,
		// the field a refusal names.
		wantClass  string
		want       int32
		wantPolicy api.PreemptionPolicy
		wantField  string
	}{
		{name: "no class, no default", pod: podSpec(nil), want: 0, wantPolicy: api.PreemptLowerPriority},
		{name: "no class, priority 0 repeated", pod: podSpec(func(s *api.PodSpec) { s.Priority = ref[int32](0) }), want: 0, wantPolicy: api.PreemptLowerPriority},
		{name: "no class, a priority of its own", pod: podSpec(func(s *api.PodSpec) { s.Priority = ref[int32](10) }), wantField: "spec.priority"},
		{name: "named class", classes: []*api.PriorityClass{priorityClass("high", 1000)},
			pod: podSpec(func(s *api.PodSpec) { s.PriorityClassName = "high" }), wantClass: "high", want: 1000, wantPolicy: api.PreemptLowerPriority},
		{name: "named class that never preempts", classes: []*api.PriorityClass{priorityClass("batch", -10, neverPreempts)},
			pod: podSpec(func(s *api.PodSpec) { s.PriorityClassName = "batch" }), wantClass: "batch", want: -10, wantPolicy: api.PreemptNever},
		{name: "missing class", pod: podSpec(func(s *api.PodSpec) { s.PriorityClassName = "nope" }), wantField: "spec.priorityClassName"},
		{name: "priority disagrees with the class", classes: []*api.PriorityClass{priorityClass("high", 1000)},
			pod: podSpec(func(s *api.PodSpec) { s.PriorityClassName, s.Priority = "high", ref[int32](5) }), wantField: "spec.priority"},
		{name: "priority repeats the class", classes: []*api.PriorityClass{priorityClass("high", 1000)},
			pod:       podSpec(func(s *api.PodSpec) { s.PriorityClassName, s.Priority = "high", ref[int32](1000) }),
			wantClass: "high", want: 1000, wantPolicy: api.PreemptLowerPriority},
		{name: "policy disagrees with the class", classes: []*api.PriorityClass{priorityClass("high", 1000)},
			pod: podSpec(func(s *api.PodSpec) { s.PriorityClassName, s.PreemptionPolicy = "high", ref(api.PreemptNever) }), wantField: "spec.preemptionPolicy"},
		{name: "global default", classes: []*api.PriorityClass{priorityClass("high", 1000), priorityClass("normal", 100, globalDefault)},
			pod: podSpec(nil), wantClass: "normal", want: 100, wantPolicy: api.PreemptLowerPriority},
		{name: "named class over the default", classes: []*api.PriorityClass{priorityClass("high", 1000), priorityClass("normal", 100, globalDefault)},
			pod: podSpec(func(s *api.PodSpec) { s.PriorityClassName = "high" }), wantClass: "high", want: 1000, wantPolicy: api.PreemptLowerPriority},
		{name: "built-in class", pod: podSpec(func(s *api.PodSpec) { s.PriorityClassName = api.SystemNodeCritical }),
			wantClass: api.SystemNodeCritical, want: 2000001000, wantPolicy: api.PreemptLowerPriority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRegistry(t)
			if err := r.EnsurePriorityClasses(ctx); err != nil {
				t.Fatal(err)
			}
			for _, pc := range tt.classes {
				if _, err := r.Create(ctx, "priorityclasses", "", pc); err != nil {
					t.Fatal(err)
				}
			}
			got, err := r.Create(ctx, "pods", "default", tt.pod)
			if tt.wantField != "" {
				if f := fieldOf(t, err); f != tt.wantField {
					t.Errorf("refusal names %s, want %s (%v)", f, tt.wantField, err)
				}
				if !errdefs.IsInvalid(err) {
					t.Errorf("class of %v: want invalid (422)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := got.(*api.Pod).Spec
			if s.PriorityClassName != tt.wantClass || s.Priority == nil || *s.Priority != tt.want || s.PreemptionPolicy == nil || *s.PreemptionPolicy != tt.wantPolicy {
				t.Errorf("got class %q priority %v policy %v, want %q %d %s", s.PriorityClassName, deref(s.Priority), deref(s.PreemptionPolicy), tt.wantClass, tt.want, tt.wantPolicy)
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestMissingClassMessage(t *testing.T) {
	r, _ := newRegistry(t)
	_, err := r.Create(ctx, "pods", "default", podSpec(func(s *api.PodSpec) { s.PriorityClassName = "gold" }))
	if err == nil || !strings.Contains(err.Error(), `spec.priorityClassName: invalid value "gold": no PriorityClass of this name exists`) {
		t.Errorf("error %v, want one naming spec.priorityClassName and the class", err)
	}
}

// An update that leaves out what admission set keeps it; one that changes
// it is refused.
func TestPodUpdateKeepsPriority(t *testing.T) {
	r, _ := newRegistry(t)
	if _, err := r.Create(ctx, "priorityclasses", "", priorityClass("high", 1000)); err != nil {
		t.Fatal(err)
	}
	created, err := r.Create(ctx, "pods", "default", podSpec(func(s *api.PodSpec) { s.PriorityClassName = "high" }))
	if err != nil {
		t.Fatal(err)
	}
	p := api.Clone(created.(*api.Pod))
	p.Spec.Priority, p.Spec.PreemptionPolicy = nil, nil
	p.Labels = map[string]string{"a": "b"}
	got, err := r.Update(ctx, "pods", "default", p, "")
	if err != nil {
		t.Fatal(err)
	}
	if s := got.(*api.Pod).Spec; s.Priority == nil || *s.Priority != 1000 || s.PreemptionPolicy == nil {
		t.Errorf("update dropped the priority: %v %v", deref(s.Priority), deref(s.PreemptionPolicy))
	}
	p = api.Clone(got.(*api.Pod))
	p.Spec.Priority = ref[int32](1)
	if _, err := r.Update(ctx, "pods", "default", p, ""); fieldOf(t, err) != "spec.priority" {
		t.Errorf("changing the priority: %v, want refused at spec.priority", err)
	}
}

func TestPriorityClassRules(t *testing.T) {
	r, st := newRegistry(t)
	if err := r.EnsurePriorityClasses(ctx); err != nil {
		t.Fatal(err)
	}
	before := st.Stats()
	if err := r.EnsurePriorityClasses(ctx); err != nil {
		t.Fatal(err)
	}
	if after := st.Stats(); after.Commits != before.Commits {
		t.Errorf("second EnsurePriorityClasses committed: %+v → %+v", before, after)
	}
	for _, pc := range api.SystemPriorityClasses() {
		got, err := r.Get(ctx, "priorityclasses", "", pc.Name)
		if err != nil || got.(*api.PriorityClass).Value != pc.Value {
			t.Errorf("built-in %s: %v %v", pc.Name, got, err)
		}
		if _, err := r.Delete(ctx, "priorityclasses", "", pc.Name, api.DeleteOptions{}); !errdefs.IsForbidden(err) {
			t.Errorf("delete %s: %v, want forbidden", pc.Name, err)
		}
	}

	if _, err := r.Create(ctx, "priorityclasses", "", priorityClass("first", 10, globalDefault)); err != nil {
		t.Fatal(err)
	}
	_, err := r.Create(ctx, "priorityclasses", "", priorityClass("second", 20, globalDefault))
	if fieldOf(t, err) != "globalDefault" || !strings.Contains(err.Error(), `PriorityClass "first" is already the global default`) {
		t.Errorf("a second global default: %v, want refused naming the first", err)
	}
	if _, err := r.Create(ctx, "priorityclasses", "", priorityClass("second", 20)); err != nil {
		t.Fatal(err)
	}
	// Making the second the default by update is refused too, by patch
	// as well; re-saving the first as default is fine.
	if _, err := r.Patch(ctx, "priorityclasses", "", "second", []byte(`{"globalDefault":true}`), ""); fieldOf(t, err) != "globalDefault" {
		t.Errorf("patching a second default: %v", err)
	}
	if _, err := r.Patch(ctx, "priorityclasses", "", "first", []byte(`{"description":"still the default"}`), ""); err != nil {
		t.Errorf("updating the default: %v", err)
	}
	if _, err := r.Patch(ctx, "priorityclasses", "", "first", []byte(`{"value":11}`), ""); fieldOf(t, err) != "value" {
		t.Errorf("changing a value: %v, want refused", err)
	}
	if _, err := r.Patch(ctx, "priorityclasses", "", "first", []byte(`{"globalDefault":false}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Patch(ctx, "priorityclasses", "", "second", []byte(`{"globalDefault":true}`), ""); err != nil {
		t.Errorf("moving the default: %v", err)
	}
	if _, err := r.Create(ctx, "priorityclasses", "", priorityClass("system-mine", 1)); fieldOf(t, err) != "metadata.name" {
		t.Errorf("reserved name: %v", err)
	}
	if _, err := r.Create(ctx, "priorityclasses", "", priorityClass("huge", 1_000_000_001)); fieldOf(t, err) != "value" {
		t.Errorf("value above the user range: %v", err)
	}
	if _, err := r.Delete(ctx, "priorityclasses", "", "first", api.DeleteOptions{}); err != nil {
		t.Errorf("delete a user class: %v", err)
	}
}

// Admission filled priorityClassName from the global default; an update
// that leaves the admission-set fields out (a manifest applied again)
// keeps all three, and is not refused.
func TestUpdateKeepsAdmittedPriorityFields(t *testing.T) {
	r, _ := newRegistry(t)
	if _, err := r.Create(ctx, "priorityclasses", "", priorityClass("standard", 100, globalDefault)); err != nil {
		t.Fatal(err)
	}
	created, err := r.Create(ctx, "pods", "default", podSpec(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := api.Clone(created.(*api.Pod))
	p.Spec.Priority, p.Spec.PreemptionPolicy, p.Spec.PriorityClassName = nil, nil, ""
	p.Labels = map[string]string{"a": "b"}
	if _, err := r.Update(ctx, "pods", "default", p, ""); err != nil {
		t.Errorf("update leaving out what admission set: %v", err)
	}
}
