package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestWriterFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "0.log")
	w := newTestWriter(t, path, Options{})
	write(t, w, Stdout, "hello\nworld\n")
	write(t, w, Stderr, "oops\n")
	write(t, w, Stdout, "\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-01-02T15:04:06Z stdout F hello\n" +
		"2026-01-02T15:04:06Z stdout F world\n" +
		"2026-01-02T15:04:07Z stderr F oops\n" +
		"2026-01-02T15:04:08Z stdout F \n"
	if string(got) != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path, Options{})
	write(t, w, Stdout, "one\n")
	write(t, w, Stderr, "two\n")
	write(t, w, Stdout, "three\n")
	w.Close()
	tests := []struct {
		opts ReadOptions
		want string
	}{
		{ReadOptions{Tail: -1}, "one\ntwo\nthree\n"},
		{ReadOptions{Tail: -1, Timestamps: true}, "2026-01-02T15:04:06Z one\n2026-01-02T15:04:07Z two\n2026-01-02T15:04:08Z three\n"},
		{ReadOptions{Tail: 2}, "two\nthree\n"},
		{ReadOptions{Tail: 0}, ""},
		{ReadOptions{Tail: 10}, "one\ntwo\nthree\n"},
	}
	for _, tt := range tests {
		if got := readAll(t, path, tt.opts); got != tt.want {
			t.Errorf("Read(%+v) = %q, want %q", tt.opts, got, tt.want)
		}
	}
}

func TestAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path, Options{})
	write(t, w, Stdout, "first run\n")
	w.Close()
	w = newTestWriter(t, path, Options{})
	write(t, w, Stdout, "second run\n")
	w.Close()
	if got, want := readAll(t, path, ReadOptions{Tail: -1}), "first run\nsecond run\n"; got != want {
		t.Errorf("Read = %q, want %q", got, want)
	}
}

func TestPartialLines(t *testing.T) {
	long := strings.Repeat("x", 2*MaxLineSize+100)
	exact := strings.Repeat("y", MaxLineSize)
	type rec struct {
		partial bool
		size    int
	}
	tests := []struct {
		name    string
		writes  []string
		want    []rec
		wantOut string
	}{
		{"long line", []string{long + "\n"}, []rec{{true, MaxLineSize}, {true, MaxLineSize}, {false, 100}}, long + "\n"},
		{"long line in small writes", chunks(long+"\n", 1000), []rec{{true, MaxLineSize}, {true, MaxLineSize}, {false, 100}}, long + "\n"},
		{"exactly the limit", []string{exact, "\n"}, []rec{{false, MaxLineSize}}, exact + "\n"},
		{"limit plus one", []string{exact + "z\n"}, []rec{{true, MaxLineSize}, {false, 1}}, exact + "z\n"},
		{"line split across writes", []string{"ab", "c", "d\ne"}, []rec{{false, 4}, {false, 1}}, "abcd\ne\n"},
		{"no trailing newline", []string{"last words"}, []rec{{false, 10}}, "last words\n"},
		{"long without newline", []string{long}, []rec{{true, MaxLineSize}, {true, MaxLineSize}, {false, 100}}, long + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			w := newTestWriter(t, path, Options{})
			for _, s := range tt.writes {
				write(t, w, Stdout, s)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var got []rec
			for _, l := range records(t, path) {
				got = append(got, rec{l.Partial, len(l.Content)})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("records (partial, size) = %v, want %v", got, tt.want)
			}
			if out := readAll(t, path, ReadOptions{Tail: -1}); out != tt.wantOut {
				t.Errorf("Read gave %d bytes, want %d", len(out), len(tt.wantOut))
			}
		})
	}
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// TestConcurrentStreams writes both streams from two goroutines in odd
// pieces, long lines among them, and checks each stream reads back whole
// and in order.
func TestConcurrentStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path, Options{MaxSize: 1 << 30})
	const lines = 600
	want := map[string]string{}
	var wg sync.WaitGroup
	for _, s := range []string{Stdout, Stderr} {
		var b strings.Builder
		for i := range lines {
			fmt.Fprintf(&b, "%s line %d %s\n", s, i, strings.Repeat(".", i*37%(MaxLineSize+500)))
		}
		want[s] = b.String()
		wg.Add(1)
		go func(all string) {
			defer wg.Done()
			for i := 0; len(all) > 0; i++ {
				n := min(len(all), 1+i*7919%4096)
				if _, err := w.Stream(s).Write([]byte(all[:n])); err != nil {
					t.Error(err)
					return
				}
				all = all[n:]
			}
		}(want[s])
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{Stdout, Stderr} {
		if got := readAll(t, path, ReadOptions{Tail: -1, Stream: s}); got != want[s] {
			t.Errorf("%s read back %d bytes, want %d", s, len(got), len(want[s]))
		}
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	const maxSize = 300
	w := newTestWriter(t, path, Options{MaxSize: maxSize, MaxFiles: 2})
	var all []string
	for i := range 100 {
		line := fmt.Sprintf("line %03d", i)
		all = append(all, line)
		write(t, w, Stdout, line+"\n")
	}
	w.Close()

	names, _ := filepath.Glob(path + "*")
	if got, want := fmt.Sprint(names), fmt.Sprint([]string{path, path + ".1", path + ".2"}); got != want {
		t.Fatalf("files %v, want %v", got, want)
	}
	for _, name := range names {
		fi, _ := os.Stat(name)
		if fi.Size() > maxSize {
			t.Errorf("%s has %d bytes, more than MaxSize %d", name, fi.Size(), maxSize)
		}
	}
	live := len(records(t, path))
	kept := live + len(records(t, path+".1")) + len(records(t, path+".2"))
	if got, want := readAll(t, path, ReadOptions{Tail: -1}), strings.Join(all[len(all)-kept:], "\n")+"\n"; got != want {
		t.Errorf("Read all = %q, want %q", got, want)
	}
	// A tail that starts in path.1 and ends in path.
	tail := live + 3
	if got, want := readAll(t, path, ReadOptions{Tail: tail}), strings.Join(all[len(all)-tail:], "\n")+"\n"; got != want {
		t.Errorf("Read tail %d = %q, want %q", tail, got, want)
	}
}

// TestRotationKeepsPartialRecordsTogether checks that a long line cut
// across a rotation still reads back whole.
func TestRotationKeepsPartialRecordsTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path, Options{MaxSize: MaxLineSize + 100, MaxFiles: 3})
	long := strings.Repeat("z", 3*MaxLineSize)
	write(t, w, Stderr, "before\n"+long+"\nafter\n")
	w.Close()
	if got, want := readAll(t, path, ReadOptions{Tail: -1}), "before\n"+long+"\nafter\n"; got != want {
		t.Errorf("Read gave %d bytes, want %d", len(got), len(want))
	}
}

func TestWriterErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w := newTestWriter(t, path, Options{})
	if _, err := w.Stream("stdin").Write([]byte("x\n")); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("write to stdin: %v, want invalid", err)
	}
	w.Close()
	if _, err := w.Stream(Stdout).Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after close: %v, want closed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := NewWriter(path, Options{MaxSize: -1}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("negative MaxSize: %v, want invalid", err)
	}
	if _, err := NewWriter("", Options{}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("empty path: %v, want invalid", err)
	}
}
