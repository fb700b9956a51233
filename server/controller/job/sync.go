package job

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/namespaces"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
	"github.com/skiffhq/skiff/server/controller/internal/slowstart"
	"github.com/skiffhq/skiff/server/controller/internal/versions"
	"github.com/skiffhq/skiff/server/controller/record"
)

// errStale: a write met a newer object than the cache holds; the sync is
// retried once the informer catches up, and it is not worth a warning.
var errStale = errors.New("the cached job is out of date")

// The event reasons and condition reasons of this controller, as
// Kubernetes'.
const (
	reasonCompleted            = "Completed"
	reasonBackoffLimitExceeded = "BackoffLimitExceeded"
	reasonDeadlineExceeded     = "DeadlineExceeded"
	reasonSuspended            = "Suspended"
	reasonResumed              = "Resumed"
	reasonJobSuspended         = "JobSuspended" // the Suspended condition's
	reasonJobResumed           = "JobResumed"
	reasonUnsupported          = "UnsupportedCompletionMode"
)

// sync brings one job towards its end: see the package comment.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := owner.SplitKey(key)
	j, ok := c.jobs.Get(ns, name)
	if !ok {
		c.exp.Forget(key)
		c.wake.Forget(key)
		c.vers.Forget(key)
		return nil
	}
	if j.DeletionTimestamp != nil {
		return nil // the garbage collector deletes its pods
	}
	if c.vers.Stale(key, j.ResourceVersion) {
		return nil // the informer has yet to show our last write; its event queues the job
	}
	now := c.now()
	pods, err := c.claimPods(ctx, j)
	if err != nil {
		return err
	}
	var active []*api.Pod
	var succeeded, failed int32
	for _, p := range pods {
		switch {
		case p.Status.Phase == api.PodSucceeded:
			succeeded++
		case p.Status.Phase == api.PodFailed:
			failed++
		case p.DeletionTimestamp == nil:
			active = append(active, p)
		}
	}
	if fin := FinishedCondition(j); fin != nil {
		return c.syncFinished(ctx, key, j, fin, active, now)
	}
	if m := j.Spec.CompletionMode; m != nil && *m == api.IndexedCompletion {
		c.events.Eventf(ref(j), api.EventTypeWarning, reasonUnsupported, "completion mode Indexed is not supported yet; use NonIndexed")
		return nil
	}

	status := copyStatus(j.Status)
	// The counts never go down: a finished pod deleted by hand stays counted.
	status.Succeeded = max(status.Succeeded, succeeded)
	status.Failed = max(status.Failed, failed)
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
	wasSuspended := hasCondition(status, api.JobSuspended, api.ConditionTrue)
	switch {
	case suspended && !wasSuspended:
		setCondition(&status, api.JobSuspended, api.ConditionTrue, reasonJobSuspended, "Job suspended", now)
		c.events.Eventf(ref(j), api.EventTypeNormal, reasonSuspended, "Job suspended")
	case !suspended && wasSuspended:
		setCondition(&status, api.JobSuspended, api.ConditionFalse, reasonJobResumed, "Job resumed", now)
		c.events.Eventf(ref(j), api.EventTypeNormal, reasonResumed, "Job resumed")
		// The active deadline counts from the resumption, as Kubernetes'.
		st := api.NewTime(now)
		status.StartTime = &st
	}
	if !suspended && status.StartTime == nil {
		st := api.NewTime(now)
		status.StartTime = &st
	}

	// Finished now?
	var finType api.JobConditionType
	var finReason, finMessage string
	dl := deadline(j, status.StartTime)
	switch {
	case !suspended && !dl.IsZero() && !now.Before(dl):
		finType, finReason, finMessage = api.JobFailed, reasonDeadlineExceeded, "Job was active longer than specified deadline"
	case exceedsBackoffLimit(j, status.Failed, active):
		finType, finReason, finMessage = api.JobFailed, reasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	case complete(j, status.Succeeded, len(active)):
		finType = api.JobComplete
	}

	var ready int32
	for _, p := range active {
		if podstate.Ready(p) {
			ready++
		}
	}
	if finType != "" {
		return c.finish(ctx, key, j, status, active, finType, finReason, finMessage, now)
	}

	var manageErr error
	nActive := len(active)
	switch {
	case suspended:
		deleted, err := c.deletePods(ctx, key, j, active)
		nActive -= deleted
		manageErr = err
	case c.exp.Satisfied(key):
		var created, deleted int
		created, deleted, manageErr = c.manageActive(ctx, key, j, pods, active, status.Succeeded, now)
		nActive += created - deleted
	}
	status.Active = int32(nActive)
	ready = min(ready, status.Active) // the deleted ones are not ready
	status.Ready = &ready
	if err := c.updateStatus(ctx, j, status); err != nil {
		return errors.Join(manageErr, err)
	}
	if !suspended && !dl.IsZero() {
		c.wake.At(key, dl)
	}
	return manageErr
}

// finish writes the job's end, then deletes what still runs of it (the
// pods killed count as failed for a failed job, as Kubernetes'). The
// status goes first: the pods may be the only record of why the job
// failed (restarts under OnFailure), and a pod left by a failed delete is
// deleted by the next sync of the finished job.
func (c *Controller) finish(ctx context.Context, key string, j *api.Job, status api.JobStatus, active []*api.Pod,
	typ api.JobConditionType, reason, message string, now time.Time) error {
	setCondition(&status, typ, api.ConditionTrue, reason, message, now)
	if typ == api.JobComplete {
		ct := api.NewTime(now)
		status.CompletionTime = &ct
	} else {
		status.Failed += int32(len(active))
	}
	var zero int32
	status.Active, status.Ready = 0, &zero
	if err := c.updateStatus(ctx, j, status); err != nil {
		return err
	}
	if typ == api.JobComplete {
		c.events.Eventf(ref(j), api.EventTypeNormal, reasonCompleted, "Job completed")
	} else {
		c.events.Eventf(ref(j), api.EventTypeWarning, reason, "%s", message)
	}
	if ttl := j.Spec.TTLSecondsAfterFinished; ttl != nil {
		c.wake.At(key, api.NewTime(now).Add(time.Duration(*ttl)*time.Second))
	}
	_, err := c.deletePods(ctx, key, j, active)
	return err
}

// complete: completions pods succeeded or, with completions unset (a
// work queue), one succeeded and none is left running.
func complete(j *api.Job, succeeded int32, active int) bool {
	if j.Spec.Completions != nil {
		return succeeded >= *j.Spec.Completions
	}
	return succeeded > 0 && active == 0
}

// syncFinished deletes what still runs of a finished job and, once its
// TTL has passed, the job itself.
func (c *Controller) syncFinished(ctx context.Context, key string, j *api.Job, fin *api.JobCondition, active []*api.Pod, now time.Time) error {
	if len(active) > 0 {
		if _, err := c.deletePods(ctx, key, j, active); err != nil {
			return err
		}
	}
	ttl := j.Spec.TTLSecondsAfterFinished
	if ttl == nil {
		return nil
	}
	expire := finishedAt(j, fin).Add(time.Duration(*ttl) * time.Second)
	if now.Before(expire) {
		c.wake.At(key, expire)
		return nil
	}
	// The cache may be behind (the TTL changed, the job was recreated):
	// decide on a fresh read, as Kubernetes' TTL controller does.
	jobs := client.For[*api.Job](c.cfg.Backend, j.Namespace)
	fresh, err := jobs.Get(ctx, j.Name)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	fin = FinishedCondition(fresh)
	if fresh.UID != j.UID || fresh.DeletionTimestamp != nil || fin == nil || fresh.Spec.TTLSecondsAfterFinished == nil {
		return nil
	}
	if expire = finishedAt(fresh, fin).Add(time.Duration(*fresh.Spec.TTLSecondsAfterFinished) * time.Second); now.Before(expire) {
		c.wake.At(key, expire)
		return nil
	}
	uid := fresh.UID
	_, err = jobs.Delete(ctx, j.Name, api.DeleteOptions{PropagationPolicy: "Background", Preconditions: &api.Preconditions{UID: &uid}})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete job %s after its TTL: %w", key, err)
	}
	c.log.Info("deleted finished job after its TTL", "job", key, "ttlSecondsAfterFinished", *fresh.Spec.TTLSecondsAfterFinished)
	return nil
}

// finishedAt is when the job finished: its condition's transition time,
// or its completion time.
func finishedAt(j *api.Job, fin *api.JobCondition) time.Time {
	if !fin.LastTransitionTime.IsZero() {
		return fin.LastTransitionTime.Time
	}
	if j.Status.CompletionTime != nil {
		return j.Status.CompletionTime.Time
	}
	return time.Time{}
}

// manageActive creates or deletes pods so that as many run as should:
// parallelism, but no more than the completions still needed. Creation
// waits out the back-off after failures. It returns how many pods it
// created and deleted.
func (c *Controller) manageActive(ctx context.Context, key string, j *api.Job, pods, active []*api.Pod, succeeded int32, now time.Time) (int, int, error) {
	parallelism := int32(1)
	if j.Spec.Parallelism != nil {
		parallelism = *j.Spec.Parallelism
	}
	want := parallelism
	switch {
	case j.Spec.Completions != nil:
		want = min(parallelism, *j.Spec.Completions-succeeded)
	case succeeded > 0:
		want = int32(len(active)) // a work queue: let the rest finish
	}
	want = max(want, 0)
	diff := len(active) - int(want)
	switch {
	case diff > 0:
		n, err := c.deletePods(ctx, key, j, podsToDelete(active, diff))
		return 0, n, err
	case diff < 0:
		if at := c.nextCreateAt(pods, now); now.Before(at) {
			c.wake.At(key, at)
			return 0, 0, nil
		}
		n := min(-diff, c.cfg.BurstPods)
		// Expect them all before the first create: the informer may show
		// a pod before its create returns.
		c.exp.ExpectCreations(key, n)
		ok, err := slowstart.Run(n, 1, func() error { return c.createPod(ctx, key, j) })
		for range n - ok {
			c.exp.CreationObserved(key) // these will never show up
		}
		return ok, 0, err
	}
	return 0, 0, nil
}

// createPod creates one pod from j's template.
func (c *Controller) createPod(ctx context.Context, key string, j *api.Job) error {
	created, err := client.For[*api.Pod](c.cfg.Backend, j.Namespace).Create(ctx, podFromTemplate(j))
	if err != nil {
		if errdefs.IsForbidden(err) && namespaces.Closing(ctx, c.cfg.Backend, j.Namespace) {
			return nil
		}
		c.events.Eventf(ref(j), api.EventTypeWarning, record.ReasonFailedCreate, "Error creating: %v", err)
		return fmt.Errorf("create pod for job %s: %w", key, err)
	}
	c.events.Eventf(ref(j), api.EventTypeNormal, record.ReasonSuccessfulCreate, "Created pod: %s", created.Name)
	return nil
}

// deletePods deletes pods of j, in parallel; it returns how many are now
// being deleted or gone.
func (c *Controller) deletePods(ctx context.Context, key string, j *api.Job, pods []*api.Pod) (int, error) {
	if len(pods) == 0 {
		return 0, nil
	}
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i] = podKey(p)
	}
	c.exp.ExpectDeletions(key, keys)
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := p.UID
			_, err := client.For[*api.Pod](c.cfg.Backend, p.Namespace).Delete(ctx, p.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
			if err != nil {
				c.exp.DeletionObserved(key, podKey(p)) // no event will show it
				if errdefs.IsNotFound(err) {
					return
				}
				c.events.Eventf(ref(j), api.EventTypeWarning, record.ReasonFailedDelete, "Error deleting: %v", err)
				errs[i] = fmt.Errorf("delete pod %s of job %s: %w", podKey(p), key, err)
				return
			}
			c.events.Eventf(ref(j), api.EventTypeNormal, record.ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
		}()
	}
	wg.Wait()
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// claimPods returns every pod j controls (any phase), once it has adopted
// the orphans its selector matches and released its pods that no longer
// match. A job whose selector was not generated (nil) only has the pods
// that name it as controller.
func (c *Controller) claimPods(ctx context.Context, j *api.Job) ([]*api.Pod, error) {
	owned := owner.Controlled(c.pods, j.Namespace, j.UID)
	if j.Spec.Selector == nil {
		return owned, nil
	}
	sel, err := api.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil || sel.Empty() {
		return owned, nil // validation refuses such selectors
	}
	var keep, release, adopt []*api.Pod
	for _, p := range owned {
		if sel.Matches(p.Labels) || !isActive(p) {
			keep = append(keep, p)
		} else {
			release = append(release, p)
		}
	}
	if FinishedCondition(j) == nil {
		for _, p := range c.pods.ByIndex(owner.ByNamespace, j.Namespace) {
			if api.ControllerOf(&p.ObjectMeta) == nil && isActive(p) && sel.Matches(p.Labels) {
				adopt = append(adopt, p)
			}
		}
	}
	// The cache may be behind: Claim adopts only for a job that still
	// exists, is this one, and is not being deleted.
	adopted, err := owner.Claim[*api.Job](ctx, c.cfg.Backend, "job", ownerRef(j), j.Namespace, release, adopt, nil)
	return append(keep, adopted...), err
}

// updateStatus writes status unless j already has it.
func (c *Controller) updateStatus(ctx context.Context, j *api.Job, status api.JobStatus) error {
	if sameStatus(j.Status, status) {
		return nil
	}
	next := api.Clone(j)
	next.Status = status
	err := versions.UpdateStatus(ctx, c.vers, c.cfg.Backend, jobKey(j), next)
	if errdefs.IsConflict(err) {
		return errStale
	}
	return err
}

// sameStatus compares statuses as they are stored.
func sameStatus(a, b api.JobStatus) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// copyStatus is a copy of s that shares nothing with it.
func copyStatus(s api.JobStatus) api.JobStatus {
	out := s
	out.Conditions = append([]api.JobCondition(nil), s.Conditions...)
	if s.StartTime != nil {
		t := *s.StartTime
		out.StartTime = &t
	}
	if s.CompletionTime != nil {
		t := *s.CompletionTime
		out.CompletionTime = &t
	}
	if s.Ready != nil {
		r := *s.Ready
		out.Ready = &r
	}
	return out
}

func hasCondition(s api.JobStatus, typ api.JobConditionType, status api.ConditionStatus) bool {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}

// setCondition sets a condition, keeping its transition time when its
// status does not change.
func setCondition(s *api.JobStatus, typ api.JobConditionType, status api.ConditionStatus, reason, message string, now time.Time) {
	t := api.NewTime(now)
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = t
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, message, t
		return
	}
	s.Conditions = append(s.Conditions, api.JobCondition{
		Type: typ, Status: status, Reason: reason, Message: message, LastProbeTime: t, LastTransitionTime: t,
	})
}
