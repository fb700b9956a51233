package audit

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestParseFilter(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		query string
		want  Filter
	}{
		{"", Filter{}},
		{"user=alice&verb=delete&resource=pods&namespace=shop&name=web", Filter{User: "alice", Verb: "delete", Resource: "pods", Namespace: "shop", Name: "web"}},
		{"since=1h", Filter{Since: now.Add(-time.Hour)}},
		{"since=90s&until=30s", Filter{Since: now.Add(-90 * time.Second), Until: now.Add(-30 * time.Second)}},
		{"since=7d", Filter{Since: now.Add(-7 * 24 * time.Hour)}},
		{"since=2026-11-20T08:00:00Z&until=2026-11-21T08:00:00.5%2B01:00", Filter{
			Since: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC),
			Until: time.Date(2026, 11, 21, 7, 0, 0, 5e8, time.UTC)}},
		{"denied=true&limit=20", Filter{Denied: true, Limit: 20}},
		{"denied=false", Filter{}},
	} {
		q, _ := url.ParseQuery(tc.query)
		got, err := parseFilter(q, now)
		if err != nil {
			t.Errorf("%q: %v", tc.query, err)
			continue
		}
		if !got.Since.Equal(tc.want.Since) || !got.Until.Equal(tc.want.Until) {
			t.Errorf("%q: since %v until %v, want %v, %v", tc.query, got.Since, got.Until, tc.want.Since, tc.want.Until)
		}
		got.Since, got.Until, tc.want.Since, tc.want.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.query, got, tc.want)
		}
	}
}

func TestParseFilterRefuses(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{"usr=alice", `unknown parameter "usr": the audit log is filtered by user, verb,`},
		{"user=a&user=b", `parameter "user" given 2 times`},
		{"since=yesterday", `since "yesterday": want an RFC 3339 time`},
		{"since=-1h", `since "-1h": a duration ago may not be negative`},
		{"until=2026-13-01T00:00:00Z", `until "2026-13-01T00:00:00Z": want an RFC 3339 time`},
		{"since=1h&until=2h", "is after until"},
		{"denied=maybe", `denied "maybe": want true or false`},
		{"limit=0", `limit "0": want a number of entries from 1 to 10000`},
		{"limit=10001", `limit "10001"`},
		{"limit=ten", `limit "ten"`},
	} {
		q, _ := url.ParseQuery(tc.query)
		_, err := parseFilter(q, t0)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrBadRequest) {
			t.Errorf("%q: error %v, want a bad request saying %q", tc.query, err, tc.want)
		}
	}
}

func TestFilterValuesRoundTrip(t *testing.T) {
	for _, f := range []Filter{
		{},
		{User: "alice", Verb: "get", Resource: "secrets", Namespace: "shop", Name: "db", Denied: true, Limit: 7},
		{Since: t0.Add(123456789), Until: t0.Add(time.Hour)},
	} {
		got, err := ParseFilter(f.Values())
		if err != nil {
			t.Errorf("%+v: %v", f, err)
			continue
		}
		if !got.Since.Equal(f.Since) || !got.Until.Equal(f.Until) {
			t.Errorf("%+v: times came back as %v, %v", f, got.Since, got.Until)
		}
		got.Since, got.Until, f.Since, f.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip: got %+v, want %+v", got, f)
		}
	}
}

// FuzzParseFilter: whatever the query, ParseFilter answers a filter or a
// bad request, and a filter it accepts survives Values.
func FuzzParseFilter(f *testing.F) {
	f.Add("user=alice&since=1h&denied=true&limit=5")
	f.Add("since=2026-11-20T08:00:00Z&until=7d")
	f.Add("limit=-1&x=y")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := parseFilter(q, t0)
		if err != nil {
			if !errors.Is(err, errdefs.ErrBadRequest) {
				t.Fatalf("%q: error %v is not a bad request", raw, err)
			}
			return
		}
		again, err := parseFilter(got.Values(), t0)
		if err != nil {
			t.Fatalf("%q: Values %v refused: %v", raw, got.Values(), err)
		}
		if !again.Since.Equal(got.Since) || !again.Until.Equal(got.Until) || again.User != got.User || again.Limit != got.Limit {
			t.Fatalf("%q: round trip changed %+v to %+v", raw, got, again)
		}
	})
}
