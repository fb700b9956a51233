package containerd

import (
	"context"
	"strings"
	"testing"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skiffhq/skiff/runtime/container"
)

// BenchmarkCreateStart is one container through the Runtime: create,
// start, running, then removed (the removal is outside the timing).
func BenchmarkCreateStart(b *testing.B) {
	r := newTestRuntime(b)
	ctx := context.Background()
	for b.Loop() {
		s := testSpec(b, "sleep", "100000")
		if err := r.Create(ctx, s); err != nil {
			b.Fatal(err)
		}
		if err := r.Start(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
		if st, err := r.Inspect(ctx, s.ID); err != nil || st.State != container.StateRunning {
			b.Fatalf("after start: %s %v", st.State, err)
		}
		b.StopTimer()
		if err := r.Remove(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkFloorStart is the same container through the bare client.
func BenchmarkFloorStart(b *testing.B) {
	c := testClient(b)
	ctx := floorContext()
	for b.Loop() {
		_, cleanup, err := FloorStart(ctx, c, testImage, "")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cleanup()
		b.StartTimer()
	}
}

func TestFloorStart(t *testing.T) {
	c := testClient(t)
	ctx := floorContext()
	d, cleanup, err := FloorStart(ctx, c, testImage, "")
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 {
		t.Errorf("got elapsed %v, want > 0", d)
	}
	resp, err := c.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		cleanup()
		t.Fatal(err)
	}
	running := 0
	for _, p := range resp.Tasks {
		if strings.HasPrefix(p.ID, "floor-") {
			running++
		}
	}
	cleanup()
	cs, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cs {
		if strings.HasPrefix(ct.ID(), "floor-") {
			t.Errorf("container %s left after cleanup", ct.ID())
		}
	}
	if running != 1 {
		t.Errorf("got %d floor tasks while it ran, want 1", running)
	}
}

// floorContext puts FloorStart's containers in a namespace of their own,
// so that their cgroups (/<namespace>/<id>) are the tests' to remove.
func floorContext() context.Context {
	return namespaces.WithNamespace(context.Background(), shared.floorNamespace)
}
