package expectations

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestExpectations(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e := New(clk.Now)
	if !e.Satisfied("ns/rs") {
		t.Fatal("no expectations: want satisfied")
	}
	e.ExpectCreations("ns/rs", 2)
	e.CreationObserved("ns/rs")
	if e.Satisfied("ns/rs") {
		t.Fatal("1 of 2 creates seen: want unsatisfied")
	}
	e.CreationObserved("ns/rs")
	if !e.Satisfied("ns/rs") {
		t.Fatal("2 of 2 creates seen: want satisfied")
	}

	e.ExpectDeletions("ns/rs", []string{"ns/a", "ns/b"})
	e.DeletionObserved("ns/rs", "ns/a")
	e.DeletionObserved("ns/rs", "ns/a") // terminating, then gone: counted once
	if e.Satisfied("ns/rs") {
		t.Fatal("b not seen deleted: want unsatisfied")
	}
	if adds, dels := e.Pending("ns/rs"); adds != 0 || dels != 1 {
		t.Fatalf("pending = %d adds, %d deletes; want 0, 1", adds, dels)
	}
	clk.Advance(Timeout)
	if e.Satisfied("ns/rs") {
		t.Fatal("at exactly the timeout: want unsatisfied")
	}
	clk.Advance(time.Second)
	if !e.Satisfied("ns/rs") {
		t.Fatal("past the timeout: want satisfied")
	}
	e.ExpectCreations("ns/rs", 1)
	e.Forget("ns/rs")
	if !e.Satisfied("ns/rs") {
		t.Fatal("forgotten: want satisfied")
	}
}
