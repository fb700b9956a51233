// Package audit keeps skiff's audit log: one JSON line per request saying
// who did what to which object, when, from where, and whether it was
// allowed. It owns the files under <data-dir>/audit — writing them in
// batches, rotating them by size, reading them back for a query — and the
// read API the API server mounts at /audit/v1/events. It does not decide
// which requests are recorded (the API server does) nor who may read the
// log (the API server authorizes before it calls ServeHTTP).
//
// Skiff runs on SD cards, so the log spares flash writes and bounds what
// it holds:
//
//	Record ──▶ queue (4096 entries; full: count the drop, never block)
//	              │
//	              ▼  one goroutine
//	         encode into a buffer ──▶ one write(2) per FlushEvery (1s),
//	                                  or when the buffer passes 64 KiB
//	              │
//	              ▼
//	   audit.log ──(MaxFileBytes)──▶ audit.log.1 ▶ … ▶ audit.log.N ▶ removed
//
// Disk use is at most (MaxFiles+1) × MaxFileBytes. The files are fsynced
// only when rotated and on Close: a power cut can lose the last seconds
// the kernel had not yet written back, which is the price of not writing
// the card once per request.
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxFileBytes = 10 << 20
	DefaultMaxFiles     = 5
	DefaultFlushEvery   = time.Second
)

const (
	// queueLen bounds the entries waiting for the writer.
	queueLen = 4096
	// bufLimit is the batch size that is written without waiting for
	// FlushEvery.
	bufLimit = 64 << 10
	// fileName is the current file; rotated ones get .1 … .N.
	fileName = "audit.log"
)

// ErrClosed is returned by Flush on a closed log.
var ErrClosed = errors.New("audit log closed")

// Options tune a Log. The zero value is the defaults.
type Options struct {
	// MaxFileBytes is the size at which audit.log is rotated (default
	// 10 MiB). A file is never longer, unless one entry alone is.
	MaxFileBytes int64
	// MaxFiles is how many rotated files are kept (default 5); the oldest
	// is removed.
	MaxFiles int
	// FlushEvery is how long an entry may wait in memory before it is
	// written (default 1s).
	FlushEvery time.Duration
	// Logger receives write errors (nil: slog.Default()).
	Logger *slog.Logger
}

func (o *Options) fill() error {
	switch {
	case o.MaxFileBytes < 0:
		return fmt.Errorf("audit: MaxFileBytes %d: may not be negative (0: %d)", o.MaxFileBytes, DefaultMaxFileBytes)
	case o.MaxFiles < 0:
		return fmt.Errorf("audit: MaxFiles %d: may not be negative (0: %d)", o.MaxFiles, DefaultMaxFiles)
	case o.FlushEvery < 0:
		return fmt.Errorf("audit: FlushEvery %s: may not be negative (0: %s)", o.FlushEvery, DefaultFlushEvery)
	}
	if o.MaxFileBytes == 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.FlushEvery == 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("component", "audit")
	return nil
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	dir  string
	opts Options

	q        chan Entry
	flushReq chan chan error
	stop     chan struct{}
	done     chan struct{}
	closed   atomic.Bool
	dropped  atomic.Int64
	once     sync.Once
	closeErr error

	// files is held while the file set changes (rotation) and while a
	// query opens it, so that a query never sees a file twice.
	files sync.Mutex

	// Owned by the writer goroutine.
	w writer

	// Figures for tests and benchmarks.
	writes  atomic.Int64
	written atomic.Int64
}

// writer is the state of the goroutine that writes the files.
type writer struct {
	f    *os.File
	size int64
	// torn: the file may end inside a line (a failed write, a killed
	// process); the next write starts a new line first.
	torn bool
	buf  bytes.Buffer
	// pending counts the entries in buf, to count them as dropped if the
	// write fails.
	pending int
	enc     *json.Encoder
	line    []byte
	failing bool
	timer   *time.Timer
	timerC  <-chan time.Time
}

// Open opens (creating) the audit log in dir, which it makes private
// (0700), and starts its writer. Close it to write what is buffered.
func Open(dir string, opts Options) (*Log, error) {
	return open(dir, opts, queueLen)
}

// open is Open with the queue's length (tests make it short).
func open(dir string, opts Options, queue int) (*Log, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: make %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: make %s private: %w", dir, err)
	}
	l := &Log{
		dir: dir, opts: opts,
		q:        make(chan Entry, queue),
		flushReq: make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := l.removeBeyond(); err != nil {
		return nil, err
	}
	if err := l.openCurrent(); err != nil {
		return nil, err
	}
	l.w.enc = json.NewEncoder(&l.w.buf)
	l.w.enc.SetEscapeHTML(false) // needles in query.go depend on this
	l.w.timer = time.NewTimer(time.Hour)
	l.w.timer.Stop()
	go l.run()
	return l, nil
}

func (l *Log) path(i int) string {
	if i == 0 {
		return filepath.Join(l.dir, fileName)
	}
	return filepath.Join(l.dir, fileName+"."+strconv.Itoa(i))
}

// removeBeyond removes rotated files numbered above MaxFiles (left by a
// run with a larger MaxFiles), so that disk use is what Options say.
func (l *Log) removeBeyond() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("audit: read %s: %w", l.dir, err)
	}
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), fileName+".")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil && i > l.opts.MaxFiles {
			if err := os.Remove(filepath.Join(l.dir, e.Name())); err != nil {
				return fmt.Errorf("audit: remove old rotated file: %w", err)
			}
		}
	}
	return nil
}

// openCurrent opens audit.log for appending and notes whether it ends
// inside a line.
func (l *Log) openCurrent() error {
	f, err := os.OpenFile(l.path(0), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: open log: %w", err)
	}
	l.w.f, l.w.size, l.w.torn = f, fi.Size(), false
	if fi.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], fi.Size()-1); err != nil || last[0] != '\n' {
			l.w.torn = true
		}
	}
	return nil
}

// Record queues e for writing. It never blocks: when the queue is full
// the entry is dropped and counted, and an entry saying how many were
// dropped is written once there is room again. Entries recorded after
// Close are ignored.
func (l *Log) Record(e Entry) {
	if l.closed.Load() {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	select {
	case l.q <- e:
	default:
		l.dropped.Add(1)
	}
}

// Flush writes every entry recorded before it was called, and returns
// the write's error.
func (l *Log) Flush() error {
	ch := make(chan error, 1)
	select {
	case l.flushReq <- ch:
		return <-ch
	case <-l.done:
		return ErrClosed
	}
}

// Close writes what is queued and buffered, syncs and closes the file.
// Calling it again returns the first call's answer.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.stop)
		<-l.done
	})
	return l.closeErr
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	for {
		select {
		case e := <-l.q:
			l.add(&e)
			if len(l.q) == 0 {
				l.noteDropped()
			}
		case <-l.w.timerC:
			l.w.timerC = nil
			l.drain()
			l.write()
		case ch := <-l.flushReq:
			l.drain()
			ch <- l.write()
		case <-l.stop:
			l.drain()
			err := l.write()
			if f := l.w.f; f != nil {
				if serr := f.Sync(); err == nil && serr != nil {
					err = fmt.Errorf("audit: sync: %w", serr)
				}
				if cerr := f.Close(); err == nil && cerr != nil {
					err = fmt.Errorf("audit: close: %w", cerr)
				}
				l.w.f = nil
			}
			l.closeErr = err
			return
		}
	}
}

// drain takes what is queued now: at most a queue's worth, so that a
// flood of new entries cannot keep a Flush waiting.
func (l *Log) drain() {
	for range cap(l.q) {
		select {
		case e := <-l.q:
			l.add(&e)
		default:
			l.noteDropped()
			return
		}
	}
	l.noteDropped()
}

// noteDropped adds the entry that says how many entries were dropped.
func (l *Log) noteDropped() {
	if n := l.dropped.Swap(0); n > 0 {
		what := fmt.Sprintf("%d entries", n)
		if n == 1 {
			what = "1 entry"
		}
		l.add(&Entry{Time: time.Now(), User: DroppedUser,
			Reason: "dropped " + what + ": the audit queue was full or the disk failed"})
	}
}

// add encodes e into the buffer, first writing the buffer and rotating
// when e would take the current file past MaxFileBytes.
func (l *Log) add(e *Entry) {
	w := &l.w
	e.Time = e.Time.UTC()
	start := w.buf.Len()
	if err := w.enc.Encode(e); err != nil {
		// Only a time outside years 0–9999 can fail; keep a record anyway.
		w.buf.Truncate(start)
		e.Time = time.Now().UTC()
		e.Reason = strings.TrimSpace(e.Reason + " (time was out of range)")
		if w.enc.Encode(e) != nil {
			w.buf.Truncate(start)
			l.dropped.Add(1)
			return
		}
	}
	w.pending++
	if w.size+int64(start) > 0 && w.size+int64(w.buf.Len()) > l.opts.MaxFileBytes {
		w.line = append(w.line[:0], w.buf.Bytes()[start:]...)
		w.buf.Truncate(start)
		w.pending--
		l.write()
		l.rotate()
		w.buf.Write(w.line)
		w.pending++
	}
	if w.buf.Len() >= bufLimit {
		l.write()
		return
	}
	if w.timerC == nil {
		w.timer.Reset(l.opts.FlushEvery)
		w.timerC = w.timer.C
	}
}

// write writes the buffer in one call. A failed batch is counted as
// dropped (so the log says so once writing works again) and reported.
func (l *Log) write() error {
	w := &l.w
	if w.timerC != nil {
		w.timer.Stop()
		w.timerC = nil
	}
	if w.buf.Len() == 0 {
		return nil
	}
	err := l.writeBuf()
	if err != nil {
		l.dropped.Add(int64(w.pending))
		if !w.failing {
			l.opts.Logger.Error("write audit log; entries are lost until it works again", "dir", l.dir, "err", err)
		}
	} else if w.failing {
		l.opts.Logger.Info("writing the audit log works again", "dir", l.dir)
	}
	w.failing = err != nil
	w.buf.Reset()
	w.pending = 0
	if w.buf.Cap() > 4*bufLimit {
		// One huge entry grew it; do not keep the memory.
		w.buf = bytes.Buffer{}
		w.enc = json.NewEncoder(&w.buf)
		w.enc.SetEscapeHTML(false)
	}
	if cap(w.line) > 4*bufLimit {
		w.line = nil
	}
	return err
}

func (l *Log) writeBuf() error {
	w := &l.w
	if w.f == nil {
		if err := l.openCurrent(); err != nil {
			return err
		}
	}
	data := w.buf.Bytes()
	if w.torn {
		// Start a new line after a torn one. Costs a copy, rarely.
		data = append([]byte{'\n'}, data...)
	}
	n, err := w.f.Write(data)
	w.size += int64(n)
	l.writes.Add(1)
	l.written.Add(int64(n))
	if err != nil {
		// Reopen for the next batch: the card may have been remounted, or
		// space freed.
		w.f.Close()
		w.f = nil
		return fmt.Errorf("audit: write %s: %w", l.path(0), err)
	}
	w.torn = false
	return nil
}

// rotate moves audit.log to audit.log.1 (and .1 to .2, …), dropping the
// oldest, and starts an empty audit.log.
func (l *Log) rotate() {
	l.files.Lock()
	defer l.files.Unlock()
	w := &l.w
	if w.f != nil {
		if err := errors.Join(w.f.Sync(), w.f.Close()); err != nil {
			l.opts.Logger.Error("close audit log before rotating it: its last entries may be lost", "dir", l.dir, "err", err)
		}
		w.f = nil
	}
	err := os.Remove(l.path(l.opts.MaxFiles))
	for i := l.opts.MaxFiles - 1; i >= 0 && (err == nil || errors.Is(err, os.ErrNotExist)); i-- {
		err = os.Rename(l.path(i), l.path(i+1))
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// Keep appending to audit.log rather than lose entries; the next
		// rotation tries again.
		l.opts.Logger.Error("rotate audit log", "dir", l.dir, "err", err)
	}
	if err := l.openCurrent(); err != nil {
		l.opts.Logger.Error("open audit log after rotation", "dir", l.dir, "err", err)
	}
}
