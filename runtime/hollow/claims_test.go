package hollow_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/hollow"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestClaimVolumes: the agent's side of a local-path claim, on hollow
// nodes (real agents) without a scheduler: a pod that names its node
// takes an unbound claim for that node; a pod on another node may not
// use it; the claim's directory is deleted once the claim is.
func TestClaimVolumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := newTestServer(t, ctx)
	c := startCluster(t, ctx, srv, hollow.Config{Count: 2, ClaimGCPeriod: 100 * time.Millisecond})
	claims := client.For[*api.PersistentVolumeClaim](srv.reg, "default")
	claim, err := claims.Create(ctx, &api.PersistentVolumeClaim{
		ObjectMeta: api.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: api.PersistentVolumeClaimSpec{AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce},
			Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: api.NewBinaryQuantity(1 << 30)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pods := client.For[*api.Pod](srv.reg, "default")
	pod := func(name, node string) *api.Pod {
		return &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{NodeName: node,
				Containers: []api.Container{{Name: "c", Image: "app:1", VolumeMounts: []api.VolumeMount{{Name: "d", MountPath: "/data"}}}},
				Volumes:    []api.Volume{{Name: "d", VolumeSource: api.VolumeSource{PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}},
		}
	}
	n0, n1 := c.Nodes[0].Name, c.Nodes[1].Name
	if _, err := pods.Create(ctx, pod("first", n0)); err != nil {
		t.Fatal(err)
	}
	waitPod(t, ctx, srv.reg, "first", "Ready", podReady)
	got, err := claims.Get(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations[api.AnnotationSelectedNode] != n0 || got.Status.Phase != api.ClaimBound {
		t.Errorf("claim after its first pod ran on %s: node %q, phase %q; want %s, Bound", n0, got.Annotations[api.AnnotationSelectedNode], got.Status.Phase, n0)
	}
	volume := filepath.Join(c.Nodes[0].DataDir(), "volumes", "default", "data_"+claim.UID)
	if fi, err := os.Stat(volume); err != nil || !fi.IsDir() {
		t.Fatalf("claim directory %s: %v", volume, err)
	}

	if _, err := pods.Create(ctx, pod("elsewhere", n1)); err != nil {
		t.Fatal(err)
	}
	// As a kubelet does: a FailedMount Event, the pod stays ContainerCreating.
	want := `persistentvolumeclaim "data" keeps its data on node ` + n0
	var seen []string
	for {
		evs, _, _, err := client.For[*api.Event](srv.reg, "default").List(ctx, api.ListOptions{FieldSelector: "involvedObject.name=elsewhere"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		seen = seen[:0]
		for _, e := range evs {
			seen = append(seen, e.Reason+": "+e.Message)
			found = found || (e.Reason == "FailedMount" && strings.Contains(e.Message, want))
		}
		if found {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no FailedMount Event saying %q about the pod on the other node; events %q", want, seen)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if p, _ := pods.Get(ctx, "elsewhere"); p.Status.Phase != api.PodPending {
		t.Errorf("the pod on the wrong node is %s, want Pending", p.Status.Phase)
	}

	// The claim goes (no pvc-protection controller here: its finalizer is
	// taken off by hand once the pods are gone); so does its directory.
	zero := int64(0)
	for _, name := range []string{"first", "elsewhere"} {
		if _, err := pods.Delete(ctx, name, api.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := claims.Delete(ctx, "data", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = client.RetryOnConflict(ctx, func() error {
		c, err := claims.Get(ctx, "data")
		if err != nil {
			return err
		}
		c.Finalizers = nil
		_, err = claims.Update(ctx, c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(volume); os.IsNotExist(err) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the directory of a deleted claim is still there: %s", volume)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
