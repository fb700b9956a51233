package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

func TestBindClaim(t *testing.T) {
	reg, st := newRegistry(t, t.TempDir(), 0)
	defer st.Close()
	ctx := context.Background()
	claims := client.For[*api.PersistentVolumeClaim](reg, "default")
	c, err := claims.Create(ctx, &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: "data"},
		Spec: api.PersistentVolumeClaimSpec{AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce},
			Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: api.NewBinaryQuantity(1 << 30)}}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.BindClaim(ctx, reg, c, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[api.AnnotationSelectedNode] != "n1" || got.Status.Phase != api.ClaimBound || len(got.Status.AccessModes) != 1 {
		t.Errorf("bound claim: node %q, phase %q, modes %v; want n1, Bound, RWO", got.Annotations[api.AnnotationSelectedNode], got.Status.Phase, got.Status.AccessModes)
	}
	// From the stale copy: a conflict, re-read, nothing more to write.
	again, err := client.BindClaim(ctx, reg, c, "n1")
	if err != nil || again.ResourceVersion != got.ResourceVersion {
		t.Errorf("binding again to the same node: %v, revision %s (was %s); want no write", err, again.ResourceVersion, got.ResourceVersion)
	}
	var elsewhere *client.ClaimElsewhereError
	if _, err := client.BindClaim(ctx, reg, got, "n2"); !errors.As(err, &elsewhere) || elsewhere.Node != "n1" {
		t.Errorf("binding to another node: %v; want a ClaimElsewhereError naming n1", err)
	}
	if _, err := claims.Delete(ctx, "data", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BindClaim(ctx, reg, c, "n1"); !errors.Is(err, client.ErrClaimGone) {
		t.Errorf("binding a claim being deleted: %v; want ErrClaimGone", err)
	}
}
