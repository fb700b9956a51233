package job

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/garbagecollector"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/job/jobtest"
	"github.com/skiffhq/skiff/server/controller/record"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// env is a real store and registry in a temporary directory with the job
// controller (and, if asked, the garbage collector) running on it. No
// scheduler or agent runs: tests write pod phases themselves.
type env struct {
	t     testing.TB
	ctx   context.Context
	st    *store.Bolt
	reg   *registry.Registry
	clock *jobtest.Clock // nil: the wall clock
	c     *Controller
	jobs  *client.Resource[*api.Job]
	pods  *client.Resource[*api.Pod]
}

type envOptions struct {
	realClock bool
	gc        bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	reg, st, ctx := controllertest.Registry(t, 120*time.Second)
	e := &env{t: t, ctx: ctx, st: st, reg: reg,
		jobs: client.For[*api.Job](reg, "default"), pods: client.For[*api.Pod](reg, "default")}
	cfg := Config{Backend: reg, Log: controllertest.Log(t)}
	if !o.realClock {
		e.clock = jobtest.NewClock(time.Now())
		cfg.Clock = e.clock
	}
	var err error
	if e.c, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	runs := []func(context.Context) error{e.c.Run}
	if o.gc {
		gc, err := garbagecollector.New(garbagecollector.Config{Backend: reg, Log: controllertest.Log(t)})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, gc.Run)
	}
	for _, run := range runs {
		controllertest.Start(t, ctx, run)
	}
	return e
}

func newJob(name string, completions, parallelism int32) *api.Job {
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: name}}
	j.Spec.Completions = &completions
	j.Spec.Parallelism = &parallelism
	j.Spec.Template.Spec.RestartPolicy = api.RestartPolicyNever
	j.Spec.Template.Spec.Containers = []api.Container{{Name: "work", Image: "busybox"}}
	return j
}

func (e *env) create(j *api.Job) *api.Job {
	e.t.Helper()
	got, err := e.jobs.Create(e.ctx, j)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) now() time.Time {
	if e.clock == nil {
		return time.Now()
	}
	return e.clock.Now()
}

// eventually polls cond every 5 ms until it holds or 20 s pass.
func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 20 * time.Second, Every: 5 * time.Millisecond}, what, cond)
}

// podsOf lists the job's pods (any phase, not being deleted).
func (e *env) podsOf(job string) []*api.Pod {
	e.t.Helper()
	list, _, _, err := e.pods.List(e.ctx, api.ListOptions{LabelSelector: api.JobNameLabel + "=" + job})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*api.Pod
	for _, p := range list {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func activeOf(pods []*api.Pod) []*api.Pod {
	var out []*api.Pod
	for _, p := range pods {
		if isActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// waitActive waits until the job has n active pods and says so.
func (e *env) waitActive(job string, n int) []*api.Pod {
	e.t.Helper()
	var active []*api.Pod
	e.eventually(fmt.Sprintf("%d active pods of %s", n, job), func() (bool, string) {
		active = activeOf(e.podsOf(job))
		j, err := e.jobs.Get(e.ctx, job)
		if err != nil {
			return false, err.Error()
		}
		return len(active) == n && j.Status.Active == int32(n), fmt.Sprintf("%d active pods, status %+v", len(active), j.Status)
	})
	return active
}

// waitJob waits until cond holds for the stored job.
func (e *env) waitJob(name, what string, cond func(*api.Job) bool) *api.Job {
	e.t.Helper()
	var j *api.Job
	e.eventually(what, func() (bool, string) {
		var err error
		if j, err = e.jobs.Get(e.ctx, name); err != nil {
			return false, err.Error()
		}
		return cond(j), fmt.Sprintf("%+v", j.Status)
	})
	return j
}

func (e *env) setPhase(p *api.Pod, phase api.PodPhase) {
	e.t.Helper()
	if err := jobtest.SetPodPhase(e.ctx, e.reg, p.Namespace, p.Name, phase, e.now()); err != nil {
		e.t.Fatal(err)
	}
}

// still checks for a while that the job keeps n pods in all.
func (e *env) still(job string, n int) {
	e.t.Helper()
	for range 20 {
		if got := len(e.podsOf(job)); got != n {
			e.t.Fatalf("%d pods of %s, want still %d", got, job, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func conditionOf(j *api.Job, typ api.JobConditionType) *api.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == typ {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func (e *env) events(reason string) []*api.Event {
	e.t.Helper()
	evs, _, _, err := client.For[*api.Event](e.reg, "default").List(e.ctx, api.ListOptions{FieldSelector: "reason=" + reason})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func TestCompletionsWithParallelism(t *testing.T) {
	e := newEnv(t, envOptions{})
	j := e.create(newJob("pi", 3, 2))
	pods := e.waitActive("pi", 2)
	for _, p := range pods {
		ref := api.ControllerOf(&p.ObjectMeta)
		if ref == nil || ref.UID != j.UID || ref.Kind != "Job" || ref.APIVersion != "batch/v1" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s: owner references %+v, want controller job pi (%s)", p.Name, p.OwnerReferences, j.UID)
		}
		if p.Labels[api.JobControllerUIDLabel] != j.UID || p.Labels[api.JobNameLabel] != "pi" || p.Labels["job-name"] != "pi" {
			t.Errorf("pod %s: labels %v, want controller-uid %s and job-name pi", p.Name, p.Labels, j.UID)
		}
		if !strings.HasPrefix(p.Name, "pi-") {
			t.Errorf("pod name %q, want pi-<random>", p.Name)
		}
	}
	got, _ := e.jobs.Get(e.ctx, "pi")
	if got.Status.StartTime == nil || got.Status.CompletionTime != nil || len(got.Status.Conditions) != 0 {
		t.Errorf("running job status %+v, want a start time and nothing more", got.Status)
	}

	// Two succeed: one more is needed, and only one is made.
	e.setPhase(pods[0], api.PodSucceeded)
	e.setPhase(pods[1], api.PodSucceeded)
	third := e.waitActive("pi", 1)
	e.waitJob("pi", "2 succeeded", func(j *api.Job) bool { return j.Status.Succeeded == 2 })
	e.still("pi", 3)

	e.setPhase(third[0], api.PodSucceeded)
	done := e.waitJob("pi", "the job complete", func(j *api.Job) bool { return FinishedCondition(j) != nil })
	c := conditionOf(done, api.JobComplete)
	if c == nil || c.Status != api.ConditionTrue || done.Status.Succeeded != 3 || done.Status.Active != 0 || done.Status.Failed != 0 || done.Status.CompletionTime == nil {
		t.Errorf("finished status %+v, want Complete, 3 succeeded, a completion time", done.Status)
	}
	if n := len(e.podsOf("pi")); n != 3 {
		t.Errorf("%d pods made, want 3", n)
	}
	e.eventually("a Completed event and 3 SuccessfulCreate", func() (bool, string) {
		a, b := len(e.events(reasonCompleted)), len(e.events(record.ReasonSuccessfulCreate))
		return a == 1 && b == 3, fmt.Sprintf("%d Completed, %d SuccessfulCreate", a, b)
	})

	// Settled: nothing more is written.
	controllertest.Settles(t, e.st.Revision, "settled")
}

// TestBackoffLimit is the acceptance test: a Job with backoffLimit 2
// fails after 3 attempts, waiting 10 s and then 20 s between them.
func TestBackoffLimit(t *testing.T) {
	e := newEnv(t, envOptions{})
	j := newJob("flaky", 1, 1)
	limit := int32(2)
	j.Spec.BackoffLimit = &limit
	e.create(j)

	first := e.waitActive("flaky", 1)
	e.setPhase(first[0], api.PodFailed)
	e.waitJob("flaky", "1 failed", func(j *api.Job) bool { return j.Status.Failed == 1 && j.Status.Active == 0 })
	e.still("flaky", 1) // backing off: 10 s on the fake clock
	e.clock.Advance(backoffBase)
	second := e.waitActive("flaky", 1)

	e.setPhase(second[0], api.PodFailed)
	e.waitJob("flaky", "2 failed", func(j *api.Job) bool { return j.Status.Failed == 2 && j.Status.Active == 0 })
	e.clock.Advance(backoffBase)
	e.still("flaky", 2) // 20 s this time
	e.clock.Advance(backoffBase)
	third := e.waitActive("flaky", 1)

	e.setPhase(third[0], api.PodFailed)
	done := e.waitJob("flaky", "the job failed", func(j *api.Job) bool { return FinishedCondition(j) != nil })
	c := conditionOf(done, api.JobFailed)
	if c == nil || c.Status != api.ConditionTrue || c.Reason != reasonBackoffLimitExceeded || done.Status.Failed != 3 || done.Status.Active != 0 {
		t.Fatalf("finished status %+v, want Failed BackoffLimitExceeded with 3 failed", done.Status)
	}
	if done.Status.CompletionTime != nil {
		t.Errorf("a failed job has completion time %v, want none", done.Status.CompletionTime)
	}
	e.clock.Advance(time.Hour)
	e.still("flaky", 3)
	e.eventually("a BackoffLimitExceeded event", func() (bool, string) {
		n := len(e.events(reasonBackoffLimitExceeded))
		return n == 1, fmt.Sprintf("%d events", n)
	})
}

// TestOnFailureCountsRestarts: under OnFailure the pod restarts in place
// and its restarts are the failures.
func TestOnFailureCountsRestarts(t *testing.T) {
	e := newEnv(t, envOptions{})
	j := newJob("retry", 1, 1)
	j.Spec.Template.Spec.RestartPolicy = api.RestartPolicyOnFailure
	limit := int32(2)
	j.Spec.BackoffLimit = &limit
	e.create(j)
	pod := e.waitActive("retry", 1)[0]
	err := client.RetryOnConflict(e.ctx, func() error {
		p, err := e.pods.Get(e.ctx, pod.Name)
		if err != nil {
			return err
		}
		p.Status.Phase = api.PodRunning
		p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "work", RestartCount: 2}}
		_, err = e.pods.UpdateStatus(e.ctx, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	done := e.waitJob("retry", "the job failed", func(j *api.Job) bool { return FinishedCondition(j) != nil })
	if c := conditionOf(done, api.JobFailed); c == nil || c.Reason != reasonBackoffLimitExceeded {
		t.Fatalf("status %+v, want Failed BackoffLimitExceeded", done.Status)
	}
	e.eventually("the running pod deleted", func() (bool, string) {
		n := len(e.podsOf("retry"))
		return n == 0, fmt.Sprintf("%d pods", n)
	})
	time.Sleep(100 * time.Millisecond)
	if n := len(e.events(record.ReasonSuccessfulCreate)); n != 1 {
		t.Errorf("%d pods created, want 1: a failed job makes no more", n)
	}
}

func TestActiveDeadline(t *testing.T) {
	e := newEnv(t, envOptions{})
	j := newJob("slow", 4, 2)
	dl := int64(30)
	j.Spec.ActiveDeadlineSeconds = &dl
	e.create(j)
	pods := e.waitActive("slow", 2)
	e.setPhase(pods[0], api.PodRunning)
	e.clock.Advance(29 * time.Second)
	e.still("slow", 2)
	e.clock.Advance(2 * time.Second)
	done := e.waitJob("slow", "the job failed", func(j *api.Job) bool { return FinishedCondition(j) != nil })
	c := conditionOf(done, api.JobFailed)
	if c == nil || c.Reason != reasonDeadlineExceeded || c.Message != "Job was active longer than specified deadline" {
		t.Fatalf("status %+v, want Failed DeadlineExceeded", done.Status)
	}
	if done.Status.Active != 0 || done.Status.Failed != 2 {
		t.Errorf("status %+v, want 0 active and the 2 killed counted failed", done.Status)
	}
	e.eventually("the running pods deleted", func() (bool, string) {
		n := len(e.podsOf("slow"))
		return n == 0, fmt.Sprintf("%d pods", n)
	})
}

func TestTTLAfterFinished(t *testing.T) {
	e := newEnv(t, envOptions{gc: true})
	j := newJob("once", 1, 1)
	ttl := int32(60)
	j.Spec.TTLSecondsAfterFinished = &ttl
	e.create(j)
	pod := e.waitActive("once", 1)[0]
	e.setPhase(pod, api.PodSucceeded)
	e.waitJob("once", "the job complete", func(j *api.Job) bool { return FinishedCondition(j) != nil })
	e.clock.Advance(59 * time.Second)
	time.Sleep(100 * time.Millisecond)
	if _, err := e.jobs.Get(e.ctx, "once"); err != nil {
		t.Fatalf("job before its TTL: %v, want it kept", err)
	}
	e.clock.Advance(2 * time.Second)
	e.eventually("the job and its pod deleted", func() (bool, string) {
		_, err := e.jobs.Get(e.ctx, "once")
		_, perr := e.pods.Get(e.ctx, pod.Name)
		return errdefs.IsNotFound(err) && errdefs.IsNotFound(perr), fmt.Sprintf("job: %v, pod: %v", err, perr)
	})
}

// TestSuspend uses a job with its own selector: the registry cannot yet
// update a job whose selector it did not generate at creation (see the
// package's report).
func TestSuspend(t *testing.T) {
	e := newEnv(t, envOptions{})
	j := newJob("later", 2, 2)
	yes := true
	j.Spec.Suspend = &yes
	j.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "later"}}
	j.Spec.Template.Labels = map[string]string{"app": "later"}
	e.create(j)
	e.waitJob("later", "suspended", func(j *api.Job) bool {
		c := conditionOf(j, api.JobSuspended)
		return c != nil && c.Status == api.ConditionTrue && c.Reason == reasonJobSuspended
	})
	e.still("later", 0)
	if got, _ := e.jobs.Get(e.ctx, "later"); got.Status.StartTime != nil {
		t.Errorf("a suspended job has start time %v, want none", got.Status.StartTime)
	}

	setSuspend := func(v bool) {
		t.Helper()
		err := client.RetryOnConflict(e.ctx, func() error {
			j, err := e.jobs.Get(e.ctx, "later")
			if err != nil {
				return err
			}
			j.Spec.Suspend = &v
			_, err = e.jobs.Update(e.ctx, j)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setSuspend(false)
	e.waitActive("later", 2)
	resumed := e.waitJob("later", "resumed", func(j *api.Job) bool {
		c := conditionOf(j, api.JobSuspended)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == reasonJobResumed
	})
	if resumed.Status.StartTime == nil {
		t.Error("a resumed job has no start time")
	}
	setSuspend(true)
	e.waitActive("later", 0)
}

func TestAdoptsOrphan(t *testing.T) {
	e := newEnv(t, envOptions{})
	orphan := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "stray", Labels: map[string]string{"app": "adopt"}},
		Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever, Containers: []api.Container{{Name: "work", Image: "busybox"}}}}
	if _, err := e.pods.Create(e.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	j := newJob("adopt", 1, 1)
	j.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "adopt"}}
	j.Spec.Template.Labels = map[string]string{"app": "adopt"}
	j = e.create(j)
	e.eventually("the orphan adopted", func() (bool, string) {
		p, err := e.pods.Get(e.ctx, "stray")
		if err != nil {
			return false, err.Error()
		}
		ref := api.ControllerOf(&p.ObjectMeta)
		return ref != nil && ref.UID == j.UID, fmt.Sprintf("%+v", p.OwnerReferences)
	})
	got := e.waitJob("adopt", "1 active", func(j *api.Job) bool { return j.Status.Active == 1 })
	list, _, _, _ := e.pods.List(e.ctx, api.ListOptions{})
	if len(list) != 1 {
		t.Errorf("%d pods, want only the adopted one (status %+v)", len(list), got.Status)
	}
}
