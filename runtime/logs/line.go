package logs

import (
	"bytes"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The stream names a record may carry.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// MaxLineSize is the most content one record holds; a longer line of
// output is cut into partial records. It is kubelet's limit.
const MaxLineSize = 16 * 1024

const (
	tagFull    = 'F'
	tagPartial = 'P'
)

// Line is one record of a log file.
type Line struct {
	Time    time.Time
	Stream  string // Stdout or Stderr
	Partial bool   // the output line goes on in the next record of Stream
	Content []byte // without the newline
}

// ParseLine decodes one record, with or without its trailing newline.
// Content aliases b. Errors are of class errdefs.ErrBadRequest.
func ParseLine(b []byte) (Line, error) {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	ts, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return Line{}, badLine(b, "no stream after the time")
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Line{}, badLine(b, "time is not RFC3339")
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return Line{}, badLine(b, "time is out of range in UTC")
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return Line{}, badLine(b, "no tag after the stream")
	}
	var l Line
	switch string(stream) {
	case Stdout:
		l.Stream = Stdout
	case Stderr:
		l.Stream = Stderr
	default:
		return Line{}, badLine(b, "stream is not stdout or stderr")
	}
	// The tag is followed by a space and the content; an empty content
	// may have lost its space, so "... stdout F" is read as empty.
	if len(rest) == 0 || (len(rest) > 1 && rest[1] != ' ') {
		return Line{}, badLine(b, "tag is not F or P")
	}
	switch rest[0] {
	case tagFull:
	case tagPartial:
		l.Partial = true
	default:
		return Line{}, badLine(b, "tag is not F or P")
	}
	if len(rest) > 1 {
		l.Content = rest[2:]
	}
	if bytes.IndexByte(l.Content, '\n') >= 0 {
		return Line{}, badLine(b, "newline inside the content")
	}
	l.Time = t
	return l, nil
}

func badLine(b []byte, why string) error {
	const show = 64
	if len(b) > show {
		b = b[:show]
	}
	return fmt.Errorf("log line %q: %s: %w", b, why, errdefs.ErrBadRequest)
}

// appendRecord appends one record to dst: ts is the time already
// formatted as RFC3339Nano, so that a batch of lines formats it once.
func appendRecord(dst, ts []byte, stream string, partial bool, content []byte) []byte {
	dst = append(dst, ts...)
	dst = append(dst, ' ')
	dst = append(dst, stream...)
	if partial {
		dst = append(dst, ' ', tagPartial, ' ')
	} else {
		dst = append(dst, ' ', tagFull, ' ')
	}
	dst = append(dst, content...)
	return append(dst, '\n')
}

// AppendLine appends l as one record, the inverse of ParseLine. l.Content
// must not hold a newline.
func AppendLine(dst []byte, l Line) []byte {
	var ts [len(time.RFC3339Nano) + 8]byte
	return appendRecord(dst, l.Time.UTC().AppendFormat(ts[:0], time.RFC3339Nano), l.Stream, l.Partial, l.Content)
}
