package owner

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/registry"
)

func newRegistry(t *testing.T) *registry.Registry {
	reg, _, _ := controllertest.Registry(t, time.Minute)
	return reg
}

func TestAdoptAndRelease(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	cm, err := client.For[*api.ConfigMap](reg, "default").Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "owner"}})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := canAdopt[*api.ConfigMap](ctx, reg, "default", "owner", cm.UID); !ok || err != nil {
		t.Errorf("canAdopt(the owner) = %v, %v; want true", ok, err)
	}
	if ok, err := canAdopt[*api.ConfigMap](ctx, reg, "default", "owner", "another-uid"); ok || err != nil {
		t.Errorf("canAdopt(a namesake) = %v, %v; want false", ok, err)
	}
	if ok, err := canAdopt[*api.ConfigMap](ctx, reg, "default", "gone", "u"); ok || err != nil {
		t.Errorf("canAdopt(gone) = %v, %v; want false, nil", ok, err)
	}

	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}}
	pod.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	pod, err = client.For[*api.Pod](reg, "default").Create(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	ref := api.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID, Controller: &yes}
	if written, err := setController(ctx, reg, pod, ref, true); written == nil || err != nil {
		t.Fatalf("adopt = %v, %v; want written", written, err)
	}
	got, err := client.For[*api.Pod](reg, "default").Get(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if r := api.ControllerOf(&got.ObjectMeta); r == nil || r.UID != cm.UID {
		t.Fatalf("controller after adopt = %+v, want %s", r, cm.UID)
	}
	if written, err := setController(ctx, reg, got, ref, false); written == nil || err != nil {
		t.Fatalf("release = %v, %v; want written", written, err)
	}
	got, _ = client.For[*api.Pod](reg, "default").Get(ctx, "p")
	if len(got.OwnerReferences) != 0 {
		t.Errorf("owner references after release = %+v, want none", got.OwnerReferences)
	}
	gone := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "gone", Namespace: "default"}}
	if written, err := setController(ctx, reg, gone, ref, true); written != nil || err != nil {
		t.Errorf("adopt a pod that is gone = %v, %v; want not written, no error", written, err)
	}
}

func TestClaimAdoptsOnlyForALiveOwner(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}}
	pod.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	pod, err := client.For[*api.Pod](reg, "default").Create(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	ref := api.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "u1", Controller: &yes}
	adopted, err := Claim[*api.ConfigMap](ctx, reg, "config map", ref, "default", nil, []*api.Pod{pod}, nil)
	if err != nil || len(adopted) != 0 {
		t.Fatalf("claim for a missing owner = %d adopted, %v; want none, no error", len(adopted), err)
	}
	cm, err := client.For[*api.ConfigMap](reg, "default").Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "owner"}})
	if err != nil {
		t.Fatal(err)
	}
	ref.UID = cm.UID
	var heard []string
	adopted, err = Claim[*api.ConfigMap](ctx, reg, "config map", ref, "default", nil, []*api.Pod{pod}, func(p *api.Pod, adopted bool) {
		heard = append(heard, p.Name)
	})
	if err != nil || len(adopted) != 1 || len(heard) != 1 {
		t.Fatalf("claim for the owner = %d adopted (%q heard), %v; want 1", len(adopted), heard, err)
	}
}

// fakeOrphans is an OrphanIndexer over a list, filed by OrphanIndex.
type fakeOrphans []*api.Pod

func (f fakeOrphans) ByIndex(index, ns string) []*api.Pod {
	var out []*api.Pod
	for _, p := range f {
		if index == ByOrphanNamespace && slices.Contains(OrphanIndex(p), ns) {
			out = append(out, p)
		}
	}
	return out
}

func TestAdoptOrphans(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	cm, err := client.For[*api.ConfigMap](reg, "default").Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "owner"}})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	ref := api.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID, Controller: &yes}
	mk := func(name string, labels map[string]string, phase api.PodPhase) *api.Pod {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
		p, err := client.For[*api.Pod](reg, "default").Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if phase != "" {
			p.Status.Phase = phase
			if p, err = client.For[*api.Pod](reg, "default").UpdateStatus(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	app := map[string]string{"app": "a"}
	pods := fakeOrphans{
		mk("match", app, ""),
		mk("skip", app, ""),
		mk("other", map[string]string{"app": "b"}, ""),
		mk("done", app, api.PodSucceeded),
	}
	sel := &api.LabelSelector{MatchLabels: app}
	keep := func(p *api.Pod) bool { return p.Name != "skip" }
	adopted, err := AdoptOrphans[*api.ConfigMap](ctx, reg, pods, "config map", ref, "default", sel, true, keep)
	if err != nil || len(adopted) != 0 {
		t.Fatalf("adopt while deleting = %d, %v; want none", len(adopted), err)
	}
	adopted, err = AdoptOrphans[*api.ConfigMap](ctx, reg, pods, "config map", ref, "default", sel, false, keep)
	if err != nil {
		t.Fatal(err)
	}
	if len(adopted) != 1 || adopted[0].Name != "match" {
		t.Fatalf("adopted %d pods, want only match", len(adopted))
	}
	if r := api.ControllerOf(&adopted[0].ObjectMeta); r == nil || r.UID != cm.UID {
		t.Errorf("adopted pod's controller = %+v, want %s (the pod as written)", r, cm.UID)
	}
}
