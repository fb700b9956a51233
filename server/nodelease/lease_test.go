package nodelease

import (
	"testing"
	"time"
)

func TestLeaseExpiresAndRenews(t *testing.T) {
	now := time.Unix(1000, 0)
	tab := New(func() time.Time { return now })

	l := tab.Renew("a", "system:node:a", 20*time.Second)
	if l.DurationSeconds != 20 || !l.AcquireTime.Equal(now) {
		t.Fatalf("lease %+v", l)
	}
	tab.Renew("b", "system:node:b", 20*time.Second)

	now = now.Add(15 * time.Second)
	tab.Renew("a", "system:node:a", 20*time.Second)
	now = now.Add(10 * time.Second)
	for node, want := range map[string]bool{"a": false, "b": true} {
		if l, _ := tab.Get(node); l.Expired(now) != want {
			t.Fatalf("lease of %s expired: %v, want %v", node, l.Expired(now), want)
		}
	}
	l, _ = tab.Get("a")
	if !l.AcquireTime.Equal(time.Unix(1000, 0)) {
		t.Errorf("renewal moved acquire time to %v", l.AcquireTime)
	}
	tab.Renew("a", "someone-else", 20*time.Second)
	if l, _ = tab.Get("a"); !l.AcquireTime.Equal(now) {
		t.Errorf("a new holder keeps the old acquire time")
	}
	tab.Forget("b")
	if _, ok := tab.Get("b"); ok {
		t.Errorf("b still there after Forget")
	}
}
