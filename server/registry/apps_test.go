package registry

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/store"
)

// TestAppImagesStayInTheirNamespace: an app's built image runs in the
// app's namespace and nowhere else; other images are not looked at.
func TestAppImagesStayInTheirNamespace(t *testing.T) {
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, "namespaces", "", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, "apps", "default", &api.App{ObjectMeta: api.ObjectMeta{Name: "shop", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	img := api.AppImageRepository + "/shop@sha256:" + strings.Repeat("a", 64)
	pod := func(ns, image string) *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{GenerateName: "p-", Namespace: ns},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: image}}}}
	}
	if _, err := r.Create(ctx, "pods", "default", pod("default", img)); err != nil {
		t.Errorf("the app's image in its namespace: %v", err)
	}
	_, err = r.Create(ctx, "pods", "team-b", pod("team-b", img))
	if err == nil || !strings.Contains(err.Error(), "spec.containers[0].image") || !strings.Contains(err.Error(), `runs only in that app's namespace`) {
		t.Errorf("the app's image in another namespace: %v", err)
	}
	if _, err := r.Create(ctx, "pods", "team-b", pod("team-b", "busybox:1")); err != nil {
		t.Errorf("an ordinary image: %v", err)
	}
}
