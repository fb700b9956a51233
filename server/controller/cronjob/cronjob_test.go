package cronjob

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/job/jobtest"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// env is a real store and registry in a temporary directory. Tests
// create their cron jobs, then start the controller on a fake clock set
// half a minute into the minute of the first creation, so that the next
// whole minute is the first schedule time of "*/1 * * * *" whatever the
// wall clock says. The job controller does not run: tests finish jobs
// by writing their conditions.
type env struct {
	t        testing.TB
	ctx      context.Context
	st       *store.Bolt
	reg      *registry.Registry
	clock    *jobtest.Clock
	cronjobs *client.Resource[*api.CronJob]
	jobs     *client.Resource[*api.Job]
	stop     func()
}

func newEnv(t testing.TB) *env {
	t.Helper()
	reg, st, ctx := controllertest.Registry(t, 120*time.Second)
	e := &env{t: t, ctx: ctx, st: st, reg: reg,
		cronjobs: client.For[*api.CronJob](reg, "default"), jobs: client.For[*api.Job](reg, "default")}
	return e
}

// start runs a controller (the clock is made on the first start).
func (e *env) start() {
	e.t.Helper()
	if e.clock == nil {
		first := time.Now()
		list, _, _, err := e.cronjobs.List(e.ctx, api.ListOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, cj := range list {
			if cj.CreationTimestamp.Before(first) {
				first = cj.CreationTimestamp.Time
			}
		}
		e.clock = jobtest.NewClock(first.Truncate(time.Minute).Add(30 * time.Second))
	}
	c, err := New(Config{Backend: e.reg, Clock: e.clock, Location: time.UTC, Log: controllertest.Log(e.t)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.stop = controllertest.Start(e.t, e.ctx, c.Run)
}

func newCronJob(name, schedule string, policy api.ConcurrencyPolicy) *api.CronJob {
	cj := &api.CronJob{ObjectMeta: api.ObjectMeta{Name: name}}
	cj.Spec.Schedule = schedule
	cj.Spec.ConcurrencyPolicy = policy
	cj.Spec.JobTemplate.Labels = map[string]string{"cron": name}
	cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = api.RestartPolicyNever
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []api.Container{{Name: "work", Image: "busybox"}}
	return cj
}

func (e *env) create(cj *api.CronJob) *api.CronJob {
	e.t.Helper()
	got, err := e.cronjobs.Create(e.ctx, cj)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// tick moves the clock to the next whole minute and returns it.
func (e *env) tick() time.Time {
	next := e.clock.Now().Truncate(time.Minute).Add(time.Minute)
	e.clock.Set(next)
	return next
}

func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	controllertest.Eventually(e.t, controllertest.Poll{Within: 20 * time.Second, Every: 5 * time.Millisecond}, what, cond)
}

// jobsOf lists the cron job's jobs by name, oldest first.
func (e *env) jobsOf(cron string) []string {
	e.t.Helper()
	list, _, _, err := e.jobs.List(e.ctx, api.ListOptions{LabelSelector: "cron=" + cron})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, j := range list {
		out = append(out, j.Name)
	}
	sort.Strings(out)
	return out
}

// waitJobs waits until the cron job has exactly these jobs.
func (e *env) waitJobs(cron string, want ...string) {
	e.t.Helper()
	sort.Strings(want)
	e.eventually(fmt.Sprintf("jobs %v of %s", want, cron), func() (bool, string) {
		got := e.jobsOf(cron)
		return strings.Join(got, ",") == strings.Join(want, ","), fmt.Sprint(got)
	})
}

// still checks for a while that the cron job keeps exactly these jobs.
func (e *env) still(cron string, want ...string) {
	e.t.Helper()
	sort.Strings(want)
	for range 20 {
		if got := e.jobsOf(cron); strings.Join(got, ",") != strings.Join(want, ",") {
			e.t.Fatalf("jobs of %s = %v, want still %v", cron, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStatus waits until cond holds for the stored cron job.
func (e *env) waitStatus(name, what string, cond func(*api.CronJob) bool) *api.CronJob {
	e.t.Helper()
	var cj *api.CronJob
	e.eventually(what, func() (bool, string) {
		var err error
		if cj, err = e.cronjobs.Get(e.ctx, name); err != nil {
			return false, err.Error()
		}
		return cond(cj), fmt.Sprintf("%+v", cj.Status)
	})
	return cj
}

func activeNames(cj *api.CronJob) string {
	var out []string
	for _, a := range cj.Status.Active {
		out = append(out, a.Name)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (e *env) finish(name string, failed bool) {
	e.t.Helper()
	if err := jobtest.FinishJob(e.ctx, e.reg, "default", name, failed, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) events(reason string) int {
	e.t.Helper()
	evs, _, _, err := client.For[*api.Event](e.reg, "default").List(e.ctx, api.ListOptions{FieldSelector: "reason=" + reason})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(evs)
}

func nameAt(cron string, t time.Time) string { return fmt.Sprintf("%s-%d", cron, t.Unix()/60) }

// TestForbid is the acceptance test: a CronJob fires on schedule with
// Forbid concurrency, and starts no second Job while one is active.
func TestForbid(t *testing.T) {
	e := newEnv(t)
	cj := e.create(newCronJob("forbid", "*/1 * * * *", api.ForbidConcurrent))
	e.start()
	e.waitStatus("forbid", "a first sync", func(*api.CronJob) bool { return e.clock.Pending() == 1 })
	if at, _ := e.clock.NextTimer(); !at.Equal(e.clock.Now().Truncate(time.Minute).Add(time.Minute)) {
		t.Errorf("the controller wakes at %v, want the next schedule time", at)
	}
	m1 := e.tick()
	first := nameAt("forbid", m1)
	e.waitJobs("forbid", first)
	got := e.waitStatus("forbid", "one active", func(cj *api.CronJob) bool { return activeNames(cj) == first })
	if got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Equal(m1) {
		t.Errorf("lastScheduleTime %v, want %v", got.Status.LastScheduleTime, m1)
	}
	j, err := e.jobs.Get(e.ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if ref := api.ControllerOf(&j.ObjectMeta); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
		t.Errorf("job owner references %+v, want controller cron job %s", j.OwnerReferences, cj.UID)
	}
	if got := j.Annotations[scheduledTimestampAnnotation]; got != m1.UTC().Format(time.RFC3339) {
		t.Errorf("scheduled timestamp annotation %q, want %q", got, m1.UTC().Format(time.RFC3339))
	}

	e.tick()
	e.eventually("a JobAlreadyActive event", func() (bool, string) {
		n := e.events(reasonJobAlreadyActive)
		return n == 1, fmt.Sprintf("%d events", n)
	})
	e.still("forbid", first)

	// The first ends: the run that waited starts (no starting deadline).
	e.finish(first, false)
	m2 := m1.Add(time.Minute)
	e.waitJobs("forbid", first, nameAt("forbid", m2))
	done := e.waitStatus("forbid", "the second active", func(cj *api.CronJob) bool {
		return activeNames(cj) == nameAt("forbid", m2) && cj.Status.LastSuccessfulTime != nil
	})
	if !done.Status.LastScheduleTime.Equal(m2) {
		t.Errorf("lastScheduleTime %v, want %v", done.Status.LastScheduleTime, m2)
	}
}

func TestReplace(t *testing.T) {
	e := newEnv(t)
	e.create(newCronJob("replace", "*/1 * * * *", api.ReplaceConcurrent))
	e.start()
	m1 := e.tick()
	e.waitJobs("replace", nameAt("replace", m1))
	e.waitStatus("replace", "one active", func(cj *api.CronJob) bool { return activeNames(cj) == nameAt("replace", m1) })
	m2 := e.tick()
	e.waitJobs("replace", nameAt("replace", m2))
	e.waitStatus("replace", "the new one active", func(cj *api.CronJob) bool { return activeNames(cj) == nameAt("replace", m2) })
}

func TestAllow(t *testing.T) {
	e := newEnv(t)
	e.create(newCronJob("allow", "*/1 * * * *", api.AllowConcurrent))
	e.start()
	m1 := e.tick()
	e.waitJobs("allow", nameAt("allow", m1))
	m2 := e.tick()
	e.waitJobs("allow", nameAt("allow", m1), nameAt("allow", m2))
	e.waitStatus("allow", "both active", func(cj *api.CronJob) bool {
		return activeNames(cj) == nameAt("allow", m1)+","+nameAt("allow", m2)
	})
}

func TestHistoryLimits(t *testing.T) {
	e := newEnv(t)
	cj := newCronJob("hist", "*/1 * * * *", api.AllowConcurrent)
	two, one := int32(2), int32(1)
	cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit = &two, &one
	e.create(cj)
	e.start()
	var succeeded []string
	for range 4 {
		m := e.tick()
		name := nameAt("hist", m)
		e.eventually("job "+name, func() (bool, string) {
			_, err := e.jobs.Get(e.ctx, name)
			return err == nil, fmt.Sprint(err)
		})
		e.finish(name, false)
		succeeded = append(succeeded, name)
	}
	e.waitJobs("hist", succeeded[2:]...)
	var failed []string
	for range 2 {
		m := e.tick()
		name := nameAt("hist", m)
		e.eventually("job "+name, func() (bool, string) {
			_, err := e.jobs.Get(e.ctx, name)
			return err == nil, fmt.Sprint(err)
		})
		e.finish(name, true)
		failed = append(failed, name)
	}
	e.waitJobs("hist", append(succeeded[2:], failed[1])...)
	e.waitStatus("hist", "nothing active", func(cj *api.CronJob) bool { return len(cj.Status.Active) == 0 })
}

// TestMissedDuringDowntime jumps the clock over ten schedule times: a
// cron job whose starting deadline covers the latest starts that one
// Job only; one whose deadline has passed starts none, and says so.
func TestMissedDuringDowntime(t *testing.T) {
	e := newEnv(t)
	within, outside := newCronJob("within", "*/1 * * * *", api.AllowConcurrent), newCronJob("outside", "*/1 * * * *", api.AllowConcurrent)
	long, short := int64(120), int64(30)
	within.Spec.StartingDeadlineSeconds, outside.Spec.StartingDeadlineSeconds = &long, &short
	e.create(within)
	e.create(outside)
	e.start()
	e.waitStatus("outside", "the timers set", func(*api.CronJob) bool { return e.clock.Pending() == 2 })
	m10 := e.clock.Now().Truncate(time.Minute).Add(10 * time.Minute)
	e.clock.Set(m10.Add(45 * time.Second))
	e.waitJobs("within", nameAt("within", m10))
	e.eventually("a MissSchedule event", func() (bool, string) {
		n := e.events(reasonMissSchedule)
		return n == 1, fmt.Sprintf("%d events", n)
	})
	e.still("outside")
	e.still("within", nameAt("within", m10))

	m11 := e.tick()
	e.waitJobs("outside", nameAt("outside", m11))
	e.waitJobs("within", nameAt("within", m10), nameAt("within", m11))
}

func TestTooManyMissed(t *testing.T) {
	e := newEnv(t)
	e.create(newCronJob("many", "*/1 * * * *", api.AllowConcurrent))
	e.start()
	e.waitStatus("many", "a first sync", func(*api.CronJob) bool { return e.clock.Pending() == 1 })
	latest := e.clock.Now().Truncate(time.Minute).Add(3 * time.Hour)
	e.clock.Set(latest.Add(10 * time.Second))
	e.waitJobs("many", nameAt("many", latest))
	e.eventually("a TooManyMissedTimes event", func() (bool, string) {
		n := e.events(reasonTooManyMissedTimes)
		return n == 1, fmt.Sprintf("%d events", n)
	})
	e.still("many", nameAt("many", latest))
}

func TestTimeZone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	e := newEnv(t)
	// The schedule is filled in once the clock is known: create after
	// start, with the clock already running.
	e.create(newCronJob("placeholder", "0 0 1 1 *", api.AllowConcurrent))
	e.start()
	target := e.clock.Now().Truncate(time.Minute).Add(2 * time.Minute)
	schedule := fmt.Sprintf("%d %d * * *", target.Minute(), target.In(tokyo).Hour())
	zoned := newCronJob("tokyo", schedule, api.AllowConcurrent)
	zone := "Asia/Tokyo"
	zoned.Spec.TimeZone = &zone
	e.create(zoned)
	e.create(newCronJob("utc", schedule, api.AllowConcurrent)) // the controller's zone: UTC
	e.waitStatus("utc", "the timers set", func(*api.CronJob) bool { return e.clock.Pending() == 3 })
	if at, _ := e.clock.NextTimer(); !at.Equal(target) {
		t.Errorf("next wake-up %v, want %v (the Tokyo run)", at, target)
	}
	e.clock.Set(target)
	e.waitJobs("tokyo", nameAt("tokyo", target))
	e.still("utc")
	j, err := e.jobs.Get(e.ctx, nameAt("tokyo", target))
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Annotations[scheduledTimestampAnnotation]; !strings.HasSuffix(got, "+09:00") {
		t.Errorf("scheduled timestamp %q, want it in Tokyo time", got)
	}
}

// TestRestartNeverRunsTwice loses the status written after a create (as
// a crash between the two would) and restarts the controller: the Job
// of that schedule time exists already, so none is made again.
func TestRestartNeverRunsTwice(t *testing.T) {
	e := newEnv(t)
	e.create(newCronJob("once", "*/1 * * * *", api.ForbidConcurrent))
	e.start()
	m1 := e.tick()
	e.waitJobs("once", nameAt("once", m1))
	e.waitStatus("once", "one active", func(cj *api.CronJob) bool { return activeNames(cj) == nameAt("once", m1) })
	e.stop()
	err := client.RetryOnConflict(e.ctx, func() error {
		cj, err := e.cronjobs.Get(e.ctx, "once")
		if err != nil {
			return err
		}
		cj.Status = api.CronJobStatus{}
		_, err = e.cronjobs.UpdateStatus(e.ctx, cj)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.start()
	got := e.waitStatus("once", "the status rebuilt", func(cj *api.CronJob) bool {
		return activeNames(cj) == nameAt("once", m1) && cj.Status.LastScheduleTime != nil
	})
	if !got.Status.LastScheduleTime.Equal(m1) {
		t.Errorf("lastScheduleTime %v, want %v", got.Status.LastScheduleTime, m1)
	}
	e.still("once", nameAt("once", m1))
}

func TestSuspend(t *testing.T) {
	e := newEnv(t)
	cj := newCronJob("paused", "*/1 * * * *", api.AllowConcurrent)
	yes := true
	cj.Spec.Suspend = &yes
	e.create(cj)
	e.start()
	e.tick()
	e.tick()
	e.still("paused")
	if n := e.clock.Pending(); n != 0 {
		t.Errorf("%d timers for a suspended cron job, want none", n)
	}
	err := client.RetryOnConflict(e.ctx, func() error {
		cj, err := e.cronjobs.Get(e.ctx, "paused")
		if err != nil {
			return err
		}
		no := false
		cj.Spec.Suspend = &no
		_, err = e.cronjobs.Update(e.ctx, cj)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Resumed: the latest missed run starts (no starting deadline), then
	// the schedule goes on.
	now := e.clock.Now()
	e.waitJobs("paused", nameAt("paused", now))
	m := e.tick()
	e.waitJobs("paused", nameAt("paused", now), nameAt("paused", m))
}
