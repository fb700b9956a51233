package job

import (
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// The pod re-creation back-off, as Kubernetes': after n failed pods since
// the last success, the next pod waits backoffBase·2^(n-1) from the last
// failure, at most backoffMax.
const (
	backoffBase = 10 * time.Second
	backoffMax  = 6 * time.Minute
)

// The default back-off limit (api.Default sets it too).
const defaultBackoffLimit = 6

// backoffDelay is the wait after n failures since the last success.
func backoffDelay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > 16 {
		return backoffMax
	}
	return min(backoffBase<<(n-1), backoffMax)
}

// nextCreateAt is when the job may create its next pod: the last failure
// since the last success plus the back-off for the failures since then;
// the zero time when there is no failure to wait for.
func (c *Controller) nextCreateAt(pods []*api.Pod, now time.Time) time.Time {
	var lastSuccess, lastFailure time.Time
	var failures []time.Time
	for _, p := range pods {
		switch p.Status.Phase {
		case api.PodSucceeded:
			if t := c.seen.finishTime(p, now); t.After(lastSuccess) {
				lastSuccess = t
			}
		case api.PodFailed:
			failures = append(failures, c.seen.finishTime(p, now))
		}
	}
	n := 0
	for _, t := range failures {
		if t.After(lastSuccess) || lastSuccess.IsZero() {
			n++
			if t.After(lastFailure) {
				lastFailure = t
			}
		}
	}
	if n == 0 {
		return time.Time{}
	}
	return lastFailure.Add(backoffDelay(n))
}

// backoffLimit is the job's limit on failures (default 6).
func backoffLimit(j *api.Job) int32 {
	if j.Spec.BackoffLimit == nil {
		return defaultBackoffLimit
	}
	return *j.Spec.BackoffLimit
}

// exceedsBackoffLimit: more failed pods than the limit or, under
// restartPolicy OnFailure (where a pod's containers restart in place and
// the pod does not fail), as many restarts of the active pods as the
// limit, as Kubernetes counts.
func exceedsBackoffLimit(j *api.Job, failed int32, active []*api.Pod) bool {
	limit := backoffLimit(j)
	if failed > limit {
		return true
	}
	if j.Spec.Template.Spec.RestartPolicy != api.RestartPolicyOnFailure {
		return false
	}
	var n int32
	for _, p := range active {
		n += restarts(p)
	}
	if limit == 0 {
		return n > 0
	}
	return n >= limit
}

// deadline is when the job's active deadline passes (zero: none).
func deadline(j *api.Job, start *api.Time) time.Time {
	if j.Spec.ActiveDeadlineSeconds == nil || start == nil {
		return time.Time{}
	}
	return start.Add(time.Duration(*j.Spec.ActiveDeadlineSeconds) * time.Second)
}
