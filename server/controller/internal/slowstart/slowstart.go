// Package slowstart issues many like calls (pod creates) in growing
// parallel batches, so that a template that cannot work costs a few failed
// calls, not one per pod. It does not retry or decide how many calls to
// make.
package slowstart

import "sync"

// Run calls fn count times, in batches of initial, then twice as many,
// and so on, the calls of a batch in parallel. It stops after a batch
// with a failure, so a template that cannot work costs a few failed
// calls, not count of them. It returns how many calls succeeded and the
// first error.
func Run(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errc := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errc <- err
				}
			}()
		}
		wg.Wait()
		close(errc)
		successes += batch - len(errc)
		if err, failed := <-errc; failed {
			return successes, err
		}
		remaining -= batch
	}
	return successes, nil
}
