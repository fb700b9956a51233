package cronjob

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/controllertest"
	"github.com/skiffhq/skiff/server/controller/job"
	"github.com/skiffhq/skiff/server/controller/job/jobtest"
)

// TestWithJobController runs both controllers on one clock: the cron job
// fires, the job controller makes its pod, a second run waits under
// Forbid, and when the pod succeeds the job completes, the cron job
// records the success and the waiting run starts.
func TestWithJobController(t *testing.T) {
	e := newEnv(t)
	e.create(newCronJob("nightly", "*/1 * * * *", api.ForbidConcurrent))
	e.start()
	jc, err := job.New(job.Config{Backend: e.reg, Clock: e.clock, Log: controllertest.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	controllertest.Start(t, e.ctx, jc.Run)
	pods := client.For[*api.Pod](e.reg, "default")
	podsOf := func(jobName string) []*api.Pod {
		list, _, _, err := pods.List(e.ctx, api.ListOptions{LabelSelector: api.JobNameLabel + "=" + jobName})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}

	m1 := e.tick()
	first := nameAt("nightly", m1)
	e.waitJobs("nightly", first)
	var pod *api.Pod
	e.eventually("the first job's pod", func() (bool, string) {
		list := podsOf(first)
		if len(list) == 1 {
			pod = list[0]
		}
		return len(list) == 1, fmt.Sprintf("%d pods", len(list))
	})
	e.tick()
	e.still("nightly", first)

	if err := jobtest.SetPodPhase(e.ctx, e.reg, "default", pod.Name, api.PodSucceeded, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	second := nameAt("nightly", m1.Add(time.Minute))
	e.waitJobs("nightly", first, second)
	got := e.waitStatus("nightly", "the success recorded", func(cj *api.CronJob) bool {
		return cj.Status.LastSuccessfulTime != nil && activeNames(cj) == second
	})
	j, err := e.jobs.Get(e.ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if c := job.FinishedCondition(j); c == nil || c.Type != api.JobComplete {
		t.Errorf("first job status %+v, want Complete", j.Status)
	}
	if !got.Status.LastSuccessfulTime.Equal(j.Status.CompletionTime.Time) {
		t.Errorf("lastSuccessfulTime %v, want the job's completion %v", got.Status.LastSuccessfulTime, j.Status.CompletionTime)
	}
}
