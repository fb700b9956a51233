package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed cron schedule: the minutes, hours, days of the month,
// months and days of the week it fires at, as bit sets.
type Cron struct {
	spec   string
	minute uint64 // bits 0-59
	hour   uint64 // bits 0-23
	dom    uint64 // bits 1-31
	month  uint64 // bits 1-12
	dow    uint64 // bits 0-6, Sunday is 0
	// domStar and dowStar: the field was "*" or "?" (possibly with a step).
	// When both fields are restricted a day matches if either does, as in
	// Vixie cron; otherwise both must.
	domStar, dowStar bool
}

// cronField describes one of the five fields.
type cronField struct {
	name     string
	min, max int
	// names, if any, spell the values min, min+1, …
	names []string
	// question: "?" may stand for "*".
	question bool
}

// cronFields returns the five fields in order. Day of week allows 7 for
// Sunday; ParseCron folds it onto 0.
func cronFields() [5]cronField {
	return [5]cronField{
		{name: "minute", min: 0, max: 59},
		{name: "hour", min: 0, max: 23},
		{name: "day of month", min: 1, max: 31, question: true},
		{name: "month", min: 1, max: 12, names: []string{
			"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
		{name: "day of week", min: 0, max: 7, question: true, names: []string{
			"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
	}
}

// cronMacro returns the five fields an @ shorthand stands for.
func cronMacro(macro string) (string, bool) {
	switch strings.ToLower(macro) {
	case "@yearly", "@annually":
		return "0 0 1 1 *", true
	case "@monthly":
		return "0 0 1 * *", true
	case "@weekly":
		return "0 0 * * 0", true
	case "@daily", "@midnight":
		return "0 0 * * *", true
	case "@hourly":
		return "0 * * * *", true
	}
	return "", false
}

// ParseCron parses a standard five-field cron schedule, "minute hour
// day-of-month month day-of-week", or one of @yearly (@annually),
// @monthly, @weekly, @daily (@midnight) and @hourly. A field is a
// comma-separated list of *, a value, a range a-b, each optionally with a
// step /n; months and days of the week may be named (JAN, mon), day of
// week 7 is Sunday, and ? is * in the day fields. A schedule that can
// never fire, such as "0 0 30 2 *", is an error.
func ParseCron(spec string) (*Cron, error) {
	text := strings.TrimSpace(spec)
	if strings.HasPrefix(text, "@") {
		m, ok := cronMacro(text)
		if !ok {
			return nil, fmt.Errorf("cron schedule %q: unknown macro: want @yearly, @monthly, @weekly, @daily or @hourly", spec)
		}
		text = m
	}
	fields := strings.Fields(text)
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron schedule %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, len(fields))
	}
	c := &Cron{spec: spec}
	cf := cronFields()
	var bits [5]uint64
	var stars [5]bool
	for i, f := range cf {
		var err error
		if bits[i], stars[i], err = f.parse(fields[i]); err != nil {
			return nil, fmt.Errorf("cron schedule %q: %w", spec, err)
		}
	}
	c.minute, c.hour, c.dom, c.month, c.dow = bits[0], bits[1], bits[2], bits[3], bits[4]
	c.domStar, c.dowStar = stars[2], stars[4]
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1
	}
	if !c.possible() {
		return nil, fmt.Errorf("cron schedule %q: never runs: no selected month has the selected days of the month", spec)
	}
	return c, nil
}

// String returns the schedule as given to ParseCron.
func (c *Cron) String() string { return c.spec }

// parse reads one field into a bit set; star reports a leading * or ?.
func (f cronField) parse(field string) (bits uint64, star bool, err error) {
	star = strings.HasPrefix(field, "*") || (f.question && strings.HasPrefix(field, "?"))
	for item := range strings.SplitSeq(field, ",") {
		b, err := f.parseItem(item)
		if err != nil {
			return 0, false, err
		}
		bits |= b
	}
	return bits, star, nil
}

// parseItem reads one list item: *, v, a-b, each with an optional /step.
func (f cronField) parseItem(item string) (uint64, error) {
	rng, stepText, hasStep := strings.Cut(item, "/")
	lo, hi := f.min, f.max
	switch {
	case rng == "*":
	case rng == "?":
		if !f.question {
			return 0, fmt.Errorf("%s %q: ? is only allowed in the day fields", f.name, item)
		}
	default:
		a, b, isRange := strings.Cut(rng, "-")
		var err error
		if lo, err = f.value(a); err != nil {
			return 0, err
		}
		switch {
		case isRange:
			if hi, err = f.value(b); err != nil {
				return 0, err
			}
			if hi < lo {
				return 0, fmt.Errorf("%s %q: range ends before it starts", f.name, item)
			}
		case !hasStep:
			hi = lo
		}
		// "a/n" runs from a to the field's end, as in Vixie cron.
	}
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepText)
		if err != nil || n < 1 || n > f.max {
			return 0, fmt.Errorf("%s %q: step must be a number from 1 to %d", f.name, item, f.max)
		}
		step = n
	}
	var bits uint64
	for v := lo; v <= hi; v += step {
		bits |= 1 << uint(v)
	}
	return bits, nil
}

// value reads a number or a name within the field's range.
func (f cronField) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("%s %q: not a number", f.name, s)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%s %d: out of range %d-%d", f.name, v, f.min, f.max)
	}
	return v, nil
}

// possible reports whether some selected month has a selected day. Only
// the day of month can rule a date out for good: every weekday occurs in
// every month.
func (c *Cron) possible() bool {
	if c.domStar || !c.dowStar {
		return true
	}
	maxDays := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if c.month&(1<<uint(m)) == 0 {
			continue
		}
		for d := 1; d <= maxDays[m]; d++ {
			if c.dom&(1<<uint(d)) != 0 {
				return true
			}
		}
	}
	return false
}

// dayMatches reports whether t's date is selected.
func (c *Cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Matches reports whether the schedule fires in t's minute, in t's
// location.
func (c *Cron) Matches(t time.Time) bool {
	return c.month&(1<<uint(t.Month())) != 0 && c.dayMatches(t) &&
		c.hour&(1<<uint(t.Hour())) != 0 && c.minute&(1<<uint(t.Minute())) != 0
}

// Next returns the first time after t that the schedule fires, a whole
// minute in t's location (convert t with In to use another zone). Across a
// daylight-saving change, a skipped wall-clock time does not fire and a
// repeated one fires once. Every schedule ParseCron accepts fires again
// within a century (a date such as Monday the 1st of February can take
// decades to come back); Next returns the zero time past that.
func (c *Cron) Next(t time.Time) time.Time {
	loc := t.Location()
	t = t.Truncate(time.Minute).Add(time.Minute)
	yearLimit := t.Year() + 100
	for t.Year() <= yearLimit {
		if c.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
			continue
		}
		if c.hour&(1<<uint(t.Hour())) == 0 {
			next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			if !next.After(t) { // a repeated hour at the end of summer time
				next = t.Truncate(time.Hour).Add(time.Hour)
			}
			t = next
			continue
		}
		if c.minute&(1<<uint(t.Minute())) == 0 {
			next := t.Add(time.Minute)
			if next.Minute() == 0 {
				// Into the next hour by the wall clock, which skips the
				// repeat of an hour at the end of summer time.
				next = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
				if !next.After(t) {
					next = t.Add(time.Minute)
				}
			}
			t = next
			continue
		}
		return t
	}
	return time.Time{}
}
