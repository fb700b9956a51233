package api

import (
	"strings"
	"testing"
	"time"
)

// mustTime parses an RFC 3339 time or fails the test.
func mustTime(t testing.TB, s string, loc *time.Location) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
	if err != nil {
		t.Fatalf("parse time %q: %v", s, err)
	}
	return v
}

func TestCronNext(t *testing.T) {
	tests := []struct {
		spec string
		from string // in UTC, 2006-01-02T15:04
		want []string
	}{
		{"* * * * *", "2024-03-01T10:00", []string{"2024-03-01T10:01", "2024-03-01T10:02"}},
		{"*/15 * * * *", "2024-03-01T10:07", []string{"2024-03-01T10:15", "2024-03-01T10:30", "2024-03-01T10:45", "2024-03-01T11:00"}},
		{"0 * * * *", "2024-03-01T10:00", []string{"2024-03-01T11:00", "2024-03-01T12:00"}},
		{"30 2 * * *", "2024-03-01T10:00", []string{"2024-03-02T02:30", "2024-03-03T02:30"}},
		{"0 0 1 * *", "2024-01-15T00:00", []string{"2024-02-01T00:00", "2024-03-01T00:00"}},
		{"0 0 29 2 *", "2023-03-01T00:00", []string{"2024-02-29T00:00", "2028-02-29T00:00"}},
		{"0 0 31 * *", "2024-01-31T00:00", []string{"2024-03-31T00:00", "2024-05-31T00:00"}},
		{"0 9 * * MON-FRI", "2024-03-01T10:00", []string{"2024-03-04T09:00", "2024-03-05T09:00"}}, // Friday → Monday
		{"0 0 * * 0", "2024-03-01T00:00", []string{"2024-03-03T00:00", "2024-03-10T00:00"}},
		{"0 0 * * 7", "2024-03-01T00:00", []string{"2024-03-03T00:00"}},
		{"0 0 * * sun", "2024-03-01T00:00", []string{"2024-03-03T00:00"}},
		// Both day fields restricted: either matches (the 1st, or a Monday).
		{"0 0 1 * 1", "2024-03-01T00:00", []string{"2024-03-04T00:00", "2024-03-11T00:00", "2024-03-18T00:00", "2024-03-25T00:00", "2024-04-01T00:00"}},
		// A day field with a star: both must match (Mondays, odd days).
		{"0 0 */2 * 1", "2024-03-01T00:00", []string{"2024-03-11T00:00", "2024-03-25T00:00"}},
		{"5-10/5,59 0 * jan,JUL *", "2024-06-30T23:59", []string{"2024-07-01T00:05", "2024-07-01T00:10", "2024-07-01T00:59", "2024-07-02T00:05"}},
		{"0 12 ? * ?", "2024-03-01T12:00", []string{"2024-03-02T12:00"}},
		{"10/20 * * * *", "2024-03-01T10:00", []string{"2024-03-01T10:10", "2024-03-01T10:30", "2024-03-01T10:50", "2024-03-01T11:10"}},
		{"@hourly", "2024-03-01T10:30", []string{"2024-03-01T11:00"}},
		{"@daily", "2024-03-01T10:30", []string{"2024-03-02T00:00"}},
		{"@midnight", "2024-03-01T10:30", []string{"2024-03-02T00:00"}},
		{"@weekly", "2024-03-01T10:30", []string{"2024-03-03T00:00"}},
		{"@monthly", "2024-03-01T10:30", []string{"2024-04-01T00:00"}},
		{"@yearly", "2024-03-01T10:30", []string{"2025-01-01T00:00"}},
		{"@annually", "2024-03-01T10:30", []string{"2025-01-01T00:00"}},
		{"59 23 31 12 *", "2024-12-31T23:59", []string{"2025-12-31T23:59"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			c, err := ParseCron(tt.spec)
			if err != nil {
				t.Fatalf("ParseCron(%q): %v", tt.spec, err)
			}
			at := mustTime(t, tt.from, time.UTC)
			for _, w := range tt.want {
				want := mustTime(t, w, time.UTC)
				got := c.Next(at)
				if !got.Equal(want) {
					t.Fatalf("Next(%s) = %s, want %s", at.Format(time.RFC3339), got.Format(time.RFC3339), want.Format(time.RFC3339))
				}
				if !c.Matches(got) {
					t.Errorf("Matches(%s) = false for a time Next returned", got)
				}
				at = got
			}
		})
	}
}

func TestCronNextSubMinute(t *testing.T) {
	c, err := ParseCron("* * * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, 3, 1, 10, 0, 59, 999, time.UTC)
	if got, want := c.Next(from), time.Date(2024, 3, 1, 10, 1, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next(%s) = %s, want %s", from, got, want)
	}
}

func TestCronNextDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	tests := []struct {
		name string
		spec string
		from time.Time
		want []time.Time // wall-clock times in New York
	}{
		{
			// 2024-03-10 02:00 does not exist: clocks jump to 03:00.
			name: "skipped hour does not fire",
			spec: "30 2 * * *",
			from: time.Date(2024, 3, 9, 12, 0, 0, 0, ny),
			want: []time.Time{time.Date(2024, 3, 11, 2, 30, 0, 0, ny)},
		},
		{
			name: "every hour across spring forward",
			spec: "0 * * * *",
			from: time.Date(2024, 3, 10, 0, 30, 0, 0, ny),
			want: []time.Time{time.Date(2024, 3, 10, 1, 0, 0, 0, ny), time.Date(2024, 3, 10, 3, 0, 0, 0, ny), time.Date(2024, 3, 10, 4, 0, 0, 0, ny)},
		},
		{
			// 2024-11-03 01:00-02:00 happens twice; it fires once.
			name: "repeated hour fires once",
			spec: "30 1 * * *",
			from: time.Date(2024, 11, 2, 12, 0, 0, 0, ny),
			want: []time.Time{time.Date(2024, 11, 3, 1, 30, 0, 0, ny), time.Date(2024, 11, 4, 1, 30, 0, 0, ny)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCron(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			at := tt.from
			for _, want := range tt.want {
				got := c.Next(at)
				if !got.Equal(want) {
					t.Fatalf("Next(%s) = %s, want %s", at, got, want)
				}
				at = got
			}
		})
	}
}

func TestParseCronErrors(t *testing.T) {
	tests := []struct {
		spec string
		want string
	}{
		{"", "want 5 fields"},
		{"* * * *", "want 5 fields"},
		{"* * * * * *", "want 5 fields"},
		{"@every 5m", "unknown macro"},
		{"@reboot", "unknown macro"},
		{"60 * * * *", "minute 60: out of range 0-59"},
		{"* 24 * * *", "hour 24: out of range 0-23"},
		{"* * 0 * *", "day of month 0: out of range 1-31"},
		{"* * 32 * *", "day of month 32"},
		{"* * * 13 *", "month 13"},
		{"* * * 0 *", "month 0"},
		{"* * * * 8", "day of week 8"},
		{"* * * foo *", "not a number"},
		{"*/0 * * * *", "step must be"},
		{"*/x * * * *", "step must be"},
		{"10-5 * * * *", "range ends before it starts"},
		{"1-2-3 * * * *", "not a number"},
		{"-1 * * * *", "not a number"},
		{"+1 * * * *", "not a number"},
		{"1,,2 * * * *", "not a number"},
		{"? * * * *", "? is only allowed in the day fields"},
		{"* * * ? *", "? is only allowed in the day fields"},
		{"0 0 30 2 *", "never runs"},
		{"0 0 31 4,6,9,11 *", "never runs"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseCron(tt.spec)
			if err == nil {
				t.Fatalf("ParseCron(%q) = nil error, want one containing %q", tt.spec, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCron(%q) error = %q, want it to contain %q", tt.spec, err, tt.want)
			}
		})
	}
}

func TestParseCronAccepts(t *testing.T) {
	for _, spec := range []string{
		"0 0 30 2 1",     // never the 30th of February, but Mondays
		"0 0 30 2,3 *",   // March has a 30th
		"0 0 */31 2 1",   // Mondays that are the 1st of February: rare, but they come
		" 0  0 * * * ",   // extra spaces
		"0 0 1-31/2 * *", // odd days
		"0 0 * * 1-7",    // 7 is Sunday
	} {
		if _, err := ParseCron(spec); err != nil {
			t.Errorf("ParseCron(%q): %v", spec, err)
		}
	}
}

func TestCronNextRare(t *testing.T) {
	// Monday the 1st of February: 2021, then 2027, then 2038.
	c, err := ParseCron("0 0 */31 2 1")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	if got, want := c.Next(from), time.Date(2038, 2, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next(%s) = %s, want %s", from, got, want)
	}
}

// FuzzParseCron checks that a parsed schedule's Next moves forward to a
// matching minute.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"*/5 * * * *", "0 0 1 1 *", "@daily", "0 9 * * MON-FRI", "0 0 29 2 *", "5-10/5,59 0 * jan,JUL *"} {
		f.Add(s)
	}
	from := time.Date(2024, 2, 28, 23, 59, 30, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := ParseCron(spec)
		if err != nil {
			return
		}
		next := c.Next(from)
		if next.IsZero() {
			t.Fatalf("ParseCron(%q) parsed but Next found nothing", spec)
		}
		if !next.After(from) || next.Second() != 0 || !c.Matches(next) {
			t.Fatalf("ParseCron(%q).Next(%s) = %s: not a later matching minute", spec, from, next)
		}
		if c.String() != spec {
			t.Fatalf("String() = %q, want %q", c.String(), spec)
		}
	})
}
