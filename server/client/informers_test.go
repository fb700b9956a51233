package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

func TestSharedInformers(t *testing.T) {
	reg, st := newRegistry(t, t.TempDir(), 0)
	defer st.Close()
	ctx := context.Background()
	cms := client.For[*api.ConfigMap](reg, "default")
	if _, err := cms.Create(ctx, cm("a1", "1")); err != nil {
		t.Fatal(err)
	}
	set := client.NewInformers(reg, nil)
	a := client.Shared[*api.ConfigMap](set, "", api.ListOptions{})
	if b := client.Shared[*api.ConfigMap](set, "", api.ListOptions{}); b != a {
		t.Error("the same kind, namespace and selectors gave two informers")
	}
	if b := client.Shared[*api.ConfigMap](set, "default", api.ListOptions{}); b == a {
		t.Error("another namespace shared an informer")
	}
	if b := client.Shared[*api.ConfigMap](set, "", api.ListOptions{LabelSelector: "group=a"}); b == a {
		t.Error("another selector shared an informer")
	}
	if set.Len() != 3 {
		t.Errorf("set holds %d informers, want 3", set.Len())
	}

	// Two users run it; the first leaves, the cache lives on.
	first := &recorder{}
	a.AddHandler(first)
	ctx1, stop1 := context.WithCancel(ctx)
	ctx2, stop2 := context.WithCancel(ctx)
	done1, done2 := make(chan struct{}), make(chan struct{})
	go func() { a.Run(ctx1); close(done1) }()
	go func() { a.Run(ctx2); close(done2) }()
	if !a.WaitForSync(ctx) {
		t.Fatal("no sync")
	}
	first.waitFor(t, "add a1=1")

	// A handler added while it runs hears of the cache first, then of
	// changes, in that order; an index added late is built at once.
	late := &recorder{}
	a.AddHandler(late)
	a.AddIndex("group", func(c *api.ConfigMap) []string { return []string{c.Labels["group"]} })
	a.AddIndex("group", func(*api.ConfigMap) []string { return []string{"wrong"} }) // kept: the first
	if got := a.ByIndex("group", "a"); len(got) != 1 {
		t.Errorf("late index group=a holds %d, want 1", len(got))
	}
	stop1()
	<-done1
	if _, err := cms.Create(ctx, cm("b1", "1")); err != nil {
		t.Fatal(err)
	}
	late.waitFor(t, "add a1=1", "add b1=1")
	late.mu.Lock()
	if late.events[0] != "add a1=1" {
		t.Errorf("late handler heard %v; want the cached a1 first", late.events)
	}
	late.mu.Unlock()
	if got := a.ByIndex("group", "b"); len(got) != 1 {
		t.Errorf("index group=b holds %d after b1 was made, want 1", len(got))
	}

	// The last user leaving stops it; a new Run starts it again and the
	// cache catches up.
	stop2()
	select {
	case <-done2:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := cms.Delete(ctx, "a1", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx3, stop3 := context.WithCancel(ctx)
	defer stop3()
	go a.Run(ctx3)
	first.waitFor(t, "delete a1")
}

// TestAddHandlerUntil: a handler added until a context ends hears
// nothing after it ends, while the informer runs on for its other users.
func TestAddHandlerUntil(t *testing.T) {
	reg, st := newRegistry(t, t.TempDir(), 0)
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cms := client.For[*api.ConfigMap](reg, "default")
	inf := client.NewInformer[*api.ConfigMap](reg, "", api.ListOptions{}, nil)
	go inf.Run(ctx)
	uctx, stop := context.WithCancel(ctx)
	leaves := &recorder{}
	inf.AddHandlerUntil(uctx, leaves)
	// Added after leaves: told of each change after it.
	stays := &recorder{}
	inf.AddHandler(stays)
	if _, err := cms.Create(ctx, cm("a", "1")); err != nil {
		t.Fatal(err)
	}
	leaves.waitFor(t, "add a=1")
	stop()
	if _, err := cms.Create(ctx, cm("b", "1")); err != nil {
		t.Fatal(err)
	}
	stays.waitFor(t, "add a=1", "add b=1")
	leaves.mu.Lock()
	defer leaves.mu.Unlock()
	if len(leaves.events) != 1 {
		t.Errorf("a handler whose context ended heard %v; want only the add of a", leaves.events)
	}
}
