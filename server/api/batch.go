package api

// This file holds the batch/v1 kinds, Job and CronJob, with the field names
// and JSON tags of Kubernetes. The cron schedule parser is in cron.go.

// Job runs pods until a number of them succeed.
type Job struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       JobSpec   `json:"spec,omitzero"`
	Status     JobStatus `json:"status,omitzero"`
}

// CompletionMode says how a job counts completions.
type CompletionMode string

// The completion modes.
const (
	// NonIndexedCompletion: any Completions successful pods.
	NonIndexedCompletion CompletionMode = "NonIndexed"
	// IndexedCompletion: one success for each index 0..Completions-1.
	IndexedCompletion CompletionMode = "Indexed"
)

// The labels a job's pods carry, and that its generated selector matches.
const (
	JobControllerUIDLabel = "batch.kubernetes.io/controller-uid"
	JobNameLabel          = "batch.kubernetes.io/job-name"
)

// JobSpec is the desired state of a job. The pod template may not change
// after creation.
type JobSpec struct {
	// Parallelism: pods running at once; default 1.
	Parallelism *int32 `json:"parallelism,omitempty"`
	// Completions: successful pods needed; default 1 when Parallelism is
	// unset too. Unset: done when any pod succeeds and none run.
	Completions *int32 `json:"completions,omitempty"`
	// ActiveDeadlineSeconds bounds the job's run time.
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// BackoffLimit: failed pods before the job fails; default 6.
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// Selector is generated from the job's uid unless ManualSelector.
	Selector       *LabelSelector  `json:"selector,omitempty"`
	ManualSelector *bool           `json:"manualSelector,omitempty"`
	Template       PodTemplateSpec `json:"template,omitzero"`
	// TTLSecondsAfterFinished: delete the job this long after it ends.
	TTLSecondsAfterFinished *int32          `json:"ttlSecondsAfterFinished,omitempty"`
	CompletionMode          *CompletionMode `json:"completionMode,omitempty"`
	// Suspend stops creating pods and deletes running ones.
	Suspend *bool `json:"suspend,omitempty"`
}

// JobStatus is the observed state of a job.
type JobStatus struct {
	Conditions     []JobCondition `json:"conditions,omitempty"`
	StartTime      *Time          `json:"startTime,omitempty"`
	CompletionTime *Time          `json:"completionTime,omitempty"`
	Active         int32          `json:"active,omitempty"`
	Succeeded      int32          `json:"succeeded,omitempty"`
	Failed         int32          `json:"failed,omitempty"`
	Ready          *int32         `json:"ready,omitempty"`
	// CompletedIndexes, for Indexed jobs, as "1,3-5,7".
	CompletedIndexes string `json:"completedIndexes,omitempty"`
}

// JobConditionType names a job condition.
type JobConditionType string

// The job condition types.
const (
	JobComplete  JobConditionType = "Complete"
	JobFailed    JobConditionType = "Failed"
	JobSuspended JobConditionType = "Suspended"
)

// JobCondition is one condition of a job.
type JobCondition struct {
	Type               JobConditionType `json:"type"`
	Status             ConditionStatus  `json:"status"`
	LastProbeTime      Time             `json:"lastProbeTime,omitzero"`
	LastTransitionTime Time             `json:"lastTransitionTime,omitzero"`
	Reason             string           `json:"reason,omitempty"`
	Message            string           `json:"message,omitempty"`
}

// CronJob creates a Job on a schedule.
type CronJob struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       CronJobSpec   `json:"spec,omitzero"`
	Status     CronJobStatus `json:"status,omitzero"`
}

// ConcurrencyPolicy says what to do when a run is due while the last one
// still runs.
type ConcurrencyPolicy string

// The concurrency policies.
const (
	AllowConcurrent   ConcurrencyPolicy = "Allow"   // run both
	ForbidConcurrent  ConcurrencyPolicy = "Forbid"  // skip the new run
	ReplaceConcurrent ConcurrencyPolicy = "Replace" // stop the old run
)

// CronJobSpec is the desired state of a cron job.
type CronJobSpec struct {
	// Schedule in cron syntax ("*/5 * * * *") or a macro ("@daily").
	Schedule string `json:"schedule"`
	// TimeZone is an IANA zone name ("Europe/Paris"); default the server's.
	TimeZone *string `json:"timeZone,omitempty"`
	// StartingDeadlineSeconds: a run missed by more than this is skipped.
	StartingDeadlineSeconds *int64            `json:"startingDeadlineSeconds,omitempty"`
	ConcurrencyPolicy       ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`
	Suspend                 *bool             `json:"suspend,omitempty"`
	JobTemplate             JobTemplateSpec   `json:"jobTemplate"`
	// SuccessfulJobsHistoryLimit (default 3) and FailedJobsHistoryLimit
	// (default 1) are how many finished jobs to keep.
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`
	FailedJobsHistoryLimit     *int32 `json:"failedJobsHistoryLimit,omitempty"`
}

// JobTemplateSpec is the job a cron job creates.
type JobTemplateSpec struct {
	ObjectMeta `json:"metadata,omitzero"`
	Spec       JobSpec `json:"spec,omitzero"`
}

// CronJobStatus is the observed state of a cron job.
type CronJobStatus struct {
	Active             []ObjectReference `json:"active,omitempty"`
	LastScheduleTime   *Time             `json:"lastScheduleTime,omitempty"`
	LastSuccessfulTime *Time             `json:"lastSuccessfulTime,omitempty"`
}
