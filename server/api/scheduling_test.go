package api

import (
	"strings"
	"testing"
)

func testPriorityClass() *PriorityClass {
	pc := &PriorityClass{ObjectMeta: ObjectMeta{Name: "high"}, Value: 1000, Description: "batch jobs that may wait"}
	Default(pc)
	return pc
}

func TestDefaultPriorityClass(t *testing.T) {
	pc := &PriorityClass{ObjectMeta: ObjectMeta{Name: "high"}, Value: 10}
	Default(pc)
	if pc.APIVersion != "scheduling.k8s.io/v1" || pc.Kind != "PriorityClass" {
		t.Errorf("type meta %q %q, want scheduling.k8s.io/v1 PriorityClass", pc.APIVersion, pc.Kind)
	}
	if pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != PreemptLowerPriority {
		t.Errorf("preemptionPolicy %v, want PreemptLowerPriority", pc.PreemptionPolicy)
	}
	never := &PriorityClass{ObjectMeta: ObjectMeta{Name: "low"}, PreemptionPolicy: refOf(PreemptNever)}
	Default(never)
	if *never.PreemptionPolicy != PreemptNever {
		t.Errorf("a set policy was overwritten: %v", *never.PreemptionPolicy)
	}
	// A pod's policy is not defaulted here: the registry copies it from
	// the class on create.
	p := testPod(t)
	if p.Spec.PreemptionPolicy != nil || PreemptionPolicyOf(&p.Spec) != PreemptLowerPriority {
		t.Errorf("pod policy %v, want unset (PreemptLowerPriority)", p.Spec.PreemptionPolicy)
	}
}

func TestValidatePriorityClass(t *testing.T) {
	pc := func(f func(pc *PriorityClass)) Object { p := testPriorityClass(); f(p); return p }
	system := func(name string) Object {
		p, _ := systemPriorityClass(name)
		Default(p)
		return p
	}
	runValidationCases(t, []validationCase{
		{"the highest user value", pc(func(p *PriorityClass) { p.Value = HighestUserDefinablePriority }), nil},
		{"above the user range", pc(func(p *PriorityClass) { p.Value = HighestUserDefinablePriority + 1 }), []string{"value"}},
		{"negative value", pc(func(p *PriorityClass) { p.Value = -5 }), nil},
		{"global default", pc(func(p *PriorityClass) { p.GlobalDefault = true }), nil},
		{"bad preemption policy", pc(func(p *PriorityClass) { p.PreemptionPolicy = refOf(PreemptionPolicy("Always")) }), []string{"preemptionPolicy"}},
		{"empty preemption policy", pc(func(p *PriorityClass) { p.PreemptionPolicy = refOf(PreemptionPolicy("")) }), []string{"preemptionPolicy"}},
		{"preemption policy Never", pc(func(p *PriorityClass) { p.PreemptionPolicy = refOf(PreemptNever) }), nil},
		{"bad name", pc(func(p *PriorityClass) { p.Name = "High_Priority" }), []string{"metadata.name"}},
		{"in a namespace", pc(func(p *PriorityClass) { p.Namespace = "default" }), []string{"metadata.namespace"}},
		{"reserved prefix", pc(func(p *PriorityClass) { p.Name = "system-mine" }), []string{"metadata.name"}},
		{"built-in cluster critical", system(SystemClusterCritical), nil},
		{"built-in node critical", system(SystemNodeCritical), nil},
		{"built-in with another value", func() Object {
			p := system(SystemClusterCritical).(*PriorityClass)
			p.Value = 5
			return p
		}(), []string{"value"}},
		{"built-in as global default", func() Object {
			p := system(SystemNodeCritical).(*PriorityClass)
			p.GlobalDefault = true
			return p
		}(), []string{"globalDefault"}},
	})
	errs := Validate(pc(func(p *PriorityClass) { p.Name = "system-mine" }))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), SystemClusterCritical) {
		t.Errorf("reserved prefix: %v, want an error naming the built-in classes", errs)
	}
	if got := SystemPriorityClasses(); len(got) != 2 || got[0].Value != 2000001000 || got[1].Value != 2000000000 {
		t.Errorf("built-in classes %+v", got)
	}
}

func TestValidatePriorityClassUpdate(t *testing.T) {
	stored := func() *PriorityClass { p := testPriorityClass(); p.UID = "uid-1"; return p }
	tests := []struct {
		name string
		f    func(p *PriorityClass)
		want []string
	}{
		{"description", func(p *PriorityClass) { p.Description = "new words" }, nil},
		{"global default", func(p *PriorityClass) { p.GlobalDefault = true }, nil},
		{"value", func(p *PriorityClass) { p.Value++ }, []string{"value"}},
		{"preemption policy", func(p *PriorityClass) { p.PreemptionPolicy = refOf(PreemptNever) }, []string{"preemptionPolicy"}},
		{"preemption policy left out", func(p *PriorityClass) { p.PreemptionPolicy = nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := stored()
			n := Clone(old)
			tt.f(n)
			checkFieldPaths(t, ValidateUpdate(old, n), tt.want)
		})
	}
}

func TestPodPreemptionPolicyImmutable(t *testing.T) {
	old := testPod(t)
	old.UID = "uid-1"
	n := Clone(old)
	n.Spec.PreemptionPolicy = refOf(PreemptNever)
	n.Spec.Priority = refOf[int32](5)
	checkFieldPaths(t, ValidateUpdate(old, n), []string{"spec.priority", "spec.preemptionPolicy"})
}
