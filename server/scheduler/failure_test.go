package scheduler

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestReporterThrottles checks that a pod failing again and again costs
// one condition write and one Event write per 30 s at most.
func TestReporterThrottles(t *testing.T) {
	reg := testRegistry(t)
	ctx := context.Background()
	pods := client.For[*api.Pod](reg, "default")
	p, err := pods.Create(ctx, pod("p"))
	if err != nil {
		t.Fatal(err)
	}
	c := newFakeClock()
	r := newReporter(reg, c.Now, slog.New(slog.DiscardHandler))
	rep := &podReport{uid: p.UID}
	fail := func(msg string) {
		cur, err := pods.Get(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		r.write(ctx, failure{pod: cur, message: msg}, rep)
	}
	events := func() []*api.Event {
		evs, _, _, err := client.For[*api.Event](reg, "default").List(ctx, api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	rv := func() string {
		cur, _ := pods.Get(ctx, "p")
		return cur.ResourceVersion
	}

	fail("0/1 nodes are available: 1 Insufficient cpu.")
	first := rv()
	for range 5 {
		c.Advance(time.Second)
		fail("0/1 nodes are available: 1 Insufficient cpu.")
	}
	if got := rv(); got != first {
		t.Errorf("the unchanged condition was written again (rv %s → %s)", first, got)
	}
	if evs := events(); len(evs) != 1 || evs[0].Count != 1 || evs[0].Reason != ReasonFailedScheduling {
		t.Fatalf("events %+v, want one FailedScheduling with count 1 within 30 s", evs)
	}
	// The same failure is not written again for 10 minutes: an idle
	// cluster with a stuck pod writes nothing.
	c.Advance(time.Minute)
	fail("0/1 nodes are available: 1 Insufficient cpu.")
	if evs := events(); len(evs) != 1 || evs[0].Count != 1 {
		t.Fatalf("events %+v, want the one Event still with count 1 a minute later", evs)
	}
	c.Advance(10 * time.Minute)
	fail("0/1 nodes are available: 1 Insufficient cpu.")
	if evs := events(); len(evs) != 1 || evs[0].Count != 8 {
		t.Fatalf("events %+v, want the one Event with count 8 after 10 minutes", evs)
	}
	// A new message replaces the condition (30 s after the last write).
	c.Advance(31 * time.Second)
	fail("0/2 nodes are available: 2 Insufficient cpu.")
	cur, _ := pods.Get(ctx, "p")
	if cond := findCondition(cur.Status.Conditions, api.PodScheduled); cond == nil || cond.Message != "0/2 nodes are available: 2 Insufficient cpu." {
		t.Errorf("condition %+v, want the new message", cond)
	}
	if evs := events(); len(evs) != 2 {
		t.Errorf("%d events, want a second one for the new message", len(evs))
	}
}
