package owner

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

func newRegistry(t *testing.T) *registry.Registry {
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
	if err := reg.EnsureNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}
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
	if written, err := setController(ctx, reg, pod, ref, true); !written || err != nil {
		t.Fatalf("adopt = %v, %v; want written", written, err)
	}
	got, err := client.For[*api.Pod](reg, "default").Get(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if r := api.ControllerOf(&got.ObjectMeta); r == nil || r.UID != cm.UID {
		t.Fatalf("controller after adopt = %+v, want %s", r, cm.UID)
	}
	if written, err := setController(ctx, reg, got, ref, false); !written || err != nil {
		t.Fatalf("release = %v, %v; want written", written, err)
	}
	got, _ = client.For[*api.Pod](reg, "default").Get(ctx, "p")
	if len(got.OwnerReferences) != 0 {
		t.Errorf("owner references after release = %+v, want none", got.OwnerReferences)
	}
	gone := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "gone", Namespace: "default"}}
	if written, err := setController(ctx, reg, gone, ref, true); written || err != nil {
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
