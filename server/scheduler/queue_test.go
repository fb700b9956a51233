package scheduler

import (
	"testing"
	"time"
)

func newTestQueue(c *fakeClock) *Queue {
	return NewQueue(c.Now, eventInterests(DefaultPipeline(NewDefaultBinder(nil), nil, NewVolumeBinding(claimMap{}, nil))))
}

// popNow pops without blocking; it fails the test if nothing is active.
func popNow(t *testing.T, q *Queue) *QueuedPod {
	t.Helper()
	if q.Lengths().Active == 0 {
		t.Fatalf("nothing active: %+v", q.Lengths())
	}
	qp, _ := q.Pop()
	return qp
}

func TestQueueOrder(t *testing.T) {
	c := newFakeClock()
	q := newTestQueue(c)
	for _, p := range []struct {
		name string
		prio int32
	}{{"low-1", 0}, {"high", 100}, {"low-2", 0}, {"mid", 10}} {
		q.Add(pod(p.name, withPriority(p.prio)))
		c.Advance(time.Millisecond)
	}
	var got []string
	for range 4 {
		got = append(got, popNow(t, q).Pod.Name)
	}
	want := []string{"high", "mid", "low-1", "low-2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pop order %v, want %v (priority, then first in)", got, want)
		}
	}
}

func TestQueueBackoff(t *testing.T) {
	c := newFakeClock()
	q := newTestQueue(c)
	q.Add(pod("p"))
	for attempt, wait := range []time.Duration{1, 2, 4, 8, 10, 10} {
		wait *= time.Second
		qp := popNow(t, q)
		if qp.Attempts != attempt+1 {
			t.Fatalf("attempts %d, want %d", qp.Attempts, attempt+1)
		}
		q.AddBackoff(qp)
		c.Advance(wait - time.Millisecond)
		q.Flush()
		if l := q.Lengths(); l.Active != 0 || l.Backoff != 1 {
			t.Fatalf("attempt %d: active before %v of back-off: %+v", attempt+1, wait, l)
		}
		c.Advance(time.Millisecond)
		q.Flush()
		if l := q.Lengths(); l.Active != 1 {
			t.Fatalf("attempt %d: not active after %v: %+v", attempt+1, wait, l)
		}
	}
}

func TestQueueUnschedulable(t *testing.T) {
	c := newFakeClock()
	q := newTestQueue(c)
	q.Add(pod("p"))
	qp := popNow(t, q)
	q.AddUnschedulable(qp, map[string]bool{"NodeResourcesFit": true})
	if l := q.Lengths(); l.Unschedulable != 1 {
		t.Fatalf("lengths %+v, want one unschedulable", l)
	}
	// An event NodeResourcesFit does not care about leaves it there.
	q.MoveAll(AssignedPodAdd)
	if l := q.Lengths(); l.Unschedulable != 1 {
		t.Fatalf("an irrelevant event moved it: %+v", l)
	}
	// A relevant one moves it to back-off (1 s since its attempt, not up).
	q.MoveAll(NodeAdd)
	if l := q.Lengths(); l.Backoff != 1 {
		t.Fatalf("after NodeAdd: %+v, want back-off", l)
	}
	c.Advance(time.Second)
	q.Flush()
	qp = popNow(t, q)

	// Without any event it comes back after 60 s.
	q.AddUnschedulable(qp, map[string]bool{"NodeResourcesFit": true})
	c.Advance(59 * time.Second)
	q.Flush()
	if l := q.Lengths(); l.Unschedulable != 1 {
		t.Fatalf("moved before 60 s: %+v", l)
	}
	c.Advance(time.Second)
	q.Flush()
	if l := q.Lengths(); l.Active != 1 {
		t.Fatalf("not active after 60 s: %+v", l)
	}
	if len(q.refusedBy) != 0 {
		t.Errorf("refusal counts left: %v", q.refusedBy)
	}
}

func TestQueueEventWhileInFlight(t *testing.T) {
	c := newFakeClock()
	q := newTestQueue(c)
	q.Add(pod("p"))
	qp := popNow(t, q)
	q.MoveAll(NodeAdd) // a node came while the pod was being scheduled
	q.AddUnschedulable(qp, map[string]bool{"NodeResourcesFit": true})
	if l := q.Lengths(); l.Backoff != 1 || l.Unschedulable != 0 {
		t.Fatalf("lengths %+v: a pod that missed a relevant event must go to back-off", l)
	}
}

func TestQueueUpdateMovesUnschedulable(t *testing.T) {
	c := newFakeClock()
	q := newTestQueue(c)
	q.Add(pod("p"))
	qp := popNow(t, q)
	q.AddUnschedulable(qp, map[string]bool{"TaintToleration": true})
	c.Advance(2 * time.Second)
	// A status-only update leaves it; added tolerations move it.
	same := pod("p")
	q.Add(same)
	if l := q.Lengths(); l.Unschedulable != 1 {
		t.Fatalf("an unchanged pod moved: %+v", l)
	}
	q.Add(pod("p", tolerate(taintAll)))
	if l := q.Lengths(); l.Active != 1 {
		t.Fatalf("a changed pod stayed: %+v", l)
	}
	if got := popNow(t, q); len(got.Pod.Spec.Tolerations) != 1 {
		t.Error("the queue kept the old pod")
	}
}

func TestQueueDelete(t *testing.T) {
	c := newFakeClock()
	q := newTestQueue(c)
	q.Add(pod("a"))
	q.Add(pod("b"))
	q.Delete("default/a")
	if got := popNow(t, q).Pod.Name; got != "b" {
		t.Fatalf("popped %s, want b", got)
	}
	if l := q.Lengths(); l.Active != 0 || l.InFlight != 1 {
		t.Fatalf("lengths %+v", l)
	}
	q.Done("default/b")
	if l := q.Lengths(); l.InFlight != 0 {
		t.Fatalf("lengths %+v after Done", l)
	}
}

func TestQueueClose(t *testing.T) {
	q := newTestQueue(newFakeClock())
	done := make(chan bool)
	go func() { _, ok := q.Pop(); done <- ok }()
	q.Close()
	if <-done {
		t.Fatal("Pop returned a pod from a closed queue")
	}
}
