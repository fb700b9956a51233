package oidc

import (
	"fmt"
	"testing"
	"time"
)

func TestPendingStore(t *testing.T) {
	t0 := time.Now()
	s := newPendingStore(3, time.Minute)
	add := func(state string, at time.Time) int {
		return s.add(&pending{state: state, created: at, returnTo: "r-" + state})
	}
	for i := range 3 {
		if d := add(fmt.Sprint(i), t0); d != 0 {
			t.Fatalf("add %d dropped %d, want 0", i, d)
		}
	}
	if d := add("3", t0); d != 1 {
		t.Errorf("add past the cap dropped %d, want 1", d)
	}
	if _, found, _ := s.take("0", t0); found {
		t.Errorf("the oldest entry survived the cap")
	}
	p, found, expired := s.take("1", t0)
	if !found || expired || p.returnTo != "r-1" {
		t.Errorf("take(1) = %+v, %v, %v; want the entry", p, found, expired)
	}
	if _, found, _ := s.take("1", t0); found {
		t.Errorf("take(1) twice found it again")
	}
	if _, found, expired := s.take("2", t0.Add(time.Minute+time.Second)); !found || !expired {
		t.Errorf("take after the TTL: found %v, expired %v; want both", found, expired)
	}
	// Adding later sweeps expired entries from the front.
	add("4", t0.Add(2*time.Minute))
	if n := s.len(); n != 1 {
		t.Errorf("len after expiry sweep = %d, want 1", n)
	}
}

func TestPendingStoreAtFullSize(t *testing.T) {
	s := newPendingStore(MaxPending, PendingTTL)
	now := time.Now()
	for i := range MaxPending + 500 {
		s.add(&pending{state: fmt.Sprint(i), created: now})
	}
	if n := s.len(); n != MaxPending {
		t.Errorf("len = %d, want the cap %d", n, MaxPending)
	}
	if _, found, _ := s.take("499", now); found {
		t.Errorf("entry 499 should have been dropped as one of the oldest")
	}
	if _, found, _ := s.take("500", now); !found {
		t.Errorf("entry 500 should be kept")
	}
}
