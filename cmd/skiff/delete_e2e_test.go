package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestDeleteCascade: `skiff delete` of a Deployment on a real server
// removes its ReplicaSet and pods (background, the default, and
// foreground); --cascade=orphan leaves them, freed of their owner.
func TestDeleteCascade(t *testing.T) {
	s := startServer(t, t.TempDir(), "")
	cfg, err := client.LoadConfig(s.config)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	manifest := func(name string) string {
		return writeFile(t, dir, name+".yaml", fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: c, image: busybox}]}
`, name))
	}
	// owned lists the replica sets and pods labelled app=name, and how
	// many of them still have an owner.
	owned := func(name string) (rsets, pods, withOwner int) {
		t.Helper()
		opts := api.ListOptions{LabelSelector: "app=" + name}
		rl, _, _, err := client.For[*api.ReplicaSet](hc, "default").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pl, _, _, err := client.For[*api.Pod](hc, "default").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range rl {
			if len(rs.OwnerReferences) > 0 {
				withOwner++
			}
		}
		for _, p := range pl {
			if len(p.OwnerReferences) > 0 {
				withOwner++
			}
		}
		return len(rl), len(pl), withOwner
	}
	waitOwned := func(name, want string, ok func(rsets, pods, withOwner int) bool) {
		t.Helper()
		var r, p, o int
		for ctx.Err() == nil {
			if r, p, o = owned(name); ok(r, p, o) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: want %s; have %d replica sets, %d pods, %d with an owner", name, want, r, p, o)
	}
	for _, name := range []string{"bg", "fg", "keep"} {
		s.skiff("", "apply", "-f", manifest(name)).must(t)
		waitOwned(name, "1 replica set and 2 pods, all owned", func(r, p, o int) bool { return r == 1 && p == 2 && o == 3 })
	}

	if r := s.skiff("", "delete", "deployment", "bg", "--cascade", "sideways"); r.code != 1 || !strings.Contains(r.err, "want background, foreground or orphan") {
		t.Errorf("delete --cascade sideways: exit %d, %q; want a clear refusal", r.code, r.err)
	}
	if _, p, _ := owned("bg"); p != 2 {
		t.Errorf("a refused delete changed something: %d pods of bg left", p)
	}

	s.skiff("", "delete", "deployment", "bg").must(t)
	waitOwned("bg", "nothing left after a background delete", func(r, p, _ int) bool { return r == 0 && p == 0 })
	s.skiff("", "delete", "deployment", "fg", "--cascade", "foreground").must(t)
	waitOwned("fg", "nothing left after a foreground delete", func(r, p, _ int) bool { return r == 0 && p == 0 })
	waitFor := func(what string, gone func() bool) {
		t.Helper()
		for ctx.Err() == nil && !gone() {
			time.Sleep(50 * time.Millisecond)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: not in time", what)
		}
	}
	waitFor("deployment fg gone", func() bool {
		_, err := client.For[*api.Deployment](hc, "default").Get(ctx, "fg")
		return err != nil
	})

	s.skiff("", "delete", "deployment", "keep", "--cascade", "orphan").must(t)
	waitOwned("keep", "the replica set and its 2 pods left, owned only by each other", func(r, p, o int) bool { return r == 1 && p == 2 && o == 2 })
	// And they stay so: the orphaned replica set still keeps its pods.
	time.Sleep(time.Second)
	if r, p, o := owned("keep"); r != 1 || p != 2 || o != 2 {
		t.Errorf("after orphaning: %d replica sets, %d pods, %d with an owner; want 1, 2, 2", r, p, o)
	}
}
