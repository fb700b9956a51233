package auth

import (
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// TestFailureLimiter: an address gets its burst of failures, then waits
// for the refill; successes cost nothing; other addresses are not
// touched; idle addresses are forgotten when the table is full.
func TestFailureLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewFailureLimiter(1.0/6, 3)
	l.now = func() time.Time { return now }
	fail := func(remote string) error {
		done, err := l.Attempt(remote)
		if err == nil {
			done(true)
		}
		return err
	}
	for range 5 { // successes cost nothing, even settled later
		done, err := l.Attempt("192.0.2.1:4000")
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Millisecond)
		done(false)
	}
	for i := range 3 {
		if err := fail("192.0.2.1:4000"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := l.Attempt("192.0.2.1:5000") // another port, the same address
	if !errdefs.IsTooManyRequests(err) {
		t.Fatalf("after 3 failures: %v, want TooManyRequests", err)
	}
	if tm := err.(*TooManyError); tm.RetryAfter <= 0 || tm.RetryAfter > 6*time.Second {
		t.Errorf("retry after %v, want within the 6 s refill", tm.RetryAfter)
	}
	if err := fail("192.0.2.2:4000"); err != nil {
		t.Errorf("another address: %v", err)
	}
	now = now.Add(6 * time.Second)
	if err := fail("192.0.2.1:4000"); err != nil {
		t.Errorf("after one refill: %v", err)
	}
	// Attempts in flight hold their tokens: with one left, a second at
	// once is refused.
	now = now.Add(6 * time.Second)
	first, err := l.Attempt("192.0.2.1:4000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Attempt("192.0.2.1:4000"); !errdefs.IsTooManyRequests(err) {
		t.Errorf("a second attempt while the last token is held: %v, want TooManyRequests", err)
	}
	first(false)
	l.max = 2
	now = now.Add(time.Hour) // every bucket is full again
	fail("192.0.2.3:1")
	fail("192.0.2.4:1")
	if _, ok := l.addrs["192.0.2.1"]; ok || len(l.addrs) > 2 {
		t.Errorf("the table holds %d addresses after it filled: %v", len(l.addrs), l.addrs)
	}
}

// TestFailureLimiterIPv6: the addresses of one /64 share a bucket.
func TestFailureLimiterIPv6(t *testing.T) {
	l := NewFailureLimiter(1.0/6, 1)
	done, _ := l.Attempt("[2001:db8:1:2::10]:4000")
	done(true)
	if _, err := l.Attempt("[2001:db8:1:2::99]:4000"); !errdefs.IsTooManyRequests(err) {
		t.Errorf("another address of the /64: %v, want TooManyRequests", err)
	}
	if _, err := l.Attempt("[2001:db8:1:3::10]:4000"); err != nil {
		t.Errorf("another /64: %v", err)
	}
}

// TestRefusalCostsRunningSuccessesNothing: attempts still running when
// another is refused get their tokens back when they succeed.
func TestRefusalCostsRunningSuccessesNothing(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewFailureLimiter(rate.Limit(1.0/6), 10)
	l.now = func() time.Time { return now }
	for range 5 {
		done, err := l.Attempt("192.0.2.1:1")
		if err != nil {
			t.Fatal(err)
		}
		done(true)
	}
	var running []func(bool)
	for range 5 {
		done, err := l.Attempt("192.0.2.1:1")
		if err != nil {
			t.Fatal(err)
		}
		running = append(running, done)
	}
	now = now.Add(time.Second) // a sixth of a token back: the refusal waits 5 s
	if _, err := l.Attempt("192.0.2.1:1"); err == nil {
		t.Fatal("an eleventh attempt at once was admitted")
	}
	for _, done := range running {
		done(false)
	}
	for i := range 5 {
		done, err := l.Attempt("192.0.2.1:1")
		if err != nil {
			t.Fatalf("attempt %d after five successes: %v (the refusal cost them their tokens)", i, err)
		}
		done(true)
	}
}
