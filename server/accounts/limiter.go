package accounts

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/skiffhq/skiff/server/auth"
)

// The per-account sign-in limit: five wrong passwords at once, then one a
// minute, for each user name (known or not), on top of the API server's
// per-address limit — so a guesser spread over many addresses still gets
// a handful of tries an hour at one account. So that a guesser cannot
// keep an account locked for its owner, an address the account signed
// in from before (up to knownAddresses of them) is held only to its own
// bucket for that name, not the name's.
const (
	accountFailureBurst = 5
	accountFailureRate  = rate.Limit(1.0 / 60)
	maxAccounts         = 10000
	knownAddresses      = 8
)

// accountLimiter is a token bucket per user name, and per user name and
// address, that only failed sign-ins drain (as auth.FailureLimiter's per
// address).
type accountLimiter struct {
	now func() time.Time
	max int

	mu    sync.Mutex
	names map[string]*accountFailures // by name, and by name + "\x00" + address
	known map[string][]string         // name → addresses it signed in from, newest last
}

type accountFailures struct {
	lim  *rate.Limiter
	seen time.Time
}

func newAccountLimiter(now func() time.Time) *accountLimiter {
	return &accountLimiter{now: now, max: maxAccounts, names: map[string]*accountFailures{}, known: map[string][]string{}}
}

// LockedError refuses a sign-in to an account that has failed too often.
// It unwraps to an *auth.TooManyError, so the API server answers 429 with
// Retry-After.
type LockedError struct {
	User string
	tm   *auth.TooManyError
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many failed sign-ins for user %q: try again in %d s", e.User, e.tm.Seconds())
}

// RetryAfter is how long until the next attempt may be made.
func (e *LockedError) RetryAfter() time.Duration { return e.tm.RetryAfter }

func (e *LockedError) Unwrap() error { return e.tm }

// bucket is the bucket of key, made full on first use.
func (l *accountLimiter) bucket(key string, now time.Time) *accountFailures {
	f, ok := l.names[key]
	if !ok {
		if len(l.names) >= l.max {
			l.forgetLocked(now)
		}
		f = &accountFailures{lim: rate.NewLimiter(accountFailureRate, accountFailureBurst)}
		l.names[key] = f
	}
	f.seen = now
	return f
}

// outcome is how a sign-in attempt ended, for the limiter.
type outcome int

const (
	// succeeded: the right password; its tokens come back and the
	// address becomes one the account is known at.
	succeeded outcome = iota
	// failed: a wrong password; its tokens are spent.
	failed
	// aborted: no answer (the server was busy, the client left); its
	// tokens come back, and nothing is learnt about the address.
	aborted
)

// attempt admits a sign-in to name from address (auth.AddressKey of the
// client's) or refuses it with a *LockedError; done is called with how it
// ended. The attempt holds a token of each bucket while it runs, so that
// parallel guesses cannot all pass before the first failure is counted.
func (l *accountLimiter) attempt(name, address string) (done func(outcome), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	buckets := []*accountFailures{l.bucket(name+"\x00"+address, now)}
	if !slices.Contains(l.known[name], address) {
		buckets = append(buckets, l.bucket(name, now))
	}
	for _, b := range buckets {
		if d := auth.Empty(b.lim, now); d > 0 {
			return nil, &LockedError{User: name, tm: &auth.TooManyError{RetryAfter: d}}
		}
	}
	held := make([]*rate.Reservation, len(buckets))
	for i, b := range buckets {
		held[i] = b.lim.ReserveN(now, 1)
	}
	return func(o outcome) {
		if o == failed {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, h := range held {
			h.CancelAt(now)
		}
		if o != succeeded {
			return
		}
		k := slices.DeleteFunc(l.known[name], func(a string) bool { return a == address })
		if k = append(k, address); len(k) > knownAddresses {
			k = k[len(k)-knownAddresses:]
		}
		if _, ok := l.known[name]; !ok && len(l.known) >= l.max {
			for n := range l.known { // full: one (map order: any) makes room
				delete(l.known, n)
				break
			}
		}
		l.known[name] = k
	}, nil
}

func (l *accountLimiter) forgetLocked(now time.Time) {
	var oldest string
	for n, f := range l.names {
		if f.lim.TokensAt(now) >= accountFailureBurst {
			delete(l.names, n)
		} else if oldest == "" || f.seen.Before(l.names[oldest].seen) {
			oldest = n
		}
	}
	if len(l.names) >= l.max && oldest != "" {
		delete(l.names, oldest)
	}
}
