package cronjob

import (
	"fmt"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// maxMissed is how many missed schedule times are counted; past it the
// cron job gets a TooManyMissedTimes Event and only the latest runs, as
// Kubernetes'.
const maxMissed = 100

// schedule is a cron job's parsed schedule and the zone it runs in: the
// timeZone field, else a CRON_TZ= or TZ= prefix of the schedule (which
// the API refuses in new objects, but older manifests carry), else the
// controller's default.
func (c *Controller) schedule(cj *api.CronJob) (*api.Cron, *time.Location, error) {
	spec := strings.TrimSpace(cj.Spec.Schedule)
	loc := c.cfg.Location
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		prefix, rest, _ := strings.Cut(spec, " ")
		_, zone, _ := strings.Cut(prefix, "=")
		l, err := c.location(zone)
		if err != nil {
			return nil, nil, err
		}
		loc, spec = l, strings.TrimSpace(rest)
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		l, err := c.location(*tz)
		if err != nil {
			return nil, nil, err
		}
		loc = l
	}
	cron, err := api.ParseCron(spec)
	if err != nil {
		return nil, nil, err
	}
	return cron, loc, nil
}

// location loads (once) an IANA time zone.
func (c *Controller) location(name string) (*time.Location, error) {
	c.zonesMu.Lock()
	defer c.zonesMu.Unlock()
	if l, ok := c.zones[name]; ok {
		return l, nil
	}
	if name == "" || strings.EqualFold(name, "Local") {
		return nil, fmt.Errorf("time zone %q: want an IANA name such as Europe/Paris or UTC", name)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	c.zones[name] = l
	return l, nil
}

// missed returns the latest schedule time in (earliest, now] in loc, and
// how many there are, counting up to maxMissed+1. The zero time means
// none.
func missed(cron *api.Cron, loc *time.Location, earliest, now time.Time) (time.Time, int) {
	var latest time.Time
	n := 0
	for t := cron.Next(earliest.In(loc)); !t.IsZero() && !t.After(now); t = cron.Next(t) {
		latest = t
		if n++; n > maxMissed {
			break
		}
	}
	if n <= maxMissed {
		return latest, n
	}
	// Too many to walk: look back from now in growing windows for the
	// last one; every window up to the found latest holds at least one.
	for w := time.Minute; ; w *= 4 {
		from := now.Add(-w)
		if from.Before(latest) {
			from = latest
		}
		var last time.Time
		for t := cron.Next(from.In(loc)); !t.IsZero() && !t.After(now); t = cron.Next(t) {
			last = t
		}
		if !last.IsZero() {
			return last, n
		}
		if !from.After(latest) {
			return latest, n
		}
	}
}

// jobName is the name of the Job for the run scheduled at t: the cron
// job's name and t in minutes since the epoch, as Kubernetes'.
func jobName(cj *api.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}

// scheduledTimestampAnnotation carries a Job's scheduled time, as
// Kubernetes'.
const scheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// jobFromTemplate is the Job cj runs at t (in loc).
func jobFromTemplate(cj *api.CronJob, t time.Time, loc *time.Location) *api.Job {
	tmpl := &cj.Spec.JobTemplate
	labels := make(map[string]string, len(tmpl.Labels))
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	annotations := make(map[string]string, len(tmpl.Annotations)+1)
	for k, v := range tmpl.Annotations {
		annotations[k] = v
	}
	annotations[scheduledTimestampAnnotation] = t.In(loc).Format(time.RFC3339)
	return &api.Job{
		ObjectMeta: api.ObjectMeta{
			Name:            jobName(cj, t),
			Namespace:       cj.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(cj, "batch/v1", "CronJob")},
		},
		// Shared with the cached cron job; the registry clones it.
		Spec: tmpl.Spec,
	}
}
