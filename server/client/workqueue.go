package client

import (
	"sync"
	"time"
)

// Queue is a rate-limited work queue of keys, as controllers use it: many
// Adds of one key collapse into one pending item, a key is never handed to
// two workers at once, and a key added while a worker has it is queued
// again when the worker calls Done.
//
//	for {
//		key, ok := q.Get()
//		if !ok { return }               // shut down
//		if err := sync(key); err != nil {
//			q.AddRateLimited(key)       // retry later, backing off
//		} else {
//			q.Forget(key)               // reset its back-off
//		}
//		q.Done(key)
//	}
type Queue[K comparable] struct {
	limiter RateLimiter

	mu         sync.Mutex
	cond       *sync.Cond
	queue      []K
	dirty      map[K]struct{} // queued or to be requeued after Done
	processing map[K]struct{}
	waiting    map[K]*waiter
	shutdown   bool
}

type waiter struct {
	at    time.Time
	timer *time.Timer
}

// NewQueue returns an empty queue; nil limiter means DefaultRateLimiter.
func NewQueue[K comparable](limiter RateLimiter) *Queue[K] {
	if limiter == nil {
		limiter = DefaultRateLimiter()
	}
	q := &Queue[K]{
		limiter:    limiter,
		dirty:      map[K]struct{}{},
		processing: map[K]struct{}{},
		waiting:    map[K]*waiter{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues k unless it is already waiting to be processed.
func (q *Queue[K]) Add(k K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(k)
}

func (q *Queue[K]) addLocked(k K) {
	if q.shutdown {
		return
	}
	if _, ok := q.dirty[k]; ok {
		return
	}
	q.dirty[k] = struct{}{}
	if _, ok := q.processing[k]; ok {
		return // Done queues it
	}
	q.queue = append(q.queue, k)
	q.cond.Broadcast() // Get and ShutDownWithDrain share the cond: wake all
}

// AddAfter queues k after d. If k is already due sooner, nothing changes.
func (q *Queue[K]) AddAfter(k K, d time.Duration) {
	if d <= 0 {
		q.Add(k)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	at := time.Now().Add(d)
	if w, ok := q.waiting[k]; ok {
		if !at.Before(w.at) {
			return
		}
		w.timer.Stop()
	}
	w := &waiter{at: at}
	w.timer = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.waiting[k] == w {
			delete(q.waiting, k)
			q.addLocked(k)
		}
	})
	q.waiting[k] = w
}

// AddRateLimited queues k after its back-off.
func (q *Queue[K]) AddRateLimited(k K) { q.AddAfter(k, q.limiter.When(k)) }

// Forget resets k's back-off.
func (q *Queue[K]) Forget(k K) { q.limiter.Forget(k) }

// NumRequeues is how often k was retried since Forget.
func (q *Queue[K]) NumRequeues(k K) int { return q.limiter.NumRequeues(k) }

// Len is the number of keys ready to be handed out.
func (q *Queue[K]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
}

// Get blocks until a key is ready and hands it out; false once the queue
// is shut down and empty. Call Done with the key when finished.
func (q *Queue[K]) Get() (K, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	var zero K
	if len(q.queue) == 0 {
		return zero, false
	}
	k := q.queue[0]
	q.queue[0] = zero
	q.queue = q.queue[1:]
	q.processing[k] = struct{}{}
	delete(q.dirty, k)
	return k, true
}

// Done marks k finished; if it was added meanwhile, it is queued again.
func (q *Queue[K]) Done(k K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, k)
	if _, ok := q.dirty[k]; ok {
		q.queue = append(q.queue, k)
		q.cond.Broadcast() // Get and ShutDownWithDrain share the cond: wake all
	} else if len(q.processing) == 0 {
		q.cond.Broadcast() // ShutDownWithDrain may be waiting
	}
}

// ShutDown stops the queue: Adds are ignored, pending delays cancelled,
// and Get returns false once the ready keys are handed out.
func (q *Queue[K]) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdownLocked()
}

func (q *Queue[K]) shutdownLocked() {
	q.shutdown = true
	for k, w := range q.waiting {
		w.timer.Stop()
		delete(q.waiting, k)
	}
	q.cond.Broadcast()
}

// ShutDownWithDrain shuts down and waits until every key handed out is Done.
func (q *Queue[K]) ShutDownWithDrain() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdownLocked()
	for len(q.processing) > 0 || len(q.queue) > 0 {
		q.cond.Wait()
	}
}
