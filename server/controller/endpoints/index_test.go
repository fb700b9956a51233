package endpoints

import (
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

func epAt(rv string) *api.Endpoints {
	return &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: rv}}
}

func TestLastWrites(t *testing.T) {
	var w lastWrites
	const k = "default/web"
	if cur, ok := w.current(k, nil, false); ok || cur != nil {
		t.Fatalf("nothing written, nothing cached: got %v %v", cur, ok)
	}
	if w.seen(k, epAt("5")) {
		t.Error("a change with nothing written counted as the controller's own")
	}

	w.wrote(k, epAt("10"))
	if cur, ok := w.current(k, nil, false); !ok || cur.ResourceVersion != "10" {
		t.Errorf("cache without the created object: current %v %v, want the write", cur, ok)
	}
	if cur, _ := w.current(k, epAt("7"), true); cur.ResourceVersion != "10" {
		t.Errorf("cache behind: current at %s, want 10", cur.ResourceVersion)
	}
	if !w.seen(k, epAt("7")) {
		t.Error("an older state reaching the cache needs no sync")
	}
	if !w.seen(k, epAt("10")) {
		t.Error("the cache's copy of the write counted as someone else's")
	}
	if cur, _ := w.current(k, epAt("10"), true); cur.ResourceVersion != "10" {
		t.Errorf("caught up: current at %s, want the cached 10", cur.ResourceVersion)
	}
	if w.seen(k, epAt("11")) {
		t.Error("once caught up, a later change counted as the controller's own")
	}

	// A change by someone else after the write is theirs.
	w.wrote(k, epAt("20"))
	if w.seen(k, epAt("21")) {
		t.Error("a change newer than the write counted as the controller's own")
	}
	if cur, _ := w.current(k, epAt("21"), true); cur.ResourceVersion != "21" {
		t.Errorf("after someone else's change: current at %s, want 21", cur.ResourceVersion)
	}

	w.wrote(k, epAt("30"))
	w.forget(k)
	if cur, _ := w.current(k, epAt("21"), true); cur.ResourceVersion != "21" {
		t.Errorf("after forget: current at %s, want the cached 21", cur.ResourceVersion)
	}
}
