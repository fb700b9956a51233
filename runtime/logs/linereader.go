package logs

import (
	"bytes"
	"context"
	"io"
	"os"
)

// lineReader splits a file into lines as it grows, keeping an unfinished
// last line until its newline is written.
type lineReader struct {
	f      *os.File
	buf    []byte
	frag   []byte // an unfinished line
	offset int64  // bytes read from f
}

func newLineReader(f *os.File) *lineReader {
	return &lineReader{f: f, buf: make([]byte, 64<<10)}
}

// drain calls fn with each complete line (without its newline) up to the
// end of the file as it stands. fn must not keep the slice.
func (r *lineReader) drain(ctx context.Context, fn func([]byte)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.f.Read(r.buf)
		r.offset += int64(n)
		r.split(r.buf[:n], fn)
		if err == io.EOF || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *lineReader) split(data []byte, fn func([]byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			r.frag = append(r.frag, data...)
			if len(r.frag) >= maxRaw {
				fn(r.frag)
				r.frag = r.frag[:0]
			}
			return
		}
		if len(r.frag) > 0 {
			r.frag = append(r.frag, data[:i]...)
			fn(r.frag)
			r.frag = r.frag[:0]
		} else {
			fn(data[:i])
		}
		data = data[i+1:]
	}
}

// end hands over the unfinished last line, if any, as a line.
func (r *lineReader) end(fn func([]byte)) {
	if len(r.frag) > 0 {
		fn(r.frag)
		r.frag = r.frag[:0]
	}
}

// reset forgets what was read, for a file that was truncated.
func (r *lineReader) reset() error {
	r.frag = r.frag[:0]
	r.offset = 0
	_, err := r.f.Seek(0, io.SeekStart)
	return err
}
