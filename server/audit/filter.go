package audit

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Limits of Filter.Limit.
const (
	DefaultLimit = 100
	// MaxLimit bounds what one query holds in memory.
	MaxLimit = 10000
)

// Filter selects entries. Empty fields match everything; set ones must
// match exactly.
type Filter struct {
	User, Verb, Resource, Namespace, Name string
	// Since and Until bound Time, both inclusive; zero: unbounded.
	Since, Until time.Time
	// Denied keeps only refused requests (Allowed false).
	Denied bool
	// Limit is how many of the newest matches to return (0: DefaultLimit;
	// at most MaxLimit).
	Limit int
}

// match reports whether e passes f.
func (f *Filter) match(e *Entry) bool {
	switch {
	case f.User != "" && e.User != f.User,
		f.Verb != "" && e.Verb != f.Verb,
		f.Resource != "" && e.Resource != f.Resource,
		f.Namespace != "" && e.Namespace != f.Namespace,
		f.Name != "" && e.Name != f.Name,
		f.Denied && e.Allowed,
		!f.Since.IsZero() && e.Time.Before(f.Since),
		!f.Until.IsZero() && e.Time.After(f.Until):
		return false
	}
	return true
}

func (f *Filter) limit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// filterParams are the query parameters ParseFilter knows.
var filterParams = []string{"user", "verb", "resource", "namespace", "name", "since", "until", "denied", "limit"}

// ParseFilter reads a Filter from query parameters: user, verb, resource,
// namespace, name; since and until, each an RFC 3339 time or a duration
// ago (90s, 1h, 7d); denied=true; limit. An unknown or repeated
// parameter, or a bad value, is an errdefs.ErrBadRequest naming it.
func ParseFilter(q url.Values) (Filter, error) {
	return parseFilter(q, time.Now())
}

func parseFilter(q url.Values, now time.Time) (Filter, error) {
	var f Filter
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := q[k]
		if !slices.Contains(filterParams, k) {
			return Filter{}, fmt.Errorf("unknown parameter %q: the audit log is filtered by %s: %w", k, strings.Join(filterParams, ", "), errdefs.ErrBadRequest)
		}
		if len(vs) != 1 {
			return Filter{}, fmt.Errorf("parameter %q given %d times: give it once: %w", k, len(vs), errdefs.ErrBadRequest)
		}
		v := vs[0]
		var err error
		switch k {
		case "user":
			f.User = v
		case "verb":
			f.Verb = v
		case "resource":
			f.Resource = v
		case "namespace":
			f.Namespace = v
		case "name":
			f.Name = v
		case "since":
			f.Since, err = parseTime(v, now)
		case "until":
			f.Until, err = parseTime(v, now)
		case "denied":
			f.Denied, err = strconv.ParseBool(v)
			if err != nil {
				err = fmt.Errorf("want true or false")
			}
		case "limit":
			f.Limit, err = strconv.Atoi(v)
			if err != nil || f.Limit < 1 || f.Limit > MaxLimit {
				err = fmt.Errorf("want a number of entries from 1 to %d", MaxLimit)
			}
		}
		if err != nil {
			return Filter{}, fmt.Errorf("%s %q: %v: %w", k, v, err, errdefs.ErrBadRequest)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		return Filter{}, fmt.Errorf("since %s is after until %s: nothing can match: %w",
			f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339), errdefs.ErrBadRequest)
	}
	return f, nil
}

// parseTime reads an RFC 3339 time or a duration before now: Go's (90s,
// 1h30m) or whole days (7d).
func parseTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		if err == nil && (n < 0 || n > 100*365) {
			err = fmt.Errorf("out of range")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time (2026-11-22T12:00:00Z) or how long ago (30m, 1h, 7d)")
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("a duration ago may not be negative")
	}
	return now.Add(-d), nil
}

// Values is f as query parameters, the inverse of ParseFilter (times as
// RFC 3339 with nanoseconds).
func (f Filter) Values() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("user", f.User)
	set("verb", f.Verb)
	set("resource", f.Resource)
	set("namespace", f.Namespace)
	set("name", f.Name)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Denied {
		q.Set("denied", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}
