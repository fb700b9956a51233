package logs

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// sampleLog is a log file as another writer (kubelet, a crash mid-line,
// a hand edit) could leave it. A line joined from parts ("two") comes out
// when its last part is read, but with the time of its first.
const sampleLog = "2026-01-02T15:04:01Z stdout F one\n" +
	"2026-01-02T15:04:02Z stderr P tw\n" +
	"2026-01-02T15:04:03Z stdout F three\n" +
	"2026-01-02T15:04:04Z stderr F o\n" +
	"not a record at all\n" +
	"2026-01-02T15:04:05Z stdout F five\n" +
	"2026-01-02T15:04:06Z stdout X bad tag\n" +
	"2026-01-02T15:04:07Z stderr F seven\n" +
	"2026-01-02T15:04:08Z stdout P unfinished"

func TestReadFilters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	writeTestFile(t, path, sampleLog)
	at := func(sec int) time.Time { return time.Date(2026, 1, 2, 15, 4, sec, 0, time.UTC) }
	tests := []struct {
		name string
		opts ReadOptions
		want string
	}{
		{"all", ReadOptions{Tail: -1},
			"one\nthree\ntwo\nnot a record at all\nfive\n2026-01-02T15:04:06Z stdout X bad tag\nseven\nunfinished\n"},
		{"stdout", ReadOptions{Tail: -1, Stream: Stdout},
			"one\nthree\nnot a record at all\nfive\n2026-01-02T15:04:06Z stdout X bad tag\nunfinished\n"},
		{"stderr", ReadOptions{Tail: -1, Stream: Stderr},
			"two\nnot a record at all\n2026-01-02T15:04:06Z stdout X bad tag\nseven\n"},
		{"since", ReadOptions{Tail: -1, Since: at(3)},
			"three\nnot a record at all\nfive\n2026-01-02T15:04:06Z stdout X bad tag\nseven\nunfinished\n"},
		{"since keeps a joined line by its first part", ReadOptions{Tail: -1, Since: at(2), Stream: Stderr},
			"two\nnot a record at all\n2026-01-02T15:04:06Z stdout X bad tag\nseven\n"},
		{"since skips malformed lines before a line passes it", ReadOptions{Tail: -1, Since: at(6)},
			"seven\nunfinished\n"},
		{"since after everything", ReadOptions{Tail: -1, Since: at(30)}, ""},
		{"tail", ReadOptions{Tail: 3}, "2026-01-02T15:04:06Z stdout X bad tag\nseven\nunfinished\n"},
		{"timestamps", ReadOptions{Tail: -1, Timestamps: true, Stream: Stderr},
			"2026-01-02T15:04:02Z two\nnot a record at all\n2026-01-02T15:04:06Z stdout X bad tag\n2026-01-02T15:04:07Z seven\n"},
		{"tail with timestamps", ReadOptions{Tail: 2, Timestamps: true, Stream: Stdout},
			"2026-01-02T15:04:06Z stdout X bad tag\n2026-01-02T15:04:08Z unfinished\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readAll(t, path, tt.opts); got != tt.want {
				t.Errorf("Read(%+v) =\n%q\nwant\n%q", tt.opts, got, tt.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	err := Read(context.Background(), filepath.Join(dir, "none.log"), ReadOptions{Tail: -1}, &out)
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing log: %v, want not found", err)
	}
	path := filepath.Join(dir, "0.log")
	writeTestFile(t, path, "")
	err = Read(context.Background(), path, ReadOptions{Stream: "stdin"}, &out)
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("stream stdin: %v, want invalid", err)
	}
}

// TestReadOnlyRotated reads a log whose live file is gone, as between
// the writer's rename and its new file.
func TestReadOnlyRotated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	writeTestFile(t, path+".2", "2026-01-02T15:04:01Z stdout F old\n")
	writeTestFile(t, path+".1", "2026-01-02T15:04:02Z stdout F newer\n")
	if got, want := readAll(t, path, ReadOptions{Tail: -1}), "old\nnewer\n"; got != want {
		t.Errorf("Read = %q, want %q", got, want)
	}
}

// TestReadLongRawLine reads a file with a run of bytes longer than Read
// keeps without a newline; it comes out raw, in pieces, all of it.
func TestReadLongRawLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	junk := bytes.Repeat([]byte("j"), maxRaw+10)
	writeTestFile(t, path, string(junk)+"\n")
	got := readAll(t, path, ReadOptions{Tail: -1})
	if n := bytes.Count([]byte(got), []byte("j")); n != len(junk) {
		t.Errorf("Read gave %d bytes of junk, want %d", n, len(junk))
	}
}
