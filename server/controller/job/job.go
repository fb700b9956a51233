// Package job runs Jobs as Kubernetes' job controller does: it creates
// pods from a job's template (parallelism at a time) until completions of
// them have succeeded, replaces failed ones with an exponential back-off
// until backoffLimit failures, ends the job Complete or Failed
// (BackoffLimitExceeded, DeadlineExceeded) with its active pods deleted,
// suspends and resumes it, writes its status, and deletes a finished job
// once ttlSecondsAfterFinished has passed (the garbage collector then
// deletes its pods). It does not schedule or run pods, nor delete the
// pods of a deleted job.
//
//	informers: jobs, pods (indexed by controlling job uid)
//	     │ job and pod changes, clock wake-ups (back-off, deadline, TTL)
//	     ▼
//	queue of job keys ──► sync: claim pods → count → finished? → deadline /
//	                      back-off limit → suspend → create / delete the
//	                      difference → write status if changed → wake-up
//
// Only NonIndexed completion is implemented; an Indexed job is refused
// with a Warning Event. Failed and succeeded pods are counted from the
// pods that exist (no job-tracking finalizers): a finished pod deleted by
// hand is still counted, because the counts in the status never go down.
package job

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/expectations"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/versions"
	"github.com/skiffhq/skiff/server/controller/internal/wakeup"
	"github.com/skiffhq/skiff/server/controller/internal/worker"
	"github.com/skiffhq/skiff/server/controller/record"
)

// Clock is the controller's time source: Now, and AfterFunc, which calls
// f in its own goroutine after d as time.AfterFunc does and returns a func
// that stops the timer. Tests pass jobtest.Clock, which moves only when
// told.
type Clock = wakeup.Clock

// Config says where the jobs are and how hard to work on them.
type Config struct {
	Backend client.Backend
	// Workers is how many jobs are synced at once (default 2).
	Workers int
	// BurstPods caps the pods one sync creates (default 500, as
	// Kubernetes); the rest wait for the next sync.
	BurstPods int
	// Clock is the time source (nil: the wall clock).
	Clock Clock
	Log   *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("job: a backend is required")
	}
	if c.Workers < 0 || c.BurstPods < 0 {
		return errors.New("job: workers and burst pods may not be negative")
	}
	return nil
}

// Controller is the job controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	clock  Clock
	jobs   *client.Informer[*api.Job]
	pods   *client.Informer[*api.Pod]
	queue  *client.Queue[string]
	wake   *wakeup.Set
	exp    *expectations.Expectations
	seen   *finishSeen
	vers   *versions.Versions
	events *record.Recorder
}

// The informer indices.
const (
	byNamespace = "namespace"
	byOwner     = "owner" // the controlling owner's uid
)

// New builds a controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.BurstPods == 0 {
		cfg.BurstPods = 500
	}
	if cfg.Clock == nil {
		cfg.Clock = wakeup.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{
		cfg:    cfg,
		log:    cfg.Log,
		clock:  cfg.Clock,
		jobs:   client.NewInformer[*api.Job](cfg.Backend, "", api.ListOptions{}, cfg.Log.With("informer", "jobs")),
		pods:   client.NewInformer[*api.Pod](cfg.Backend, "", api.ListOptions{}, cfg.Log.With("informer", "pods")),
		queue:  client.NewQueue[string](nil),
		exp:    expectations.New(cfg.Clock.Now),
		seen:   newFinishSeen(),
		vers:   versions.New(),
		events: record.New(cfg.Backend, "job-controller", cfg.Clock.Now, cfg.Log),
	}
	c.wake = wakeup.New(cfg.Clock, c.queue.Add)
	if err := c.pods.AddIndex(byNamespace, func(p *api.Pod) []string { return []string{p.Namespace} }); err != nil {
		return nil, err
	}
	if err := c.pods.AddIndex(byOwner, func(p *api.Pod) []string {
		if ref := api.ControllerOf(&p.ObjectMeta); ref != nil {
			return []string{ref.UID}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := c.jobs.AddIndex(byNamespace, func(j *api.Job) []string { return []string{j.Namespace} }); err != nil {
		return nil, err
	}
	c.jobs.AddHandler(client.HandlerFuncs[*api.Job]{
		AddFunc: func(j *api.Job) { c.queue.Add(jobKey(j)) },
		UpdateFunc: func(old, j *api.Job) {
			if old.ResourceVersion != j.ResourceVersion {
				c.queue.Add(jobKey(j))
			}
		},
		DeleteFunc: func(j *api.Job) {
			c.exp.Forget(jobKey(j))
			c.wake.Forget(jobKey(j))
			c.vers.Forget(jobKey(j))
			c.events.Forget(j.UID)
			c.queue.Add(jobKey(j))
		},
	})
	c.pods.AddHandler(client.HandlerFuncs[*api.Pod]{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: func(p *api.Pod) {
		c.seen.forget(p.UID) // gone: its finish time is no longer needed
		c.deletePod(p)
	}})
	return c, nil
}

// Run syncs jobs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.jobs.Run(ctx) })
	g.Go(func() error { return c.pods.Run(ctx) })
	g.Go(func() error { return c.events.Run(ctx) })
	g.Go(func() error {
		<-ctx.Done()
		c.wake.StopAll()
		c.queue.ShutDown()
		return nil
	})
	if c.jobs.WaitForSync(ctx) && c.pods.WaitForSync(ctx) {
		for range c.cfg.Workers {
			g.Go(func() error { c.worker(ctx); return nil })
		}
	}
	return g.Wait()
}

func (c *Controller) worker(ctx context.Context) {
	worker.Run(ctx, c.queue, c.sync, func(key string, err error) {
		// errStale: the cache was behind a write; it is looked at again
		// shortly, which is no failure to log.
		if !errors.Is(err, errStale) {
			c.log.Warn("sync job", "job", key, "err", err)
		}
	})
}

func jobKey(j *api.Job) string { return j.Namespace + "/" + j.Name }

// resolve returns the job ref names, if it is the one cached.
func (c *Controller) resolve(ns string, ref *api.OwnerReference) *api.Job {
	return owner.Resolve[*api.Job](c.jobs, "Job", ns, ref)
}

// matching returns the jobs whose selector matches an orphan pod.
func (c *Controller) matching(pod *api.Pod) []*api.Job {
	var out []*api.Job
	for _, j := range c.jobs.ByIndex(byNamespace, pod.Namespace) {
		if j.Spec.Selector == nil {
			continue
		}
		sel, err := api.LabelSelectorAsSelector(j.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(pod.Labels) {
			continue
		}
		out = append(out, j)
	}
	return out
}

func (c *Controller) addPod(pod *api.Pod) {
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := api.ControllerOf(&pod.ObjectMeta); ref != nil {
		if j := c.resolve(pod.Namespace, ref); j != nil {
			c.exp.CreationObserved(jobKey(j))
			c.queue.Add(jobKey(j))
		}
		return
	}
	for _, j := range c.matching(pod) {
		c.queue.Add(jobKey(j))
	}
}

func (c *Controller) updatePod(old, cur *api.Pod) {
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil {
		c.deletePod(cur)
		return
	}
	curRef, oldRef := api.ControllerOf(&cur.ObjectMeta), api.ControllerOf(&old.ObjectMeta)
	if oldRef != nil && (curRef == nil || curRef.UID != oldRef.UID) {
		if j := c.resolve(old.Namespace, oldRef); j != nil {
			c.queue.Add(jobKey(j))
		}
	}
	if curRef != nil {
		if j := c.resolve(cur.Namespace, curRef); j != nil {
			c.queue.Add(jobKey(j))
		}
		return
	}
	for _, j := range c.matching(cur) {
		c.queue.Add(jobKey(j))
	}
}

func (c *Controller) deletePod(pod *api.Pod) {
	ref := api.ControllerOf(&pod.ObjectMeta)
	if ref == nil {
		return
	}
	if j := c.resolve(pod.Namespace, ref); j != nil {
		c.exp.DeletionObserved(jobKey(j), podKey(pod))
		c.queue.Add(jobKey(j))
	}
}

// now is the controller's clock, in UTC.
func (c *Controller) now() time.Time { return c.clock.Now() }

// FinishedCondition returns the job's Complete or Failed condition when it
// is true, else nil: whether the job has finished, and how.
func FinishedCondition(j *api.Job) *api.JobCondition {
	for i := range j.Status.Conditions {
		cond := &j.Status.Conditions[i]
		if (cond.Type == api.JobComplete || cond.Type == api.JobFailed) && cond.Status == api.ConditionTrue {
			return cond
		}
	}
	return nil
}

// ref is the Event reference of a job.
func ref(j *api.Job) api.ObjectReference {
	return api.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID}
}
