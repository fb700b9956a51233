package replicaset

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/internal/expectations"
	"github.com/skiffhq/skiff/server/controller/record"
)

// holdingBackend holds back the pod watch's events until release: the
// controller's pod informer lags behind the store, as it may for real.
type holdingBackend struct {
	client.Backend
	once    sync.Once
	release chan struct{}
}

func (b *holdingBackend) Release() { b.once.Do(func() { close(b.release) }) }

func (b *holdingBackend) Watch(ctx context.Context, resource, ns string, opts api.ListOptions) (api.Watcher, error) {
	w, err := b.Backend.Watch(ctx, resource, ns, opts)
	if err != nil || resource != "pods" {
		return w, err
	}
	h := &heldWatcher{inner: w, out: make(chan api.WatchEvent), stop: make(chan struct{})}
	go h.forward(b.release)
	return h, nil
}

type heldWatcher struct {
	inner api.Watcher
	out   chan api.WatchEvent
	stop  chan struct{}
	once  sync.Once
}

func (h *heldWatcher) ResultChan() <-chan api.WatchEvent { return h.out }

func (h *heldWatcher) Stop() {
	h.once.Do(func() { close(h.stop); h.inner.Stop() })
}

func (h *heldWatcher) forward(release <-chan struct{}) {
	defer close(h.out)
	select {
	case <-release:
	case <-h.stop:
		return
	}
	for ev := range h.inner.ResultChan() {
		select {
		case h.out <- ev:
		case <-h.stop:
			return
		}
	}
}

func TestExpectationsHoldUntilSeenOrTimeout(t *testing.T) {
	clk := controllertest.NewClock()
	var hb *holdingBackend
	e := newEnvWith(t, func(b client.Backend) client.Backend {
		hb = &holdingBackend{Backend: b, release: make(chan struct{})}
		return hb
	}, clk.Now)
	defer hb.Release()
	count := func() int {
		l, _, _, err := e.pods.List(e.ctx, api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	// Wake the controller without changing the spec.
	touch := func(i int) {
		err := client.RetryOnConflict(e.ctx, func() error {
			rs, err := e.rsets.Get(e.ctx, "web")
			if err != nil {
				return err
			}
			rs.Annotations = map[string]string{"touch": fmt.Sprint(i)}
			_, err = e.rsets.Update(e.ctx, rs)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.rsets.Create(e.ctx, newRS("web", 3)); err != nil {
		t.Fatal(err)
	}
	e.eventually("3 pods created", func() (bool, string) { return count() == 3, fmt.Sprint(count()) })
	for i := range 3 {
		touch(i)
	}
	time.Sleep(300 * time.Millisecond)
	if n := count(); n != 3 {
		t.Fatalf("%d pods while the informer had not shown the first 3; want no more creates", n)
	}
	// The informer never shows them: after the timeout the controller
	// acts on what it sees (no pods) again.
	clk.Advance(expectations.Timeout + time.Second)
	touch(9)
	e.eventually("3 more after the expectations timed out", func() (bool, string) { return count() == 6, fmt.Sprint(count()) })
	// The informer catches up: the surplus goes.
	hb.Release()
	e.waitPods("web", 3)
}

// failingBackend refuses every pod create, as for a template the
// registry accepts but that can never run.
type failingBackend struct {
	client.Backend
	mu       sync.Mutex
	attempts int
}

func (b *failingBackend) Create(ctx context.Context, resource, ns string, obj api.Object) (api.Object, error) {
	if resource == "pods" {
		b.mu.Lock()
		b.attempts++
		b.mu.Unlock()
		return nil, fmt.Errorf("pods %q is forbidden: exceeded quota", obj.GetObjectMeta().GenerateName)
	}
	return b.Backend.Create(ctx, resource, ns, obj)
}

func (b *failingBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.attempts
}

func TestFailingCreatesDoNotStorm(t *testing.T) {
	var fb *failingBackend
	e := newEnvWith(t, func(b client.Backend) client.Backend {
		fb = &failingBackend{Backend: b}
		return fb
	}, nil)
	if _, err := e.rsets.Create(e.ctx, newRS("web", 100)); err != nil {
		t.Fatal(err)
	}
	e.eventually("a ReplicaFailure condition", func() (bool, string) {
		rs, err := e.rsets.Get(e.ctx, "web")
		if err != nil {
			return false, err.Error()
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == api.ReplicaSetReplicaFailure && c.Reason == record.ReasonFailedCreate {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", rs.Status)
	})
	time.Sleep(500 * time.Millisecond)
	// Each sync tries one pod (slow start) and syncs back off: a handful
	// of attempts, not hundreds.
	if n := fb.count(); n > 20 {
		t.Errorf("%d create attempts in about half a second, want a handful", n)
	}
	e.eventually("one FailedCreate event", func() (bool, string) {
		evs, _, _, err := client.For[*api.Event](e.reg, "default").List(e.ctx, api.ListOptions{FieldSelector: "reason=FailedCreate"})
		return err == nil && len(evs) == 1, fmt.Sprintf("%d events, err %v", len(evs), err)
	})
	t.Logf("%d create attempts", fb.count())
}
