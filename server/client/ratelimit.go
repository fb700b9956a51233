package client

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter decides how long an item waits before it is retried.
type RateLimiter interface {
	// When returns the wait before the item's next try, and counts a try.
	When(item any) time.Duration
	// Forget clears the item's history (it succeeded).
	Forget(item any)
	// NumRequeues is how many tries the item has had since Forget.
	NumRequeues(item any) int
}

// ExponentialRateLimiter waits base·2^n for an item's n-th retry, up to max.
type ExponentialRateLimiter struct {
	mu        sync.Mutex
	failures  map[any]int
	base, max time.Duration
}

// NewExponentialRateLimiter returns a per-item exponential back-off.
func NewExponentialRateLimiter(base, max time.Duration) *ExponentialRateLimiter {
	return &ExponentialRateLimiter{failures: map[any]int{}, base: base, max: max}
}

// When counts a retry and returns its wait.
func (r *ExponentialRateLimiter) When(item any) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.failures[item]
	r.failures[item] = n + 1
	if n > 62 {
		return r.max
	}
	d := r.base * time.Duration(int64(1)<<n)
	if d > r.max || d <= 0 {
		return r.max
	}
	return d
}

// Forget clears the item's count.
func (r *ExponentialRateLimiter) Forget(item any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, item)
}

// NumRequeues is the item's count.
func (r *ExponentialRateLimiter) NumRequeues(item any) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures[item]
}

// BucketRateLimiter caps retries of all items together with a token bucket.
type BucketRateLimiter struct{ l *rate.Limiter }

// NewBucketRateLimiter allows qps retries a second with bursts of burst.
func NewBucketRateLimiter(qps float64, burst int) *BucketRateLimiter {
	return &BucketRateLimiter{l: rate.NewLimiter(rate.Limit(qps), burst)}
}

// When reserves a token and returns how long until it is good.
func (r *BucketRateLimiter) When(any) time.Duration { return r.l.Reserve().Delay() }

// Forget does nothing: the bucket is shared.
func (r *BucketRateLimiter) Forget(any) {}

// NumRequeues is not tracked by a bucket.
func (r *BucketRateLimiter) NumRequeues(any) int { return 0 }

// MaxOfRateLimiter waits the longest of its limiters.
type MaxOfRateLimiter []RateLimiter

// When asks every limiter and returns the longest wait.
func (m MaxOfRateLimiter) When(item any) time.Duration {
	var d time.Duration
	for _, l := range m {
		if w := l.When(item); w > d {
			d = w
		}
	}
	return d
}

// Forget forgets in every limiter.
func (m MaxOfRateLimiter) Forget(item any) {
	for _, l := range m {
		l.Forget(item)
	}
}

// NumRequeues is the largest count of any limiter.
func (m MaxOfRateLimiter) NumRequeues(item any) int {
	n := 0
	for _, l := range m {
		n = max(n, l.NumRequeues(item))
	}
	return n
}

// DefaultRateLimiter is per-item exponential back-off from 5 ms to 1000 s,
// and at most 10 retries a second (bursts of 100) across all items.
func DefaultRateLimiter() RateLimiter {
	return MaxOfRateLimiter{
		NewExponentialRateLimiter(5*time.Millisecond, 1000*time.Second),
		NewBucketRateLimiter(10, 100),
	}
}
