package cronjob

import (
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

func mustCron(t *testing.T, spec string) *api.Cron {
	t.Helper()
	c, err := api.ParseCron(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMissed(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name            string
		spec            string
		earliest, now   time.Time
		wantLatest      time.Time
		wantN           int
		wantMoreThanMax bool
	}{
		{"none yet", "*/5 * * * *", t0, t0.Add(4 * time.Minute), time.Time{}, 0, false},
		{"exactly at the time", "*/5 * * * *", t0, t0.Add(5 * time.Minute), t0.Add(5 * time.Minute), 1, false},
		{"earliest itself is not missed", "*/5 * * * *", t0, t0.Add(time.Minute), time.Time{}, 0, false},
		{"three missed", "*/5 * * * *", t0, t0.Add(17 * time.Minute), t0.Add(15 * time.Minute), 3, false},
		{"from mid-minute", "* * * * *", t0.Add(30 * time.Second), t0.Add(3*time.Minute + 10*time.Second), t0.Add(3 * time.Minute), 3, false},
		{"a hundred is not too many", "* * * * *", t0, t0.Add(100 * time.Minute), t0.Add(100 * time.Minute), 100, false},
		{"a day of minutes", "* * * * *", t0, t0.Add(24*time.Hour + 30*time.Second), t0.Add(24 * time.Hour), 0, true},
		{"a year of hourly runs at 3 past", "3 * * * *", t0, t0.Add(365*24*time.Hour + 90*time.Minute), t0.Add(365*24*time.Hour + 63*time.Minute), 0, true},
		{"sparse: a burst at 3 am, long ago", "* 3 * * *", t0, t0.Add(10 * 24 * time.Hour), time.Date(2026, 3, 14, 3, 59, 0, 0, time.UTC), 0, true},
	} {
		latest, n := missed(mustCron(t, tc.spec), time.UTC, tc.earliest, tc.now)
		if !latest.Equal(tc.wantLatest) {
			t.Errorf("%s: latest %v, want %v", tc.name, latest, tc.wantLatest)
		}
		if tc.wantMoreThanMax {
			if n <= maxMissed {
				t.Errorf("%s: %d missed, want more than %d", tc.name, n, maxMissed)
			}
		} else if n != tc.wantN {
			t.Errorf("%s: %d missed, want %d", tc.name, n, tc.wantN)
		}
	}
}

func TestScheduleZones(t *testing.T) {
	c := &Controller{cfg: Config{Location: time.UTC}, zones: map[string]*time.Location{}}
	paris := "Europe/Paris"
	for _, tc := range []struct {
		name     string
		schedule string
		timeZone *string
		wantZone string
		wantErr  bool
	}{
		{"default zone", "0 9 * * *", nil, "UTC", false},
		{"timeZone", "0 9 * * *", &paris, "Europe/Paris", false},
		{"CRON_TZ prefix", "CRON_TZ=Asia/Tokyo 0 9 * * *", nil, "Asia/Tokyo", false},
		{"TZ prefix", "TZ=America/New_York 0 9 * * *", nil, "America/New_York", false},
		{"timeZone wins over a prefix", "CRON_TZ=Asia/Tokyo 0 9 * * *", &paris, "Europe/Paris", false},
		{"unknown zone", "CRON_TZ=Mars/Olympus 0 9 * * *", nil, "", true},
		{"bad schedule", "0 25 * * *", nil, "", true},
	} {
		cj := &api.CronJob{Spec: api.CronJobSpec{Schedule: tc.schedule, TimeZone: tc.timeZone}}
		_, loc, err := c.schedule(cj)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if err == nil && loc.String() != tc.wantZone {
			t.Errorf("%s: zone %s, want %s", tc.name, loc, tc.wantZone)
		}
	}
	// 09:00 in Paris in winter is 08:00 UTC.
	cj := &api.CronJob{Spec: api.CronJobSpec{Schedule: "0 9 * * *", TimeZone: &paris}}
	cron, loc, err := c.schedule(cj)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 10, 7, 0, 0, 0, time.UTC)
	if got, want := cron.Next(from.In(loc)), time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("next 09:00 Paris after %v = %v, want %v", from, got.UTC(), want)
	}
}

func TestJobName(t *testing.T) {
	cj := &api.CronJob{ObjectMeta: api.ObjectMeta{Name: "report"}}
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	if got, want := jobName(cj, at), "report-29455384"; got != want {
		t.Errorf("jobName = %q, want %q (minutes since the epoch)", got, want)
	}
	// The same minute in another zone is the same name.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err == nil && jobName(cj, at.In(tokyo)) != jobName(cj, at) {
		t.Error("the job name depends on the zone")
	}
}

func TestOlderJob(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	started := func(name string, at time.Time) *api.Job {
		j := &api.Job{ObjectMeta: api.ObjectMeta{Name: name}}
		st := api.NewTime(at)
		j.Status.StartTime = &st
		return j
	}
	unstarted := &api.Job{ObjectMeta: api.ObjectMeta{Name: "u"}}
	for _, tc := range []struct {
		name string
		a, b *api.Job
		want bool
	}{
		{"earlier start", started("a", t0), started("b", t0.Add(time.Minute)), true},
		{"later start", started("a", t0.Add(time.Minute)), started("b", t0), false},
		{"unstarted first", unstarted, started("b", t0), true},
		{"same start: shorter name (fewer minutes)", started("x-999", t0), started("x-1000", t0), true},
	} {
		if got := olderJob(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: olderJob = %v, want %v", tc.name, got, tc.want)
		}
	}
}
