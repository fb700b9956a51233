package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// entry is a typical entry, told apart by its Name.
func entry(i int) Entry {
	return Entry{Time: t0.Add(time.Duration(i) * time.Second), User: "alice", Groups: []string{"developers"},
		Via: "session", Session: "s-1", Address: "192.168.1.20", Method: "PUT",
		Path: fmt.Sprintf("/api/v1/namespaces/shop/deployments/e-%d", i), Verb: "update", Resource: "deployments",
		Namespace: "shop", Name: fmt.Sprintf("e-%d", i), Code: 200, Allowed: true}
}

func mustOpen(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readLines decodes every line of a file, failing on one it cannot.
func readLines(t *testing.T, path string) []Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Entry
	for line := range bytes.Lines(data) {
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s: line %q: %v", path, line, err)
		}
		out = append(out, e)
	}
	return out
}

func names(es []Entry) string {
	var ns []string
	for _, e := range es {
		n := e.Name
		if e.User == DroppedUser {
			n = "<" + e.Reason + ">"
		}
		ns = append(ns, n)
	}
	return strings.Join(ns, " ")
}

func TestOpenMakesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, dir, Options{})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	fi, err = os.Stat(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %o, want 600", got)
	}
}

func TestOpenRefusesNegativeOptions(t *testing.T) {
	for _, o := range []Options{{MaxFileBytes: -1}, {MaxFiles: -1}, {FlushEvery: -1}} {
		if _, err := Open(t.TempDir(), o); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("Open(%+v) = %v, want an error about a negative option", o, err)
		}
	}
}

func TestRotationKeepsMaxFiles(t *testing.T) {
	dir := t.TempDir()
	const max, keep, n = 2000, 3, 200
	l := mustOpen(t, dir, Options{MaxFileBytes: max, MaxFiles: keep, FlushEvery: time.Hour})
	for i := range n {
		l.Record(entry(i))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("audit.log.%d", keep+1))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("audit.log.%d: %v, want it removed", keep+1, err)
	}
	// Oldest file first: the names must run on without a gap to the last.
	var all []Entry
	for i := keep; i >= 0; i-- {
		p := filepath.Join(dir, "audit.log")
		if i > 0 {
			p += fmt.Sprintf(".%d", i)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > max {
			t.Errorf("%s is %d bytes, over MaxFileBytes %d", p, fi.Size(), max)
		}
		es := readLines(t, p)
		if i > 0 {
			// A rotated file is full: the next entry did not fit.
			line, _ := json.Marshal(entry(0))
			if fi.Size()+int64(len(line))+1 <= max {
				t.Errorf("%s rotated at %d bytes, with room left for another entry", p, fi.Size())
			}
		}
		all = append(all, es...)
	}
	first := n - len(all)
	if first <= 0 {
		t.Fatalf("kept %d entries of %d: nothing was rotated away", len(all), n)
	}
	for i, e := range all {
		if want := fmt.Sprintf("e-%d", first+i); e.Name != want {
			t.Fatalf("entry %d of the kept files is %s, want %s", i, e.Name, want)
		}
	}
}

func TestOpenRemovesFilesBeyondMaxFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"audit.log.2", "audit.log.3", "audit.log.9", "audit.log.x", "other"} {
		os.WriteFile(filepath.Join(dir, n), []byte("{}\n"), 0o600)
	}
	mustOpen(t, dir, Options{MaxFiles: 2})
	for n, want := range map[string]bool{"audit.log.2": true, "audit.log.3": false, "audit.log.9": false, "audit.log.x": true, "other": true} {
		_, err := os.Stat(filepath.Join(dir, n))
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", n, got, want)
		}
	}
}

func TestCloseFlushes(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		l.Record(entry(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := names(readLines(t, filepath.Join(dir, "audit.log"))); got != "e-0 e-1 e-2 e-3 e-4 e-5 e-6 e-7 e-8 e-9" {
		t.Errorf("after Close the file holds %q", got)
	}
	l.Record(entry(10)) // ignored, no panic
	if err := l.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	// A closed log still answers queries from its files.
	got, err := l.Query(context.Background(), Filter{Name: "e-3"})
	if err != nil || names(got) != "e-3" {
		t.Errorf("Query after Close = %q, %v", names(got), err)
	}
}

func TestFlushEveryWritesInOneBatch(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{FlushEvery: 50 * time.Millisecond})
	for i := range 100 {
		l.Record(entry(i))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
		if bytes.Count(data, []byte("\n")) == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("100 entries not written within 5s without Flush: file has %d lines", bytes.Count(data, []byte("\n")))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// 100 entries of ~300 bytes fit in one batch; allow a second if the
	// timer fired while they were being recorded.
	if w := l.writes.Load(); w > 2 {
		t.Errorf("100 entries took %d writes, want 1 or 2", w)
	}
}

func TestTornLastLine(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l.Record(entry(i))
	}
	l.Close()
	// A process killed mid-write leaves half a line.
	f, _ := os.OpenFile(filepath.Join(dir, "audit.log"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-11-22T12:00:09Z","user":"alice","address":"192.168.1.20","meth`)
	f.Close()

	l = mustOpen(t, dir, Options{})
	got, err := l.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if names(got) != "e-0 e-1 e-2" {
		t.Errorf("query over a torn last line = %q, want e-0 e-1 e-2", names(got))
	}
	// The next entry starts its own line rather than joining the torn one.
	l.Record(entry(3))
	got, err = l.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if names(got) != "e-0 e-1 e-2 e-3" {
		t.Errorf("query after writing past a torn line = %q, want e-0 e-1 e-2 e-3", names(got))
	}
}

func TestConcurrentRecordLosesNothingUncounted(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{FlushEvery: 10 * time.Millisecond})
	const writers, each = 32, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				e := entry(i)
				e.User = fmt.Sprintf("user-%d", g)
				l.Record(e)
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Every entry is in the file, or counted by a "dropped" entry.
	sc := bufio.NewScanner(mustOpenFile(t, filepath.Join(dir, "audit.log")))
	kept, dropped := 0, 0
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		if e.User == DroppedUser {
			var n int
			if _, err := fmt.Sscanf(e.Reason, "dropped %d entries", &n); err != nil {
				t.Fatalf("dropped entry reason %q: %v", e.Reason, err)
			}
			dropped += n
			continue
		}
		kept++
	}
	if kept+dropped != writers*each {
		t.Errorf("kept %d + dropped %d = %d, want %d", kept, dropped, kept+dropped, writers*each)
	}
	t.Logf("kept %d, dropped %d", kept, dropped)
}

func mustOpenFile(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestDroppedEntry(t *testing.T) {
	dir := t.TempDir()
	// A queue of 4, and a writer held in a rotation by the test holding
	// the file-set lock.
	l, err := open(dir, Options{MaxFileBytes: 1, MaxFiles: 20, FlushEvery: time.Hour}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.files.Lock()
	l.Record(entry(0))
	l.Record(entry(1)) // does not fit after e-0: the writer rotates, and waits
	for len(l.q) > 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 2; i < 9; i++ {
		l.Record(entry(i)) // e-2..e-5 queued, e-6..e-8 dropped
	}
	if got := l.dropped.Load(); got != 3 {
		t.Errorf("dropped = %d, want 3", got)
	}
	l.files.Unlock()
	got, err := l.Query(context.Background(), Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if want := "e-0 e-1 e-2 e-3 e-4 e-5 <dropped 3 entries: the audit queue was full or the disk failed>"; names(got) != want {
		t.Errorf("entries = %q\nwant %q", names(got), want)
	}
	// The dropped entry is written once.
	l.Record(entry(9))
	got, _ = l.Query(context.Background(), Filter{User: DroppedUser})
	if len(got) != 1 {
		t.Errorf("%d dropped entries, want 1", len(got))
	}
}

func TestWriteErrorIsCountedAndRecovered(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{FlushEvery: time.Hour})
	l.Record(entry(0))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	// The writer is idle between the Flush and the next Record: break its
	// file under it, as a failing card would.
	l.w.f.Close()
	l.Record(entry(1))
	if err := l.Flush(); err == nil || !strings.Contains(err.Error(), "audit: write") {
		t.Fatalf("Flush over a broken file = %v, want the write error", err)
	}
	l.Record(entry(2))
	if err := l.Flush(); err != nil {
		t.Fatalf("Flush after reopening = %v", err)
	}
	got, err := l.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "e-0 e-2 <dropped 1 entry: the audit queue was full or the disk failed>"; names(got) != want {
		t.Errorf("entries = %q\nwant %q", names(got), want)
	}
}
