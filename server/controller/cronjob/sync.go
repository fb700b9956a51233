package cronjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/versions"
	"github.com/skiffhq/skiff/server/controller/job"
	"github.com/skiffhq/skiff/server/controller/record"
)

// errStale: a write met a newer object than the cache holds.
var errStale = errors.New("the cached cron job is out of date")

// The event reasons of this controller, as Kubernetes'.
const (
	reasonSawCompletedJob    = "SawCompletedJob"
	reasonMissingJob         = "MissingJob"
	reasonJobAlreadyActive   = "JobAlreadyActive"
	reasonMissSchedule       = "MissSchedule"
	reasonTooManyMissedTimes = "TooManyMissedTimes"
	reasonUnparseable        = "UnparseableSchedule"
)

// sync brings one cron job up to date: see the package comment.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := owner.SplitKey(key)
	cj, ok := c.cronjobs.Get(ns, name)
	if !ok {
		c.wake.Forget(key)
		c.vers.Forget(key)
		return nil
	}
	if cj.DeletionTimestamp != nil {
		return nil
	}
	if c.vers.Stale(key, cj.ResourceVersion) {
		return nil // the informer has yet to show our last write; its event queues the cron job
	}
	now := c.clock.Now()
	var jobs []*api.Job
	for _, j := range c.jobs.ByIndex(owner.ByController, cj.UID) {
		if j.Namespace == cj.Namespace && !c.isDeleted(j.UID) {
			jobs = append(jobs, j)
		}
	}
	status := copyStatus(cj.Status)
	if err := c.syncActive(ctx, cj, jobs, &status); err != nil {
		return err
	}
	if err := c.cleanupHistory(ctx, cj, jobs); err != nil {
		return err
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		c.wake.Forget(key)
		return c.updateStatus(ctx, cj, status)
	}
	cron, loc, err := c.schedule(cj)
	if err != nil {
		// Validation refuses most of these; a zone may vanish from the
		// database. Nothing to retry until the cron job changes.
		c.events.Eventf(ref(cj), api.EventTypeWarning, reasonUnparseable, "unparseable schedule %q: %v", cj.Spec.Schedule, err)
		return c.updateStatus(ctx, cj, status)
	}
	next := cron.Next(now.In(loc))
	runErr := c.run(ctx, cj, jobs, cron, loc, now, &status)
	if err := c.updateStatus(ctx, cj, status); err != nil {
		return errors.Join(runErr, err)
	}
	if !next.IsZero() {
		c.wake.At(key, next)
	}
	return runErr
}

// run starts the latest unmet schedule time, if it is due and the
// concurrency policy allows.
func (c *Controller) run(ctx context.Context, cj *api.CronJob, jobs []*api.Job, cron *api.Cron, loc *time.Location, now time.Time, status *api.CronJobStatus) error {
	earliest := cj.CreationTimestamp.Time
	if status.LastScheduleTime != nil {
		earliest = status.LastScheduleTime.Time
	}
	scheduled, n := missed(cron, loc, earliest, now)
	if scheduled.IsZero() {
		return nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		window := time.Duration(*d) * time.Second
		if scheduled.Add(window).Before(now) {
			c.events.Eventf(ref(cj), api.EventTypeWarning, reasonMissSchedule,
				"Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
			return nil
		}
		if from := now.Add(-window); from.After(earliest) {
			_, n = missed(cron, loc, from, now)
		}
	}
	if n > maxMissed {
		c.events.Eventf(ref(cj), api.EventTypeWarning, reasonTooManyMissedTimes,
			"too many missed start times: more than %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", maxMissed)
	}
	name := jobName(cj, scheduled)
	for _, j := range jobs {
		if j.Name == name {
			// Already run (a restart, or a status write lost after the
			// create): only the status is behind.
			status.LastScheduleTime = timePtr(scheduled)
			return nil
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case api.ForbidConcurrent:
		if len(status.Active) > 0 {
			// The run waits: it starts when the active one ends, if that
			// is still within the starting deadline, as Kubernetes'.
			c.events.Eventf(ref(cj), api.EventTypeNormal, reasonJobAlreadyActive,
				"Not starting job because prior execution is running and concurrency policy is Forbid")
			return nil
		}
	case api.ReplaceConcurrent:
		kept := status.Active[:0:0]
		var errs []error
		for _, a := range status.Active {
			if err := c.deleteJob(ctx, cj, a.Name, a.UID); err != nil {
				errs = append(errs, err)
				kept = append(kept, a)
			}
		}
		status.Active = kept
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	created, err := client.For[*api.Job](c.cfg.Backend, cj.Namespace).Create(ctx, jobFromTemplate(cj, scheduled, loc))
	switch {
	case errdefs.IsAlreadyExists(err):
		existing, gerr := client.For[*api.Job](c.cfg.Backend, cj.Namespace).Get(ctx, name)
		if gerr != nil {
			return fmt.Errorf("job %s/%s exists but cannot be read: %w", cj.Namespace, name, gerr)
		}
		if r := api.ControllerOf(&existing.ObjectMeta); r == nil || r.UID != cj.UID {
			c.events.Eventf(ref(cj), api.EventTypeWarning, record.ReasonFailedCreate, "Error creating job: %s already exists and is not this cron job's", name)
			return fmt.Errorf("job %s/%s exists and is not controlled by cron job %s: %w", cj.Namespace, name, cj.Name, errdefs.ErrAlreadyExists)
		}
		if job.FinishedCondition(existing) == nil && !hasActive(*status, existing.UID) {
			status.Active = append(status.Active, jobRef(existing))
		}
	case err != nil:
		c.events.Eventf(ref(cj), api.EventTypeWarning, record.ReasonFailedCreate, "Error creating job: %v", err)
		return fmt.Errorf("create job %s/%s: %w", cj.Namespace, name, err)
	default:
		c.events.Eventf(ref(cj), api.EventTypeNormal, record.ReasonSuccessfulCreate, "Created job %s", created.Name)
		c.log.Debug("created job", "cronjob", cj.Namespace+"/"+cj.Name, "job", created.Name, "scheduled", scheduled)
		status.Active = append(status.Active, jobRef(created))
	}
	status.LastScheduleTime = timePtr(scheduled)
	return nil
}

// syncActive makes status.active the cron job's unfinished jobs, and
// lastSuccessfulTime the latest completion.
func (c *Controller) syncActive(ctx context.Context, cj *api.CronJob, jobs []*api.Job, status *api.CronJobStatus) error {
	byUID := make(map[string]*api.Job, len(jobs))
	for _, j := range jobs {
		byUID[j.UID] = j
		fin := job.FinishedCondition(j)
		switch {
		case fin == nil && j.DeletionTimestamp == nil && !hasActive(*status, j.UID):
			status.Active = append(status.Active, jobRef(j))
		case fin != nil && hasActive(*status, j.UID):
			removeActive(status, j.UID)
			c.events.Eventf(ref(cj), api.EventTypeNormal, reasonSawCompletedJob, "Saw completed job: %s, status: %s", j.Name, fin.Type)
		}
		if fin != nil && fin.Type == api.JobComplete {
			done := fin.LastTransitionTime
			if j.Status.CompletionTime != nil {
				done = *j.Status.CompletionTime
			}
			if status.LastSuccessfulTime == nil || done.After(status.LastSuccessfulTime.Time) {
				status.LastSuccessfulTime = &done
			}
		}
	}
	// Active runs not in the cache: gone, or the cache is behind.
	for _, a := range append([]api.ObjectReference(nil), status.Active...) {
		if _, ok := byUID[a.UID]; ok {
			continue
		}
		j, err := client.For[*api.Job](c.cfg.Backend, cj.Namespace).Get(ctx, a.Name)
		switch {
		case errdefs.IsNotFound(err) || (err == nil && j.UID != a.UID):
			removeActive(status, a.UID)
			c.events.Eventf(ref(cj), api.EventTypeNormal, reasonMissingJob, "Active job went missing: %s", a.Name)
		case err != nil:
			return fmt.Errorf("read active job %s/%s: %w", cj.Namespace, a.Name, err)
		case job.FinishedCondition(j) != nil:
			removeActive(status, a.UID)
		}
	}
	return nil
}

// cleanupHistory deletes the oldest finished jobs beyond the history
// limits (successful 3, failed 1 by default).
func (c *Controller) cleanupHistory(ctx context.Context, cj *api.CronJob, jobs []*api.Job) error {
	var succeeded, failed []*api.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		if fin := job.FinishedCondition(j); fin != nil {
			if fin.Type == api.JobComplete {
				succeeded = append(succeeded, j)
			} else {
				failed = append(failed, j)
			}
		}
	}
	var errs []error
	prune := func(list []*api.Job, limit *int32, def int32) {
		keep := def
		if limit != nil {
			keep = *limit
		}
		if int32(len(list)) <= keep {
			return
		}
		sort.Slice(list, func(a, b int) bool { return olderJob(list[a], list[b]) })
		for _, j := range list[:len(list)-int(keep)] {
			if err := c.deleteJob(ctx, cj, j.Name, j.UID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	prune(succeeded, cj.Spec.SuccessfulJobsHistoryLimit, 3)
	prune(failed, cj.Spec.FailedJobsHistoryLimit, 1)
	return errors.Join(errs...)
}

// olderJob orders jobs by start time (unstarted first), then creation,
// then name.
func olderJob(a, b *api.Job) bool {
	sa, sb := a.Status.StartTime, b.Status.StartTime
	switch {
	case sa == nil && sb != nil:
		return true
	case sa != nil && sb == nil:
		return false
	case sa != nil && !sa.Equal(sb.Time):
		return sa.Before(sb.Time)
	}
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.Before(b.CreationTimestamp.Time)
	}
	if len(a.Name) != len(b.Name) {
		return len(a.Name) < len(b.Name)
	}
	return a.Name < b.Name
}

// deleteJob deletes one of cj's jobs in the background: the garbage
// collector deletes its pods. One already gone is no error.
func (c *Controller) deleteJob(ctx context.Context, cj *api.CronJob, name, uid string) error {
	opts := api.DeleteOptions{PropagationPolicy: "Background"}
	if uid != "" {
		opts.Preconditions = &api.Preconditions{UID: &uid}
	}
	deleted, err := client.For[*api.Job](c.cfg.Backend, cj.Namespace).Delete(ctx, name, opts)
	if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
		return nil // gone, or another job of that name now
	}
	if err == nil {
		c.markDeleted(cj.Namespace, name, deleted.UID)
	}
	if err != nil {
		c.events.Eventf(ref(cj), api.EventTypeWarning, record.ReasonFailedDelete, "Deleted job %s failed: %v", name, err)
		return fmt.Errorf("delete job %s/%s: %w", cj.Namespace, name, err)
	}
	c.events.Eventf(ref(cj), api.EventTypeNormal, record.ReasonSuccessfulDelete, "Deleted job %s", name)
	return nil
}

func jobRef(j *api.Job) api.ObjectReference {
	return api.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion}
}

func hasActive(s api.CronJobStatus, uid string) bool {
	for _, a := range s.Active {
		if a.UID == uid {
			return true
		}
	}
	return false
}

func removeActive(s *api.CronJobStatus, uid string) {
	out := s.Active[:0:0]
	for _, a := range s.Active {
		if a.UID != uid {
			out = append(out, a)
		}
	}
	s.Active = out
	if len(out) == 0 {
		s.Active = nil
	}
}

func timePtr(t time.Time) *api.Time {
	v := api.NewTime(t)
	return &v
}

func copyStatus(s api.CronJobStatus) api.CronJobStatus {
	out := s
	out.Active = append([]api.ObjectReference(nil), s.Active...)
	if s.LastScheduleTime != nil {
		t := *s.LastScheduleTime
		out.LastScheduleTime = &t
	}
	if s.LastSuccessfulTime != nil {
		t := *s.LastSuccessfulTime
		out.LastSuccessfulTime = &t
	}
	return out
}

// updateStatus writes status unless cj already has it, as stored.
func (c *Controller) updateStatus(ctx context.Context, cj *api.CronJob, status api.CronJobStatus) error {
	if sameStatus(cj.Status, status) {
		return nil
	}
	next := api.Clone(cj)
	next.Status = status
	err := versions.UpdateStatus(ctx, c.vers, c.cfg.Backend, cronJobKey(cj), next)
	if errdefs.IsConflict(err) {
		return errStale
	}
	return err
}

func sameStatus(a, b api.CronJobStatus) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
