package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// queryLog holds entries spread over several files: q-0 … q-29, one per
// minute, by alice and bob in turn; every third refused; the multiples of
// five in namespace kube-system.
func queryLog(t *testing.T) *Log {
	t.Helper()
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{MaxFileBytes: 1500, MaxFiles: 50, FlushEvery: time.Hour})
	for i := range 30 {
		e := Entry{Time: t0.Add(time.Duration(i) * time.Minute), User: "alice", Address: "10.0.0.1",
			Method: "GET", Path: "/api/v1/pods", Verb: "get", Resource: "pods", Namespace: "shop",
			Name: fmt.Sprintf("q-%d", i), Code: 200, Allowed: true}
		if i%2 == 1 {
			e.User, e.Verb, e.Method = "bob", "delete", "DELETE"
		}
		if i%3 == 0 {
			e.Allowed, e.Code, e.Reason = false, 403, `may not get pods in "shop"`
		}
		if i%5 == 0 {
			e.Namespace = "kube-system"
		}
		l.Record(e)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "audit.log*"))
	if len(files) < 4 {
		t.Fatalf("the test log is in %d files, want several", len(files))
	}
	return l
}

func TestQuery(t *testing.T) {
	l := queryLog(t)
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"newest 3, newest last", Filter{Limit: 3}, "q-27 q-28 q-29"},
		{"all across files", Filter{}, "q-0 q-1 q-2 q-3 q-4 q-5 q-6 q-7 q-8 q-9 q-10 q-11 q-12 q-13 q-14 q-15 q-16 q-17 q-18 q-19 q-20 q-21 q-22 q-23 q-24 q-25 q-26 q-27 q-28 q-29"},
		{"user", Filter{User: "bob", Limit: 4}, "q-23 q-25 q-27 q-29"},
		{"verb", Filter{Verb: "get", Limit: 2}, "q-26 q-28"},
		{"resource", Filter{Resource: "pods", Limit: 1}, "q-29"},
		{"no such resource", Filter{Resource: "secrets"}, ""},
		{"namespace", Filter{Namespace: "kube-system"}, "q-0 q-5 q-10 q-15 q-20 q-25"},
		{"name", Filter{Name: "q-7"}, "q-7"},
		{"denied", Filter{Denied: true, Limit: 3}, "q-21 q-24 q-27"},
		{"denied by alice in kube-system", Filter{Denied: true, User: "alice", Namespace: "kube-system"}, "q-0"},
		{"since", Filter{Since: t0.Add(27 * time.Minute)}, "q-27 q-28 q-29"},
		{"until", Filter{Until: t0.Add(2 * time.Minute)}, "q-0 q-1 q-2"},
		{"since and until inclusive", Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(12 * time.Minute)}, "q-10 q-11 q-12"},
		{"since in the future", Filter{Since: t0.Add(time.Hour)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Query(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tc.want {
				t.Errorf("got  %q\nwant %q", names(got), tc.want)
			}
		})
	}
}

func TestQueryDefaultAndMaxLimit(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{FlushEvery: time.Hour})
	for i := range 150 {
		l.Record(entry(i))
	}
	got, err := l.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != DefaultLimit || got[0].Name != "e-50" || got[99].Name != "e-149" {
		t.Errorf("default query: %d entries from %s to %s, want %d from e-50 to e-149", len(got), got[0].Name, got[len(got)-1].Name, DefaultLimit)
	}
	if f := (Filter{Limit: MaxLimit + 1}); f.limit() != MaxLimit {
		t.Errorf("limit %d clamps to %d, want %d", f.Limit, f.limit(), MaxLimit)
	}
}

// The pre-decoding needles must never hide a matching entry, whatever
// its strings hold.
func TestQueryOddStrings(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{FlushEvery: time.Hour})
	odd := []string{`a"b`, `<script>&`, `back\slash`, "tab\there", "ünï©ødé", "line\nbreak", `"user":"x",`, "\u2028"}
	for i, s := range odd {
		l.Record(Entry{Time: t0.Add(time.Duration(i)), User: s, Verb: s, Resource: s, Namespace: s, Name: s, Reason: `"user":"alice",`, Code: 200, Allowed: true})
	}
	l.Record(Entry{Time: t0.Add(time.Hour), User: "carol", Name: "x", Reason: `decoy "user":"alice","verb":"get",`, Code: 403})
	for _, s := range odd {
		got, err := l.Query(context.Background(), Filter{User: s, Verb: s, Resource: s, Namespace: s, Name: s})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].User != s {
			t.Errorf("query for %q found %d entries, want it", s, len(got))
		}
	}
	if got, _ := l.Query(context.Background(), Filter{User: "alice"}); len(got) != 0 {
		t.Errorf("user alice matched %d entries that only mention her in a reason", len(got))
	}
}

func TestQuerySkipsFilesOlderThanSince(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{MaxFileBytes: 600, MaxFiles: 10, FlushEvery: time.Hour})
	for i := range 10 {
		l.Record(entry(i))
	}
	l.Flush()
	// Make the rotated files look written an hour before the entries; a
	// query since then must not read them (a sound skip: every entry in
	// a file was recorded before its last write).
	old := t0.Add(-time.Hour)
	rotated, _ := filepath.Glob(filepath.Join(dir, "audit.log.*"))
	if len(rotated) == 0 {
		t.Fatal("nothing rotated")
	}
	for _, p := range rotated {
		os.Chtimes(p, old, old)
	}
	got, err := l.Query(context.Background(), Filter{Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	cur := readLines(t, filepath.Join(dir, "audit.log"))
	if names(got) != names(cur) {
		t.Errorf("since: %q, want only the current file's %q", names(got), names(cur))
	}
}

func TestQueryCancelled(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{FlushEvery: time.Hour})
	for i := range 3000 {
		l.Record(entry(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Query(ctx, Filter{User: "nobody"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled query = %v, want context.Canceled", err)
	}
}

// backAll reads every line backLines gives, in file order.
func backAll(data []byte) ([]string, error) {
	b := newBackLines(bytes.NewReader(data), int64(len(data)))
	var out []string
	for {
		line, err := b.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append([]string{string(line)}, out...)
	}
	return out, nil
}

func TestBackLines(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	chunky := strings.Repeat("y", backChunk-1)
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"empty", "", []string{""}},
		{"one", "a\n", []string{"a", ""}},
		{"torn last", "a\nb\nc", []string{"a", "b", "c"}},
		{"blank lines", "\n\na\n", []string{"", "", "a", ""}},
		{"across chunks", chunky + "\n" + chunky + "z\nw\n", []string{chunky, chunky + "z", "w", ""}},
		{"too long skipped", "a\n" + long + "\nb\n", []string{"a", "b", ""}},
		{"too long first", long + "\nb\n", []string{"b", ""}},
		{"too long last", "a\n" + long, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := backAll([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(short(got)) != fmt.Sprint(short(tc.want)) {
				t.Errorf("got %q, want %q", short(got), short(tc.want))
			}
		})
	}
}

func short(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		if len(l) > 20 {
			l = fmt.Sprintf("%s…(%d bytes)", l[:10], len(l))
		}
		out[i] = l
	}
	return out
}

// FuzzBackLines checks backLines against splitting the whole file.
func FuzzBackLines(f *testing.F) {
	f.Add([]byte("a\nb\n"), uint16(3))
	f.Add([]byte("\n\n\nabc"), uint16(1))
	f.Add([]byte(`{"time":"2026-11-22T12:00:00Z","user":"a"}`+"\n"+`{"ti`), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, rep uint16) {
		// Repeat to cross chunk boundaries now and then.
		data = bytes.Repeat(data, int(rep%200)+1)
		got, err := backAll(data)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Split(string(data), "\n")
		for _, l := range want {
			if len(l) > maxLine {
				t.Skip("a line over maxLine is skipped, tested in TestBackLines")
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("backLines gave %d lines, splitting gives %d", len(got), len(want))
		}
	})
}
