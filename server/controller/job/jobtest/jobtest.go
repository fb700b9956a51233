// Package jobtest holds the fakes and helpers the job and cron job
// controllers' tests share: a clock that moves only when told (with
// timers that fire when it passes them), and writers of the pod and job
// statuses that, on a real cluster, the agent and the job controller
// would write.
package jobtest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Clock is a fake clock. Its AfterFunc timers fire (each f in its own
// goroutine, as time.AfterFunc) when Advance or Set passes their time.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

type timer struct {
	at time.Time
	f  func()
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc calls f once the clock has passed now+d; the returned func
// stops the timer and reports whether it was still pending.
func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	if d <= 0 {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	t := &timer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return true
			}
		}
		return false
	}
}

// Advance moves the clock by d and fires the timers now due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.setLocked(c.now.Add(d))
}

// Set moves the clock to t (never backwards) and fires the timers due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	if t.Before(c.now) {
		t = c.now
	}
	c.setLocked(t)
}

// setLocked moves the clock, unlocks, and fires what is due in time order.
func (c *Clock) setLocked(t time.Time) {
	c.now = t
	var due, keep []*timer
	for _, x := range c.timers {
		if !x.at.After(t) {
			due = append(due, x)
		} else {
			keep = append(keep, x)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, x := range due {
		go x.f()
	}
}

// Pending is the number of timers not yet fired or stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextTimer returns when the earliest pending timer fires.
func (c *Clock) NextTimer() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	for _, x := range c.timers {
		if at.IsZero() || x.at.Before(at) {
			at = x.at
		}
	}
	return at, !at.IsZero()
}

// SetPodPhase writes a pod's phase as the agent would when its containers
// end (or start): Running, Succeeded or Failed, with a terminated state
// finished at finished for each container when the phase is terminal.
func SetPodPhase(ctx context.Context, b client.Backend, namespace, name string, phase api.PodPhase, finished time.Time) error {
	pods := client.For[*api.Pod](b, namespace)
	return client.RetryOnConflict(ctx, func() error {
		p, err := pods.Get(ctx, name)
		if err != nil {
			return err
		}
		p.Status.Phase = phase
		p.Status.ContainerStatuses = nil
		for _, c := range p.Spec.Containers {
			cs := api.ContainerStatus{Name: c.Name, Image: c.Image}
			switch phase {
			case api.PodSucceeded, api.PodFailed:
				code := int32(0)
				if phase == api.PodFailed {
					code = 1
				}
				cs.State.Terminated = &api.ContainerStateTerminated{ExitCode: code, FinishedAt: api.NewTime(finished)}
			case api.PodRunning:
				cs.State.Running = &api.ContainerStateRunning{}
			}
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
		}
		_, err = pods.UpdateStatus(ctx, p)
		return err
	})
}

// FinishJob writes a Complete (or, if failed, Failed) condition onto a
// job, as the job controller would.
func FinishJob(ctx context.Context, b client.Backend, namespace, name string, failed bool, at time.Time) error {
	jobs := client.For[*api.Job](b, namespace)
	return client.RetryOnConflict(ctx, func() error {
		j, err := jobs.Get(ctx, name)
		if err != nil {
			return err
		}
		typ := api.JobComplete
		if failed {
			typ = api.JobFailed
		}
		j.Status.Conditions = append(j.Status.Conditions, api.JobCondition{
			Type: typ, Status: api.ConditionTrue, LastProbeTime: api.NewTime(at), LastTransitionTime: api.NewTime(at),
		})
		if j.Status.StartTime == nil {
			st := api.NewTime(at)
			j.Status.StartTime = &st
		}
		if !failed {
			ct := api.NewTime(at)
			j.Status.CompletionTime = &ct
		}
		_, err = jobs.UpdateStatus(ctx, j)
		return err
	})
}
