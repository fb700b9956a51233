package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// The agent's side of claims against a real registry. Several of these
// are regressions found in review: each failed before its fix.

// noClaims answers as a server without the PersistentVolumeClaim kind
// (404 "the server has no resource"), as after a rollback, or any 404
// from a proxy in front.
type noClaims struct{ client.Backend }

func (o noClaims) Get(ctx context.Context, resource, ns, name string) (api.Object, error) {
	if resource == "persistentvolumeclaims" {
		return nil, fmt.Errorf("the server has no resource %q: %w", resource, errdefs.ErrNotFound)
	}
	return o.Backend.Get(ctx, resource, ns, name)
}

func (o noClaims) List(ctx context.Context, resource, ns string, opts api.ListOptions) (*client.ObjectList, error) {
	if resource == "persistentvolumeclaims" {
		return nil, fmt.Errorf("the server has no resource %q: %w", resource, errdefs.ErrNotFound)
	}
	return o.Backend.List(ctx, resource, ns, opts)
}

func claimsSetup(t *testing.T) (context.Context, *registry.Registry) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, reg
}

func claimsAgent(t *testing.T, ctx context.Context, b client.Backend) *Agent {
	a := &Agent{cfg: Config{DataDir: t.TempDir(), Client: b, NodeName: "n1"}, log: slog.New(slog.DiscardHandler), cache: newCache()}
	a.pods = client.NewInformer[*api.Pod](b, "", api.ListOptions{FieldSelector: "spec.nodeName=n1"}, a.log)
	a.pods.AddIndex(indexUID, func(p *api.Pod) []string { return []string{p.UID} })
	go a.pods.Run(ctx)
	if !a.pods.WaitForSync(ctx) {
		t.Fatal("no sync")
	}
	return a
}

func makeClaim(t *testing.T, ctx context.Context, reg *registry.Registry, name string) *api.PersistentVolumeClaim {
	t.Helper()
	c, err := client.For[*api.PersistentVolumeClaim](reg, "default").Create(ctx, &api.PersistentVolumeClaim{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{api.AnnotationSelectedNode: "n1"}},
		Spec: api.PersistentVolumeClaimSpec{AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce},
			Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: api.NewBinaryQuantity(1 << 30)}}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func podUID(uid string) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p-" + uid, Namespace: "default", UID: uid}}
}

// removeClaim deletes a claim for good (no pvc-protection controller here).
func removeClaim(t *testing.T, ctx context.Context, reg *registry.Registry, name string) {
	t.Helper()
	claims := client.For[*api.PersistentVolumeClaim](reg, "default")
	if _, err := claims.Delete(ctx, name, api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := client.RetryOnConflict(ctx, func() error {
		c, err := claims.Get(ctx, name)
		if err != nil {
			return err
		}
		c.Finalizers = nil
		_, err = claims.Update(ctx, c)
		return err
	})
	if err != nil && !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestClaimGCKeepsDataOnA404(t *testing.T) {
	ctx, reg := claimsSetup(t)
	makeClaim(t, ctx, reg, "data-web-0")
	a := claimsAgent(t, ctx, reg)
	dir, err := a.claimVolume(podUID("u1"), "data-web-0", newSources(ctx, reg, "default"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "db"), []byte("precious"), 0o644)
	// No pod names the claim right now (scaled to 0, or between a delete
	// and its re-creation), and the server says 404 for the kind.
	a.cfg.Client = noClaims{reg}
	for range 3 {
		a.collectClaimVolumes(ctx)
	}
	if _, err := os.Stat(filepath.Join(dir, "db")); err != nil {
		t.Fatalf("the claim still exists but its data is gone: %v", err)
	}
}

func TestClaimGCDeletesAGoneClaimOnTheSecondPass(t *testing.T) {
	ctx, reg := claimsSetup(t)
	makeClaim(t, ctx, reg, "data")
	keep := makeClaim(t, ctx, reg, "kept")
	a := claimsAgent(t, ctx, reg)
	dir, err := a.claimVolume(podUID("u1"), "data", newSources(ctx, reg, "default"))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := a.claimVolume(podUID("u2"), "kept", newSources(ctx, reg, "default"))
	if err != nil {
		t.Fatal(err)
	}
	removeClaim(t, ctx, reg, "data")
	a.collectClaimVolumes(ctx)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("deleted on the first sighting: %v", err)
	}
	// A container of a pod the agent no longer knows still runs: wait.
	a.cache.set(container.Status{ID: "c1", Pod: container.PodRef{UID: "gone-pod"}, Name: "c", State: container.StateRunning})
	a.collectClaimVolumes(ctx)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("deleted while a stopping pod's container runs: %v", err)
	}
	a.cache.remove("gone-pod", "c1")
	a.collectClaimVolumes(ctx)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the directory of a claim gone for two passes is still there (%v)", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("the directory of the live claim %s went: %v", keep.Name, err)
	}
}

func TestTerminatingClaimServesOnlyItsPods(t *testing.T) {
	ctx, reg := claimsSetup(t)
	makeClaim(t, ctx, reg, "data")
	a := claimsAgent(t, ctx, reg)
	if _, err := a.claimVolume(podUID("old"), "data", newSources(ctx, reg, "default")); err != nil {
		t.Fatal(err)
	}
	a.cache.set(container.Status{ID: "c1", Pod: container.PodRef{UID: "old"}, Name: "c", State: container.StateRunning})
	if _, err := client.For[*api.PersistentVolumeClaim](reg, "default").Delete(ctx, "data", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.claimVolume(podUID("old"), "data", newSources(ctx, reg, "default")); err != nil {
		t.Errorf("the pod already using a claim being deleted lost it: %v", err)
	}
	if dir, err := a.claimVolume(podUID("new"), "data", newSources(ctx, reg, "default")); err == nil {
		t.Errorf("a new pod got the volume %s of a claim being deleted", dir)
	}
}

func TestClaimKeepsDataOfTheOldLayout(t *testing.T) {
	ctx, reg := claimsSetup(t)
	a := claimsAgent(t, ctx, reg)
	old := filepath.Join(a.cfg.DataDir, "volumes", "default", "data-web-0")
	os.MkdirAll(old, 0o777)
	os.WriteFile(filepath.Join(old, "db"), []byte("precious"), 0o644)
	makeClaim(t, ctx, reg, "data-web-0")
	dir, err := a.claimVolume(podUID("u1"), "data-web-0", newSources(ctx, reg, "default"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "db")); err != nil || string(b) != "precious" {
		t.Fatalf("after the upgrade the volume %s does not hold the old data (%q, %v)", dir, b, err)
	}
}
