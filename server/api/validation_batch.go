package api

import (
	"strings"
	"time"
)

// maxCronJobNameLength leaves room in a cron job's name for the suffix
// of the jobs it creates.
const maxCronJobNameLength = 52

// validateJobSpec checks a job's spec, or a cron job's job template spec,
// at path p.
func validateJobSpec(s *JobSpec, p string) FieldErrors {
	var errs FieldErrors
	errs = nonNegativePtr(errs, p+".parallelism", s.Parallelism)
	errs = nonNegativePtr(errs, p+".completions", s.Completions)
	errs = positivePtr(errs, p+".activeDeadlineSeconds", s.ActiveDeadlineSeconds)
	errs = nonNegativePtr(errs, p+".backoffLimit", s.BackoffLimit)
	errs = nonNegativePtr(errs, p+".ttlSecondsAfterFinished", s.TTLSecondsAfterFinished)
	if m := s.CompletionMode; m != nil {
		switch *m {
		case NonIndexedCompletion:
		case IndexedCompletion:
			if s.Completions == nil {
				errs = append(errs, Required(p+".completions", "when completion mode is Indexed"))
			}
		default:
			errs = append(errs, NotSupported(p+".completionMode", string(*m), string(NonIndexedCompletion), string(IndexedCompletion)))
		}
	}
	// The selector is generated unless given; a given one must match.
	errs = append(errs, validateSelectorAndTemplate(s.Selector, &s.Template, p, false)...)
	rp := p + ".template.spec.restartPolicy"
	switch s.Template.Spec.RestartPolicy {
	case "":
		errs = append(errs, Required(rp, "a job's pods must restart OnFailure or Never"))
	case RestartPolicyAlways:
		errs = append(errs, NotSupported(rp, string(RestartPolicyAlways), string(RestartPolicyOnFailure), string(RestartPolicyNever)))
	}
	return errs
}

// validateCronJob checks a cron job: its name's length, schedule, time
// zone, policies and job template.
func validateCronJob(cj *CronJob) FieldErrors {
	var errs FieldErrors
	if len(cj.Name) > maxCronJobNameLength {
		errs = append(errs, TooLong("metadata.name", maxCronJobNameLength))
	}
	s := &cj.Spec
	switch {
	case s.Schedule == "":
		errs = append(errs, Required("spec.schedule", "a cron schedule such as \"*/5 * * * *\" or \"@daily\""))
	case strings.Contains(s.Schedule, "TZ"):
		errs = append(errs, Invalid("spec.schedule", s.Schedule, "cannot use TZ or CRON_TZ in schedule, use the timeZone field instead"))
	default:
		if _, err := ParseCron(s.Schedule); err != nil {
			errs = append(errs, Invalid("spec.schedule", s.Schedule, err.Error()))
		}
	}
	if tz := s.TimeZone; tz != nil {
		if *tz == "" || strings.EqualFold(*tz, "Local") {
			errs = append(errs, Invalid("spec.timeZone", *tz, "must be an IANA time zone name such as Europe/Paris or UTC"))
		} else if _, err := time.LoadLocation(*tz); err != nil {
			errs = append(errs, Invalid("spec.timeZone", *tz, "unknown time zone: not in the time zone database"))
		}
	}
	errs = nonNegativePtr(errs, "spec.startingDeadlineSeconds", s.StartingDeadlineSeconds)
	errs = oneOf(errs, "spec.concurrencyPolicy", s.ConcurrencyPolicy, AllowConcurrent, ForbidConcurrent, ReplaceConcurrent)
	errs = nonNegativePtr(errs, "spec.successfulJobsHistoryLimit", s.SuccessfulJobsHistoryLimit)
	errs = nonNegativePtr(errs, "spec.failedJobsHistoryLimit", s.FailedJobsHistoryLimit)
	jp := "spec.jobTemplate"
	errs = append(errs, ValidateLabels(s.JobTemplate.Labels, jp+".metadata.labels")...)
	errs = append(errs, ValidateAnnotations(s.JobTemplate.Annotations, jp+".metadata.annotations")...)
	errs = append(errs, validateJobSpec(&s.JobTemplate.Spec, jp+".spec")...)
	return errs
}
