package client

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQueueCollapsesAndOrders(t *testing.T) {
	q := NewQueue[string](nil)
	for _, k := range []string{"a", "b", "a", "c", "b"} {
		q.Add(k)
	}
	if q.Len() != 3 {
		t.Fatalf("Len = %d, want 3 after duplicates", q.Len())
	}
	var got []string
	for i := 0; i < 3; i++ {
		k, _ := q.Get()
		got = append(got, k)
		q.Done(k)
	}
	if got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("order %v, want a b c", got)
	}
}

func TestQueueNeverHandsOneKeyToTwoWorkers(t *testing.T) {
	q := NewQueue[string](nil)
	q.Add("a")
	k, _ := q.Get()
	q.Add("a") // while processing
	if q.Len() != 0 {
		t.Fatalf("a key being processed was queued again at once (Len %d)", q.Len())
	}
	q.Done(k)
	if q.Len() != 1 {
		t.Fatalf("a key added while processing was not queued after Done (Len %d)", q.Len())
	}

	// Many workers, many adds: never two at once per key.
	q2 := NewQueue[int](nil)
	var busy [10]atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, ok := q2.Get()
				if !ok {
					return
				}
				if busy[k].Add(1) != 1 {
					t.Errorf("key %d handed to two workers", k)
				}
				time.Sleep(50 * time.Microsecond)
				busy[k].Add(-1)
				q2.Done(k)
			}
		}()
	}
	for i := 0; i < 5000; i++ {
		q2.Add(i % 10)
	}
	q2.ShutDownWithDrain()
	wg.Wait()
}

func TestQueueAddAfter(t *testing.T) {
	q := NewQueue[string](nil)
	q.AddAfter("late", 60*time.Millisecond)
	q.AddAfter("soon", 10*time.Millisecond)
	q.AddAfter("late", time.Hour) // later than pending: ignored
	start := time.Now()
	k1, _ := q.Get()
	k2, _ := q.Get()
	if k1 != "soon" || k2 != "late" {
		t.Errorf("got %s then %s, want soon then late", k1, k2)
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > 2*time.Second {
		t.Errorf("late came after %v, want about 60ms", el)
	}
}

func TestRateLimiterBackoff(t *testing.T) {
	r := NewExponentialRateLimiter(5*time.Millisecond, time.Second)
	var got []time.Duration
	for i := 0; i < 10; i++ {
		got = append(got, r.When("x"))
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Errorf("retry %d: %v, want %v", i, got[i], want[i]*time.Millisecond)
		}
	}
	if r.NumRequeues("x") != 10 {
		t.Errorf("NumRequeues = %d, want 10", r.NumRequeues("x"))
	}
	r.Forget("x")
	if r.When("x") != 5*time.Millisecond {
		t.Error("Forget did not reset the back-off")
	}
	b := NewBucketRateLimiter(10, 2)
	if b.When(1) != 0 || b.When(2) != 0 {
		t.Error("burst of 2 not allowed at once")
	}
	if d := b.When(3); d < 50*time.Millisecond {
		t.Errorf("third in a burst of 2 at 10/s waits %v, want about 100ms", d)
	}
	q := NewQueue[string](MaxOfRateLimiter{NewExponentialRateLimiter(time.Millisecond, time.Second)})
	q.AddRateLimited("k")
	q.AddRateLimited("k")
	if q.NumRequeues("k") != 2 {
		t.Errorf("queue NumRequeues = %d, want 2", q.NumRequeues("k"))
	}
	q.Forget("k")
	if q.NumRequeues("k") != 0 {
		t.Error("queue Forget did not reset")
	}
}

func TestQueueShutDown(t *testing.T) {
	before := runtime.NumGoroutine()
	q := NewQueue[string](nil)
	q.Add("a")
	q.AddAfter("b", time.Hour)
	done := make(chan bool)
	go func() {
		k, _ := q.Get()
		q.Done(k)
		_, ok := q.Get()
		done <- ok
	}()
	time.Sleep(20 * time.Millisecond)
	q.ShutDown()
	select {
	case ok := <-done:
		if ok {
			t.Error("Get after ShutDown returned a key")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Get blocked after ShutDown")
	}
	q.Add("c")
	if q.Len() != 0 {
		t.Error("Add after ShutDown queued a key")
	}
	time.Sleep(20 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines %d → %d after ShutDown", before, n)
	}
}

func BenchmarkQueue(b *testing.B) {
	q := NewQueue[int](nil)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, ok := q.Get()
				if !ok {
					return
				}
				q.Done(k)
			}
		}()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q.Add(i % 1024)
	}
	q.ShutDownWithDrain()
	wg.Wait()
}
