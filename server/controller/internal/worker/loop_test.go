package worker

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/server/client"
)

type fakeInformer struct {
	synced bool
	ran    chan struct{}
}

func (f *fakeInformer) Run(ctx context.Context) error {
	close(f.ran)
	<-ctx.Done()
	return nil
}

func (f *fakeInformer) WaitForSync(ctx context.Context) bool { return f.synced }

func TestLoop(t *testing.T) {
	q := client.NewQueue[string](nil)
	inf := &fakeInformer{synced: true, ran: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var synced []string
	stopped := false
	q.Add("ns/a")
	err := Loop{
		Queue: q, Workers: 2,
		Sync: func(_ context.Context, key string) error {
			mu.Lock()
			defer mu.Unlock()
			synced = append(synced, key)
			cancel()
			return nil
		},
		Failed:    func(string, error) {},
		Informers: []Informer{inf},
		Also:      []func(context.Context) error{nil, func(ctx context.Context) error { <-ctx.Done(); return nil }},
		Stop:      func() { stopped = true },
	}.Run(ctx)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(synced) != 1 || synced[0] != "ns/a" {
		t.Errorf("synced %q, want [ns/a]", synced)
	}
	if !stopped {
		t.Error("Stop was not called when ctx ended")
	}
}

func TestLoopNoWorkersBeforeSync(t *testing.T) {
	q := client.NewQueue[string](nil)
	q.Add("ns/a")
	inf := &fakeInformer{synced: false, ran: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	boom := errors.New("boom")
	err := Loop{
		Queue: q, Workers: 1,
		Sync:      func(context.Context, string) error { t.Error("synced before the informers synced"); return nil },
		Failed:    func(string, error) {},
		Informers: []Informer{inf},
		Also:      []func(context.Context) error{func(context.Context) error { <-inf.ran; cancel(); return boom }},
	}.Run(ctx)
	if !errors.Is(err, boom) {
		t.Errorf("Run = %v, want %v", err, boom)
	}
}
