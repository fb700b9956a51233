package nodelease

import (
	"testing"
	"time"
)

func TestLeaseExpiresAndRenews(t *testing.T) {
	now := time.Unix(1000, 0)
	tab := New(func() time.Time { return now })
	notified := make(chan string, 4)
	tab.Notify(notified)

	l := tab.Renew("a", "system:node:a", 20*time.Second)
	if l.DurationSeconds != 20 || !l.AcquireTime.Equal(now) {
		t.Fatalf("lease %+v", l)
	}
	if got := <-notified; got != "a" {
		t.Fatalf("notified %q", got)
	}
	tab.Renew("b", "system:node:b", 20*time.Second)
	<-notified

	now = now.Add(15 * time.Second)
	tab.Renew("a", "system:node:a", 20*time.Second)
	select {
	case n := <-notified:
		t.Fatalf("a renewal notified %q", n)
	default:
	}
	now = now.Add(10 * time.Second)
	if got := tab.Expired(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("expired %v, want [b]", got)
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
	if _, ok := tab.Get("b"); ok || len(tab.Expired()) != 0 {
		t.Errorf("b still there after Forget")
	}
}
