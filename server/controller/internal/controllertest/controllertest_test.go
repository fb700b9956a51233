package controllertest

import (
	"context"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

func TestClock(t *testing.T) {
	c := NewClock()
	if got := c.Now(); !got.Equal(T0) {
		t.Errorf("Now = %v, want %v", got, T0)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), T0.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("Now after Advance = %v, want %v", got, want)
	}
}

func TestRegistryAndPods(t *testing.T) {
	reg, _, ctx := Registry(t, time.Minute)
	nodes := client.For[*api.Node](reg, "")
	if _, err := nodes.Create(ctx, ReadyNode("n1", map[string]string{"a": "b"})); err != nil {
		t.Fatal(err)
	}
	pods := client.For[*api.Pod](reg, "default")
	p, err := pods.Create(ctx, &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "p"},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := SetRunningReady(ctx, pods, p, T0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != api.PodRunning || len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Status != api.ConditionTrue {
		t.Errorf("status = %+v, want Running and Ready", got.Status)
	}
	if p.Status.Phase == api.PodRunning {
		t.Error("SetRunningReady changed the pod it was given")
	}
	if err := RemovePod(ctx, pods, got); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "p"); err == nil {
		t.Error("pod still there after RemovePod")
	}
}

func TestStartStops(t *testing.T) {
	ran := make(chan struct{})
	stop := Start(t, t.Context(), func(ctx context.Context) error {
		close(ran)
		<-ctx.Done()
		return nil
	})
	<-ran
	stop()
	stop() // a second stop does nothing
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, Poll{Within: time.Second, Every: time.Millisecond}, "three looks", func() (bool, string) {
		n++
		return n == 3, "not yet"
	})
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}
