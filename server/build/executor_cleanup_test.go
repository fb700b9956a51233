package build

import (
	"context"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// TestCleanUpRemovesLeftBuildContainers plays a server that stopped
// mid-build: a RUN step's container is running; CleanUp kills and
// removes it and its snapshot, and the build fails instead of hanging.
func TestCleanUpRemovesLeftBuildContainers(t *testing.T) {
	b := testBuilder(t)
	dir := newTree(t, map[string]string{"Dockerfile": "FROM " + testBase + "\nRUN sleep 60\n"})
	errc := make(chan error, 1)
	go func() {
		_, err := b.Build(context.Background(), Request{ContextDir: dir, Image: imageName(t), Timeout: 2 * time.Minute})
		errc <- err
	}()
	ctx := namespaces.WithNamespace(context.Background(), b.Namespace)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, err := b.Client.Containers(ctx, `labels."`+buildLabel+`"==true`)
		if err == nil && len(cs) > 0 {
			if _, err := cs[0].Task(ctx, nil); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the RUN step's container never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n, err := b.CleanUp(context.Background())
	if err != nil || n == 0 {
		t.Fatalf("CleanUp = %d, %v; want the running step removed", n, err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("a build whose step was killed succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the build hangs after its step was removed")
	}
	if cs, _ := b.Client.Containers(ctx, `labels."`+buildLabel+`"==true`); len(cs) != 0 {
		t.Errorf("%d build containers left", len(cs))
	}
	if n, err := b.CleanUp(context.Background()); err != nil || n != 0 {
		t.Errorf("a second CleanUp = %d, %v; want nothing to do", n, err)
	}
}
