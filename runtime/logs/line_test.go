package logs

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestParseLine(t *testing.T) {
	ts := time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC)
	tests := []struct {
		in      string
		want    Line
		wantErr bool
	}{
		{in: "2026-01-02T15:04:05.123456789Z stdout F hello world\n", want: Line{Time: ts, Stream: Stdout, Content: []byte("hello world")}},
		{in: "2026-01-02T15:04:05.123456789Z stderr P  two  spaces ", want: Line{Time: ts, Stream: Stderr, Partial: true, Content: []byte(" two  spaces ")}},
		{in: "2026-01-02T15:04:05.123456789Z stdout F ", want: Line{Time: ts, Stream: Stdout, Content: []byte{}}},
		{in: "2026-01-02T15:04:05.123456789Z stdout F", want: Line{Time: ts, Stream: Stdout}},
		{in: "2026-01-02T16:04:05.123456789+01:00 stdout F x", want: Line{Time: ts, Stream: Stdout, Content: []byte("x")}},
		{in: "", wantErr: true},
		{in: "hello world", wantErr: true},
		{in: "2026-01-02T15:04:05Z", wantErr: true},
		{in: "2026-01-02T15:04:05Z stdin F x", wantErr: true},
		{in: "2026-01-02T15:04:05Z stdout", wantErr: true},
		{in: "2026-01-02T15:04:05Z stdout X x", wantErr: true},
		{in: "2026-01-02T15:04:05Z stdout FF x", wantErr: true},
		{in: "2026-01-02T15:04:05Z stdout F a\nb", wantErr: true},
		{in: "yesterday stdout F x", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseLine([]byte(tt.in))
		if tt.wantErr {
			if err == nil || !errors.Is(err, errdefs.ErrBadRequest) {
				t.Errorf("ParseLine(%q) error = %v, want a bad request", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseLine(%q): %v", tt.in, err)
			continue
		}
		if !got.Time.Equal(tt.want.Time) || got.Stream != tt.want.Stream || got.Partial != tt.want.Partial || !bytes.Equal(got.Content, tt.want.Content) {
			t.Errorf("ParseLine(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestAppendLine(t *testing.T) {
	l := Line{Time: time.Date(2026, 1, 2, 15, 4, 5, 0, time.FixedZone("x", 3600)), Stream: Stderr, Partial: true, Content: []byte("abc")}
	got := string(AppendLine(nil, l))
	want := "2026-01-02T14:04:05Z stderr P abc\n"
	if got != want {
		t.Errorf("AppendLine = %q, want %q", got, want)
	}
}

// FuzzParseLine checks that ParseLine never panics, and that what it
// accepts it writes back to a record that parses to the same line.
func FuzzParseLine(f *testing.F) {
	// More seeds, the odd ones found so far, are in testdata/fuzz/FuzzParseLine.
	f.Add([]byte("2026-01-02T15:04:05.123456789Z stdout F hello world\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLine(b)
		if err != nil {
			return
		}
		again, err := ParseLine(AppendLine(nil, l))
		if err != nil {
			t.Fatalf("ParseLine(AppendLine(ParseLine(%q))): %v", b, err)
		}
		if !again.Time.Equal(l.Time) || again.Stream != l.Stream || again.Partial != l.Partial || !bytes.Equal(again.Content, l.Content) {
			t.Fatalf("round trip of %q: got %+v, want %+v", b, again, l)
		}
	})
}
