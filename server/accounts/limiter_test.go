package accounts

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestAccountLimiterForgets(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newAccountLimiter(c.Now)
	l.max = 3
	fail := func(name string) error {
		done, err := l.attempt(name, "192.0.2.1")
		if err == nil {
			done(failed)
		}
		return err
	}
	for i := range accountFailureBurst {
		if err := fail("locked"); err != nil {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	var le *LockedError
	if err := fail("locked"); !errors.As(err, &le) || le.RetryAfter() <= 0 || le.RetryAfter() > time.Minute {
		t.Fatalf("err = %v, want locked for at most a minute", err)
	}
	// Names whose buckets are full go first when the table is full; the
	// locked one stays, and stays locked.
	for _, n := range []string{"ok1", "ok2"} {
		done, err := l.attempt(n, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		done(succeeded) // a success costs nothing
	}
	if err := fail("new"); err != nil {
		t.Fatal(err)
	}
	if len(l.names) > 2*l.max {
		t.Errorf("table holds %d buckets, max %d", len(l.names), 2*l.max)
	}
	if err := fail("locked"); !errors.As(err, &le) {
		t.Errorf("locked name forgotten while others could go: err = %v", err)
	}
	// When none can go, the one seen longest ago does.
	for i := range 3 {
		c.Advance(time.Second)
		fail(fmt.Sprintf("n%d", i))
	}
	if len(l.names) > 2*l.max {
		t.Errorf("table holds %d buckets, max %d", len(l.names), 2*l.max)
	}
}

// TestLockedAccountLetsItsOwnerIn: a guesser who has locked an account
// does not lock out its owner at an address the owner signed in from
// before; a new address is held to the lock.
func TestLockedAccountLetsItsOwnerIn(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newAccountLimiter(c.Now)
	try := func(addr string, fail bool) error {
		done, err := l.attempt("alice", addr)
		if err == nil {
			if fail {
				done(failed)
			} else {
				done(succeeded)
			}
		}
		return err
	}
	if err := try("home", false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < accountFailureBurst; i++ {
		try("guesser", true)
	}
	var le *LockedError
	if err := try("guesser", true); !errors.As(err, &le) {
		t.Fatalf("the guesser's sixth try: %v, want locked", err)
	}
	if err := try("elsewhere", false); !errors.As(err, &le) {
		t.Errorf("a new address while the account is locked: %v, want locked", err)
	}
	if err := try("home", false); err != nil {
		t.Errorf("the owner's known address while the account is locked: %v", err)
	}
	// The owner's address has its own bucket: guessing from there locks it.
	for i := 0; i < accountFailureBurst; i++ {
		try("home", true)
	}
	if err := try("home", false); !errors.As(err, &le) {
		t.Errorf("guessing from the known address: %v, want locked", err)
	}
}

// TestAbortedAttemptTeachesNothing: an attempt that got no answer gives
// its tokens back but does not make its address one the account is known
// at (else a guesser who drops connections would free itself of the
// account's bucket).
func TestAbortedAttemptTeachesNothing(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newAccountLimiter(c.Now)
	done, err := l.attempt("alice", "guesser")
	if err != nil {
		t.Fatal(err)
	}
	done(aborted)
	if len(l.known["alice"]) != 0 {
		t.Errorf("an aborted attempt made its address known: %v", l.known["alice"])
	}
	for i := 0; i < accountFailureBurst; i++ {
		if done, err := l.attempt("alice", "guesser"); err != nil {
			t.Fatalf("attempt %d: %v (the aborted one kept its token)", i, err)
		} else {
			done(failed)
		}
	}
}
