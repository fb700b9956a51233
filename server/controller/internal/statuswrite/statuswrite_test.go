package statuswrite

import (
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
)

func TestWriteRetriesOnTheLatestCopy(t *testing.T) {
	reg, _, ctx := controllertest.Registry(t, time.Minute)
	rsets := client.For[*api.ReplicaSet](reg, "default")
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web"}}
	rs.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	rs.Spec.Template.Labels = map[string]string{"app": "web"}
	rs.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	cached, err := rsets.Create(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else writes: the cached copy is now behind.
	fresh := api.Clone(cached)
	fresh.Status.Replicas = 7
	if _, err := rsets.UpdateStatus(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err = Write(ctx, reg, cached, func(next *api.ReplicaSet) { calls++; next.Status.Replicas = 1 })
	if err != nil {
		t.Fatalf("Write = %v, want nil", err)
	}
	if calls != 2 {
		t.Errorf("set called %d times, want 2 (once more on the latest copy)", calls)
	}
	if got, _ := rsets.Get(ctx, "web"); got.Status.Replicas != 1 {
		t.Errorf("status.replicas = %d, want 1", got.Status.Replicas)
	}
	gone := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "gone", Namespace: "default"}}
	if err := Write(ctx, reg, gone, func(*api.ReplicaSet) {}); err != nil {
		t.Errorf("Write of an object that is gone = %v, want nil", err)
	}
}
