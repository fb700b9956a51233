package worker

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Informer is what Loop needs of a cache; *client.Informer[T] is one.
type Informer interface {
	Run(ctx context.Context) error
	WaitForSync(ctx context.Context) bool
}

var _ Informer = (*client.Informer[*api.Pod])(nil)

// Loop is what one controller runs: its informers, what runs beside them
// (an Event recorder), and Workers sync loops (Run) over Queue, started
// once every informer has synced.
type Loop struct {
	Queue   *client.Queue[string]
	Workers int
	Sync    func(ctx context.Context, key string) error
	// Failed hears of a failed sync, to log it.
	Failed    func(key string, err error)
	Informers []Informer
	// Also run beside the informers until ctx ends; nil entries are
	// skipped.
	Also []func(ctx context.Context) error
	// Stop, if not nil, is called once ctx ends, before Queue shuts down
	// (to cancel wake-ups).
	Stop func()
}

// Run runs the loop until ctx ends or a part of it fails, and returns
// the first error.
func (l Loop) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, inf := range l.Informers {
		g.Go(func() error { return inf.Run(ctx) })
	}
	for _, run := range l.Also {
		if run != nil {
			g.Go(func() error { return run(ctx) })
		}
	}
	g.Go(func() error {
		<-ctx.Done()
		if l.Stop != nil {
			l.Stop()
		}
		l.Queue.ShutDown()
		return nil
	})
	if l.synced(ctx) {
		for range l.Workers {
			g.Go(func() error { Run(ctx, l.Queue, l.Sync, l.Failed); return nil })
		}
	}
	return g.Wait()
}

func (l Loop) synced(ctx context.Context) bool {
	for _, inf := range l.Informers {
		if !inf.WaitForSync(ctx) {
			return false
		}
	}
	return true
}
