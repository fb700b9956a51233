package logs

import (
	"bytes"
	"fmt"
	"os"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// stream is one of a Writer's two inputs. Its state is guarded by the
// Writer's mutex.
type stream struct {
	w       *Writer
	name    string
	pending []byte // the start of a line whose newline has not come yet
}

// Write records every complete line of p and keeps the rest for the next
// Write. On an error the records of this call are lost, the Writer stays
// usable, and 0 is returned.
func (s *stream) Write(p []byte) (int, error) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("log writer %s: %s: %w", w.path, s.name, os.ErrClosed)
	}
	w.stamp()
	if err := s.split(p); err != nil {
		w.buf = w.buf[:0]
		return 0, err
	}
	if err := w.flush(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// split turns p into records, cutting lines longer than MaxLineSize.
func (s *stream) split(p []byte) error {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// No newline: keep up to MaxLineSize bytes; beyond that the
			// line goes out in full pieces.
			for len(s.pending)+len(p) > MaxLineSize {
				room := MaxLineSize - len(s.pending)
				s.pending = append(s.pending, p[:room]...)
				p = p[room:]
				err := s.w.add(s.name, true, s.pending)
				s.pending = s.pending[:0]
				if err != nil {
					return err
				}
			}
			s.pending = append(s.pending, p...)
			return nil
		}
		line := p[:i]
		if len(s.pending) > 0 {
			s.pending = append(s.pending, line...)
			line = s.pending
		}
		err := s.line(line)
		s.pending = s.pending[:0]
		if err != nil {
			return err
		}
		p = p[i+1:]
	}
	return nil
}

// line records one whole line as P pieces and a last F piece.
func (s *stream) line(b []byte) error {
	for len(b) > MaxLineSize {
		if err := s.w.add(s.name, true, b[:MaxLineSize]); err != nil {
			return err
		}
		b = b[MaxLineSize:]
	}
	return s.w.add(s.name, false, b)
}

// badStream is what Stream returns for a name that is not a stream.
type badStream string

func (b badStream) Write([]byte) (int, error) {
	return 0, fmt.Errorf("log stream %q: want %q or %q: %w", string(b), Stdout, Stderr, errdefs.ErrInvalid)
}
