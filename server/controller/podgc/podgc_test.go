package podgc

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

func TestKeepsThresholdNewestFinished(t *testing.T) {
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reg.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*api.Pod](reg, "default")
	yes := true
	mk := func(name string, phase api.PodPhase, owner string) {
		t.Helper()
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
		if owner != "" {
			p.OwnerReferences = []api.OwnerReference{{APIVersion: "batch/v1", Kind: owner, Name: "o", UID: "u-" + name, Controller: &yes}}
		}
		created, err := pods.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if phase != "" {
			created.Status.Phase = phase
			if _, err := pods.UpdateStatus(ctx, created); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Creation times have a one-second resolution; names, made in
	// creation order here, break the ties.
	for i := range 5 {
		mk(fmt.Sprintf("done-%d", i), api.PodSucceeded, "")
	}
	mk("failed-9", api.PodFailed, "")
	mk("job-pod", api.PodSucceeded, "Job")
	mk("running", api.PodRunning, "")
	mk("pending", "", "")

	c, err := New(Config{Backend: reg, Threshold: 3, Period: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go c.Run(ctx)
	want := map[string]bool{"done-3": true, "done-4": true, "failed-9": true, "job-pod": true, "running": true, "pending": true}
	var names []string
	for ctx.Err() == nil {
		list, _, _, err := pods.List(ctx, api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		for _, p := range list {
			names = append(names, p.Name)
		}
		if len(list) == len(want) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range names {
		if !want[n] {
			t.Errorf("kept %s; want kept only the 3 newest finished, the Job's pod and unfinished pods: %v", n, names)
		}
	}
	if len(names) != len(want) {
		t.Fatalf("pods left %v, want %d", names, len(want))
	}
	// At the threshold, nothing more goes.
	if n := c.Collect(ctx); n != 0 {
		t.Errorf("Collect at the threshold deleted %d", n)
	}
}
