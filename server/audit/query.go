package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"time"
)

// mtimeSlack allows for file systems that keep modification times
// coarsely (FAT: 2s).
const mtimeSlack = 2 * time.Second

// Query returns the newest f.Limit entries that match f, newest last. It
// flushes first, so that it sees everything recorded before it was
// called. It reads the files from the newest line back and stops when it
// has enough, holding at most Limit entries and one read chunk in memory;
// lines it cannot read (a torn last line) are skipped. A write error is
// not the query's: it answers from what is on disk.
func (l *Log) Query(ctx context.Context, f Filter) ([]Entry, error) {
	if !l.closed.Load() {
		l.Flush()
	}
	files, err := l.openFiles()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, of := range files {
			of.f.Close()
		}
	}()
	limit := f.limit()
	needles := f.needles()
	var out []Entry
	var checked int
	br := &backLines{}
	for _, of := range files {
		// Every entry in a file was recorded before its last write.
		if !f.Since.IsZero() && of.mtime.Add(mtimeSlack).Before(f.Since) {
			break
		}
		br.reset(of.f, of.size)
		for len(out) < limit {
			line, err := br.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if checked++; checked%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			if !containsAll(line, needles) {
				continue
			}
			var e Entry
			if json.Unmarshal(line, &e) != nil || !f.match(&e) {
				continue
			}
			out = append(out, e)
		}
		if len(out) >= limit {
			break
		}
	}
	slices.Reverse(out)
	// Write order is when requests ended; show them by when they began.
	slices.SortStableFunc(out, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	return out, nil
}

type openFile struct {
	f     *os.File
	size  int64
	mtime time.Time
}

// openFiles opens the files newest first, under the rotation lock: open
// files survive a rotation's renames, so a query reads each once.
func (l *Log) openFiles() ([]openFile, error) {
	l.files.Lock()
	defer l.files.Unlock()
	var out []openFile
	for i := 0; i <= l.opts.MaxFiles; i++ {
		f, err := os.Open(l.path(i))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var fi os.FileInfo
		if err == nil {
			if fi, err = f.Stat(); err != nil {
				f.Close()
			}
		}
		if err != nil {
			for _, of := range out {
				of.f.Close()
			}
			return nil, err
		}
		out = append(out, openFile{f: f, size: fi.Size(), mtime: fi.ModTime()})
	}
	return out, nil
}

// needles are byte strings every line matching f contains, as the writer
// encodes it: keys and values in a fixed order, no HTML escaping, each
// filtered field followed by another. A line without one of them is
// skipped before it is decoded; decoding and match still decide.
func (f *Filter) needles() [][]byte {
	var ns [][]byte
	add := func(key, v string) {
		if v == "" {
			return
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		ns = append(ns, []byte(`"`+key+`":`+string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))+`,`))
	}
	add("user", f.User)
	add("verb", f.Verb)
	add("resource", f.Resource)
	add("namespace", f.Namespace)
	add("name", f.Name)
	if f.Denied {
		ns = append(ns, []byte(`"allowed":false`))
	}
	return ns
}

func containsAll(line []byte, needles [][]byte) bool {
	for _, n := range needles {
		if !bytes.Contains(line, n) {
			return false
		}
	}
	return true
}

const (
	// backChunk is how much backLines reads at a time.
	backChunk = 64 << 10
	// maxLine is the longest line backLines returns; longer ones are
	// skipped.
	maxLine = 1 << 20
)

// backLines reads the lines of the first size bytes of r from the last
// to the first, without the newline. The last line may be one the
// writer did not finish.
type backLines struct {
	r    io.ReaderAt
	off  int64 // bytes [0, off) are not read yet
	data []byte
	// data[start:end] is read but not yet returned.
	start, end int
	// skip: the bytes being collected belong to a line over maxLine.
	skip bool
	done bool
}

func newBackLines(r io.ReaderAt, size int64) *backLines {
	b := &backLines{}
	b.reset(r, size)
	return b
}

// reset starts on another file, keeping the buffer.
func (b *backLines) reset(r io.ReaderAt, size int64) {
	*b = backLines{r: r, off: size, data: b.data}
	b.start, b.end = len(b.data), len(b.data)
}

// next returns the line before the last one returned, valid until the
// next call, or io.EOF.
func (b *backLines) next() ([]byte, error) {
	for {
		pend := b.data[b.start:b.end]
		if i := bytes.LastIndexByte(pend, '\n'); i >= 0 {
			line := pend[i+1:]
			b.end = b.start + i
			if b.skip || len(line) > maxLine {
				b.skip = false
				continue
			}
			return line, nil
		}
		if b.off == 0 {
			if b.done {
				return nil, io.EOF
			}
			b.done = true
			b.end = b.start
			if b.skip || len(pend) > maxLine {
				return nil, io.EOF
			}
			return pend, nil
		}
		if len(pend) >= maxLine {
			b.start, b.end, b.skip = 0, 0, true
			pend = nil
		}
		n := int(min(int64(backChunk), b.off))
		if b.start < n {
			b.makeRoom(n)
		}
		b.start -= n
		b.off -= int64(n)
		if m, err := b.r.ReadAt(b.data[b.start:b.start+n], b.off); m < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank
			}
			return nil, err
		}
	}
}

// makeRoom moves the unread bytes to the end of data, growing it, so
// that n bytes fit before them.
func (b *backLines) makeRoom(n int) {
	pend := b.end - b.start
	size := len(b.data)
	if size < pend+n {
		size = max(2*len(b.data), pend+n, backChunk)
	}
	if size == len(b.data) {
		copy(b.data[size-pend:], b.data[b.start:b.end])
	} else {
		data := make([]byte, size)
		copy(data[size-pend:], b.data[b.start:b.end])
		b.data = data
	}
	b.start, b.end = size-pend, size
}
