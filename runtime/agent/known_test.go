package agent

import (
	"context"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// podSource is an API that serves the agent's pod informer and nothing
// else: the list waits for release, the watch sends what events has.
type podSource struct {
	client.Backend // nil: anything but List and Watch panics
	release        chan struct{}
	pods           []*api.Pod
	events         chan api.WatchEvent
}

func (s *podSource) List(ctx context.Context, resource, namespace string, opts api.ListOptions) (*client.ObjectList, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	list := &client.ObjectList{ResourceVersion: "1"}
	for _, p := range s.pods {
		list.Items = append(list.Items, p)
	}
	return list, nil
}

func (s *podSource) Watch(ctx context.Context, resource, namespace string, opts api.ListOptions) (api.Watcher, error) {
	return watcher(s.events), nil
}

type watcher chan api.WatchEvent

func (w watcher) ResultChan() <-chan api.WatchEvent { return w }
func (w watcher) Stop()                             {}

// The agent's other dependencies, which KnownPod does not use: nil
// interfaces, so that a call panics.
type (
	noRuntime struct{ container.Runtime }
	noNetwork struct{ Network }
	noProber  struct{ Prober }
)

func boundPod(name, uid string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name, UID: uid, ResourceVersion: "1"},
		Spec:       api.PodSpec{NodeName: "n1"},
	}
}

func TestKnownPod(t *testing.T) {
	src := &podSource{
		release: make(chan struct{}),
		pods:    []*api.Pod{boundPod("web", "uid-bound")},
		events:  make(chan api.WatchEvent),
	}
	a, err := New(Config{
		NodeName: "n1",
		Client:   src,
		Runtime:  noRuntime{},
		Network:  noNetwork{},
		Prober:   noProber{},
		DataDir:  t.TempDir(),
		StateDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.pods.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Before the first list every pod is known, even one no one has
	// heard of.
	for _, uid := range []string{"uid-bound", "uid-unknown"} {
		if !a.KnownPod(uid) {
			t.Errorf("before the pods are listed: KnownPod(%q) = false, want true", uid)
		}
	}

	close(src.release)
	if !a.pods.WaitForSync(ctx) {
		t.Fatal("pod informer did not sync")
	}
	a.mu.Lock()
	a.terminating["uid-terminating"] = true
	a.mu.Unlock()
	a.cache.set(container.Status{ID: "c1", Pod: container.PodRef{UID: "uid-running"}, Name: "main", State: container.StateRunning})
	a.cache.set(container.Status{ID: "c2", Pod: container.PodRef{UID: "uid-exited"}, Name: "main", State: container.StateExited})
	for _, tc := range []struct {
		uid  string
		want bool
	}{
		{"uid-bound", true},       // in the informer
		{"uid-terminating", true}, // being torn down
		{"uid-running", true},     // has a running container
		{"uid-exited", true},      // has an exited one
		{"uid-unknown", false},
		{"", false},
	} {
		if got := a.KnownPod(tc.uid); got != tc.want {
			t.Errorf("KnownPod(%q) = %v, want %v", tc.uid, got, tc.want)
		}
	}

	// What the informer and the agent forget is no longer known; a pod
	// bound later is.
	a.mu.Lock()
	delete(a.terminating, "uid-terminating") // as forgetPod does
	a.mu.Unlock()
	a.cache.remove("uid-exited", "c2")
	src.events <- api.WatchEvent{Type: api.Deleted, Object: boundPod("web", "uid-bound")}
	src.events <- api.WatchEvent{Type: api.Added, Object: boundPod("later", "uid-later")}
	deadline := time.Now().Add(10 * time.Second)
	for a.KnownPod("uid-bound") || !a.KnownPod("uid-later") {
		if time.Now().After(deadline) {
			t.Fatalf("after the watch events: KnownPod(uid-bound) = %v, KnownPod(uid-later) = %v; want false, true",
				a.KnownPod("uid-bound"), a.KnownPod("uid-later"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, uid := range []string{"uid-terminating", "uid-exited"} {
		if a.KnownPod(uid) {
			t.Errorf("after forgetting it: KnownPod(%q) = true, want false", uid)
		}
	}
}
