package job

import (
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
)

func TestBackoffDelay(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{3, 40 * time.Second},
		{5, 160 * time.Second},
		{6, 320 * time.Second},
		{7, 6 * time.Minute},
		{100, 6 * time.Minute},
	} {
		if got := backoffDelay(tc.failures); got != tc.want {
			t.Errorf("backoffDelay(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func finishedPod(name string, phase api.PodPhase, at time.Time) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, UID: name}}
	p.Status.Phase = phase
	p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", State: api.ContainerState{
		Terminated: &api.ContainerStateTerminated{FinishedAt: api.NewTime(at)}}}}
	return p
}

func TestNextCreateAt(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	c := &Controller{seen: newFinishSeen()}
	for _, tc := range []struct {
		name string
		pods []*api.Pod
		want time.Time
	}{
		{"no pods", nil, time.Time{}},
		{"one success", []*api.Pod{finishedPod("a", api.PodSucceeded, t0)}, time.Time{}},
		{"one failure", []*api.Pod{finishedPod("a", api.PodFailed, t0)}, t0.Add(10 * time.Second)},
		{"three failures", []*api.Pod{
			finishedPod("a", api.PodFailed, t0),
			finishedPod("b", api.PodFailed, t0.Add(time.Minute)),
			finishedPod("c", api.PodFailed, t0.Add(2*time.Minute)),
		}, t0.Add(2*time.Minute + 40*time.Second)},
		{"a success resets", []*api.Pod{
			finishedPod("a", api.PodFailed, t0),
			finishedPod("b", api.PodFailed, t0.Add(time.Minute)),
			finishedPod("c", api.PodSucceeded, t0.Add(2*time.Minute)),
			finishedPod("d", api.PodFailed, t0.Add(3*time.Minute)),
		}, t0.Add(3*time.Minute + 10*time.Second)},
		{"failures before the success only", []*api.Pod{
			finishedPod("a", api.PodFailed, t0),
			finishedPod("b", api.PodSucceeded, t0.Add(time.Minute)),
		}, time.Time{}},
	} {
		if got := c.nextCreateAt(tc.pods, t0.Add(time.Hour)); !got.Equal(tc.want) {
			t.Errorf("%s: nextCreateAt = %v, want %v", tc.name, got, tc.want)
		}
	}
	// No finish time in the pod: the first time it is seen counts.
	p := &api.Pod{ObjectMeta: api.ObjectMeta{UID: "x"}}
	p.Status.Phase = api.PodFailed
	if got := c.nextCreateAt([]*api.Pod{p}, t0); !got.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("unstamped failure seen at %v: next create %v, want %v", t0, got, t0.Add(10*time.Second))
	}
	if got := c.nextCreateAt([]*api.Pod{p}, t0.Add(time.Minute)); !got.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("seen again later: next create %v, want it still from the first sight", got)
	}
}

func TestExceedsBackoffLimit(t *testing.T) {
	running := func(restarts int32) *api.Pod {
		p := &api.Pod{}
		p.Status.Phase = api.PodRunning
		p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", RestartCount: restarts}}
		return p
	}
	job := func(policy api.RestartPolicy, limit int32) *api.Job {
		j := &api.Job{}
		j.Spec.BackoffLimit = &limit
		j.Spec.Template.Spec.RestartPolicy = policy
		return j
	}
	for _, tc := range []struct {
		name   string
		job    *api.Job
		failed int32
		active []*api.Pod
		want   bool
	}{
		{"never: at the limit", job(api.RestartPolicyNever, 2), 2, nil, false},
		{"never: past the limit", job(api.RestartPolicyNever, 2), 3, nil, true},
		{"never: restarts do not count", job(api.RestartPolicyNever, 2), 0, []*api.Pod{running(5)}, false},
		{"on failure: restarts below", job(api.RestartPolicyOnFailure, 2), 0, []*api.Pod{running(1)}, false},
		{"on failure: restarts at the limit", job(api.RestartPolicyOnFailure, 2), 0, []*api.Pod{running(1), running(1)}, true},
		{"on failure: limit 0, one restart", job(api.RestartPolicyOnFailure, 0), 0, []*api.Pod{running(1)}, true},
		{"on failure: limit 0, none", job(api.RestartPolicyOnFailure, 0), 0, []*api.Pod{running(0)}, false},
		{"default limit 6", &api.Job{}, 6, nil, false},
		{"default limit 6, passed", &api.Job{}, 7, nil, true},
	} {
		if got := exceedsBackoffLimit(tc.job, tc.failed, tc.active); got != tc.want {
			t.Errorf("%s: exceedsBackoffLimit = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestComplete(t *testing.T) {
	three := int32(3)
	withCompletions := &api.Job{Spec: api.JobSpec{Completions: &three}}
	workQueue := &api.Job{}
	for _, tc := range []struct {
		name      string
		job       *api.Job
		succeeded int32
		active    int
		want      bool
	}{
		{"2 of 3", withCompletions, 2, 1, false},
		{"3 of 3", withCompletions, 3, 0, true},
		{"work queue: none yet", workQueue, 0, 2, false},
		{"work queue: one done, one running", workQueue, 1, 1, false},
		{"work queue: one done, none running", workQueue, 1, 0, true},
	} {
		if got := complete(tc.job, tc.succeeded, tc.active); got != tc.want {
			t.Errorf("%s: complete = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPodFromTemplate(t *testing.T) {
	j := newJob("a-very-long-job-name-that-goes-on-and-on-and-on-past-the-limit", 1, 1)
	j.UID = "uid-1"
	j.Namespace = "default"
	j.Spec.Template.Labels = map[string]string{"app": "x"}
	p := podFromTemplate(j)
	if len(p.GenerateName) > owner.MaxPodNamePrefix {
		t.Errorf("generateName %q is %d long, want at most %d", p.GenerateName, len(p.GenerateName), owner.MaxPodNamePrefix)
	}
	for k, want := range map[string]string{"app": "x", api.JobControllerUIDLabel: "uid-1", "controller-uid": "uid-1", api.JobNameLabel: j.Name} {
		if got := p.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if j.Spec.Template.Labels[api.JobControllerUIDLabel] != "" {
		t.Error("the job's template was changed")
	}
}

func TestSetConditionKeepsTransitionTime(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var s api.JobStatus
	setCondition(&s, api.JobSuspended, api.ConditionTrue, reasonJobSuspended, "Job suspended", t0)
	setCondition(&s, api.JobSuspended, api.ConditionTrue, reasonJobSuspended, "Job suspended", t0.Add(time.Minute))
	if len(s.Conditions) != 1 || !s.Conditions[0].LastTransitionTime.Equal(t0) {
		t.Fatalf("conditions %+v, want one, transitioned at %v", s.Conditions, t0)
	}
	setCondition(&s, api.JobSuspended, api.ConditionFalse, reasonJobResumed, "Job resumed", t0.Add(2*time.Minute))
	if c := s.Conditions[0]; c.Status != api.ConditionFalse || !c.LastTransitionTime.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("condition %+v, want False from %v", c, t0.Add(2*time.Minute))
	}
}
