package logs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Defaults for Options.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 1
)

// flushAt is how many formatted bytes a single Write gathers before it
// writes them out; below it, one Write call is one write(2).
const flushAt = 64 << 10

// Options tune a Writer. The zero value is usable.
type Options struct {
	// MaxSize rotates the live file before a write would take it past
	// this many bytes; 0 means DefaultMaxSize. A single record larger
	// than MaxSize still goes into one file.
	MaxSize int64
	// MaxFiles is how many rotated files are kept besides the live one;
	// 0 means DefaultMaxFiles.
	MaxFiles int
	// Clock stamps records; nil means time.Now.
	Clock func() time.Time
}

// Writer writes one container run's output to a log file in the CRI
// format, rotating it by size. Its streams may be written from two
// goroutines at once; a Writer serialises them.
type Writer struct {
	path string
	opts Options

	mu     sync.Mutex
	f      *os.File // nil after a failed rotation; reopened on next write
	size   int64    // bytes in the live file
	buf    []byte   // formatted records not yet written
	ts     []byte   // the time of the current Write, formatted
	stdout stream
	stderr stream
	closed bool
}

// NewWriter opens the log file at path for appending, creating it and its
// parent directories if needed.
func NewWriter(path string, opts Options) (*Writer, error) {
	if path == "" {
		return nil, fmt.Errorf("log writer: empty path: %w", errdefs.ErrInvalid)
	}
	if opts.MaxSize < 0 || opts.MaxFiles < 0 {
		return nil, fmt.Errorf("log writer %s: MaxSize %d and MaxFiles %d must not be negative: %w",
			path, opts.MaxSize, opts.MaxFiles, errdefs.ErrInvalid)
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxFiles == 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("log writer %s: %w", path, err)
	}
	w := &Writer{path: path, opts: opts}
	w.stdout = stream{w: w, name: Stdout}
	w.stderr = stream{w: w, name: Stderr}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// Stream returns the writer for one of the container's streams, Stdout or
// Stderr. Writes may carry any part of a line; a line is recorded when its
// newline arrives, or in MaxLineSize pieces as it grows, or at Close.
// Writing to another name fails with errdefs.ErrInvalid.
func (w *Writer) Stream(name string) io.Writer {
	switch name {
	case Stdout:
		return &w.stdout
	case Stderr:
		return &w.stderr
	}
	return badStream(name)
}

// Close records what is left of unfinished lines and closes the file.
// Closing twice does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.stamp()
	var errs []error
	for _, s := range []*stream{&w.stdout, &w.stderr} {
		if len(s.pending) > 0 {
			errs = append(errs, w.add(s.name, false, s.pending))
			s.pending = nil
		}
	}
	errs = append(errs, w.flush())
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("log writer %s: close: %w", w.path, err))
		}
		w.f = nil
	}
	return errors.Join(errs...)
}

// stamp formats the clock's time for the records of one Write.
func (w *Writer) stamp() {
	w.ts = w.opts.Clock().UTC().AppendFormat(w.ts[:0], time.RFC3339Nano)
}

// add formats one record into the batch, rotating first if the record
// would take the live file past MaxSize.
func (w *Writer) add(stream string, partial bool, content []byte) error {
	start := len(w.buf)
	w.buf = appendRecord(w.buf, w.ts, stream, partial, content)
	if before := w.size + int64(start); before > 0 && before+int64(len(w.buf)-start) > w.opts.MaxSize {
		err := w.write(w.buf[:start])
		w.buf = w.buf[:copy(w.buf, w.buf[start:])]
		if err == nil {
			err = w.rotate()
		}
		if err != nil {
			w.buf = w.buf[:0]
			return err
		}
	}
	if len(w.buf) >= flushAt {
		return w.flush()
	}
	return nil
}

// flush writes the batch out.
func (w *Writer) flush() error {
	err := w.write(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *Writer) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("log writer %s: %w", w.path, err)
	}
	return nil
}

// open opens the live file for appending and learns its size.
func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log writer %s: %w", w.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log writer %s: %w", w.path, err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}
