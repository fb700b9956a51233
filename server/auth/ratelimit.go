package auth

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// FailureLimiter slows down guessing (a lockout, as sshd's and most
// sign-in pages'; behind a NAT or proxy all clients share an address, so
// ten wrong tokens there lock everyone behind it out for up to a minute;
// per-account limits come with accounts): every client address has a token
// bucket that only failed attempts (a wrong bearer token, a wrong join
// secret) drain; an address whose bucket is empty is refused — right
// secret or not — until it refills, so a guesser gets Burst tries and
// then Rate per second, while everyone else is unaffected. Successes
// cost nothing. At most 10,000 addresses are remembered: when the table
// is full, those whose buckets have refilled go first, else the one seen
// longest ago.
type FailureLimiter struct {
	rate  rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu    sync.Mutex
	addrs map[string]*failures
}

type failures struct {
	lim  *rate.Limiter
	seen time.Time
}

// DefaultFailureRate and DefaultFailureBurst: ten wrong tries at once,
// then one every six seconds (ten a minute) per address.
const (
	DefaultFailureRate  = rate.Limit(1.0 / 6)
	DefaultFailureBurst = 10
	maxAddresses        = 10000
)

// NewFailureLimiter allows burst failures per address, refilled at r per
// second.
func NewFailureLimiter(r rate.Limit, burst int) *FailureLimiter {
	return &FailureLimiter{rate: r, burst: burst, max: maxAddresses, now: time.Now, addrs: map[string]*failures{}}
}

// AddressKey is what a client address (a RemoteAddr) is limited as: the IPv4
// address, or the IPv6 /64 (one machine may hold a whole /64).
func AddressKey(remote string) string {
	h := remote
	if hp, _, err := net.SplitHostPort(remote); err == nil {
		h = hp
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return h
}

// Attempt admits an attempt from remote (a RemoteAddr) — or refuses it
// with ErrTooManyRequests saying when to try again, once its failures
// are used up — and returns done, to be called with whether it failed.
// The attempt holds one of the address's tokens while it runs, so that
// many at once cannot all pass before the first failure is counted; a
// success gives it back.
func (l *FailureLimiter) Attempt(remote string) (done func(failed bool), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	host := AddressKey(remote)
	f, ok := l.addrs[host]
	if !ok {
		if len(l.addrs) >= l.max {
			l.forgetLocked(now)
		}
		f = &failures{lim: rate.NewLimiter(l.rate, l.burst)}
		l.addrs[host] = f
	}
	f.seen = now
	if d := Empty(f.lim, now); d > 0 {
		return nil, &TooManyError{RetryAfter: d}
	}
	res := f.lim.ReserveN(now, 1)
	return func(failed bool) {
		if !failed {
			// As of the reservation: a cancel dated after a reservation
			// that could act at once does nothing.
			l.mu.Lock()
			res.CancelAt(now)
			l.mu.Unlock()
		}
	}, nil
}

// Empty says how long until lim holds a whole token at now (0: it holds
// one). A refusal is decided by it, without a reservation: cancelling one
// that had to wait leaves the limiter's clock ahead, so that the
// attempts still running when it was made would get nothing back when
// they succeed.
func Empty(lim *rate.Limiter, now time.Time) time.Duration {
	if lim.Limit() == rate.Inf {
		return 0
	}
	tok := lim.TokensAt(now)
	if tok >= 1 {
		return 0
	}
	if lim.Limit() <= 0 {
		return time.Hour
	}
	return time.Duration((1 - tok) / float64(lim.Limit()) * float64(time.Second))
}

// forgetLocked drops addresses whose buckets are full again, else the
// one seen longest ago.
func (l *FailureLimiter) forgetLocked(now time.Time) {
	var oldest string
	for h, f := range l.addrs {
		if f.lim.TokensAt(now) >= float64(l.burst) {
			delete(l.addrs, h)
		} else if oldest == "" || f.seen.Before(l.addrs[oldest].seen) {
			oldest = h
		}
	}
	if len(l.addrs) >= l.max && oldest != "" {
		delete(l.addrs, oldest)
	}
}

// TooManyError is a refusal by a FailureLimiter.
type TooManyError struct{ RetryAfter time.Duration }

func (e *TooManyError) Error() string {
	return fmt.Sprintf("too many failed attempts from this address: try again in %d s", e.Seconds())
}

// Seconds is RetryAfter in whole seconds, rounded up (the Retry-After
// header's value).
func (e *TooManyError) Seconds() int { return int((e.RetryAfter + time.Second - 1) / time.Second) }

func (e *TooManyError) Unwrap() error { return errdefs.ErrTooManyRequests }
