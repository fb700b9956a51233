package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// ReadOptions choose what Read prints.
type ReadOptions struct {
	// Follow keeps printing lines as they are written, across rotations,
	// until the context ends.
	Follow bool
	// Tail prints only the last Tail lines that exist when Read starts
	// (-1: all of them; 0: none, useful with Follow).
	Tail int
	// Timestamps prefixes each line with its RFC3339Nano time and a space.
	Timestamps bool
	// Since skips lines written before it; zero means no limit.
	Since time.Time
	// Stream prints only Stdout or only Stderr; "" prints both.
	Stream string
}

// Limits on what Read holds in memory for one line.
const (
	// maxJoined is the longest line Read joins from partial records; a
	// longer one is printed in pieces of this size.
	maxJoined = 1 << 20
	// maxRaw is the longest run without a newline Read keeps; a longer
	// one is printed as it stands.
	maxRaw = 1 << 20
)

// Read prints the log of one container run, kept at path and its rotated
// files, to w: the content of each line (partial records joined), oldest
// first. A record that does not parse is printed raw, whatever the
// filters, unless Since is set and no earlier line has passed it.
//
// Without Follow, Read returns at the end of the live file. With Follow it
// polls the live file every pollInterval, notices rotation by the live
// file's inode changing, and returns nil when ctx ends. A log with no file
// at all is errdefs.ErrNotFound.
func Read(ctx context.Context, path string, opts ReadOptions, w io.Writer) error {
	if opts.Stream != "" && opts.Stream != Stdout && opts.Stream != Stderr {
		return fmt.Errorf("read log %s: stream %q: want %q, %q or empty: %w",
			path, opts.Stream, Stdout, Stderr, errdefs.ErrInvalid)
	}
	// The live file first, then what is older than it: a rotation in
	// between makes the live file path.1, which is then not read twice.
	live, err := os.Open(path)
	var liveInfo os.FileInfo
	switch {
	case err == nil:
		defer live.Close()
		if liveInfo, err = live.Stat(); err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read log %s: %w", path, err)
	}
	rotated := rotatedFiles(path, liveInfo)
	if live == nil && len(rotated) == 0 {
		return fmt.Errorf("read log %s: %w", path, errdefs.ErrNotFound)
	}

	out := bufio.NewWriterSize(w, 32<<10)
	p := newPrinter(opts, out)
	for _, name := range rotated {
		if err := readWhole(ctx, name, p); err != nil {
			return err
		}
	}
	var lr *lineReader
	if live != nil {
		lr = newLineReader(live)
		if err := lr.drain(ctx, p.record); err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
	}
	if !opts.Follow {
		if lr != nil {
			lr.end(p.record)
		}
		p.end()
		p.endTail()
		return flushOut(out, path)
	}
	p.endTail()
	if err := flushOut(out, path); err != nil {
		return err
	}
	return follow(ctx, path, lr, liveInfo, p, out)
}

// rotatedFiles lists, oldest first, the rotated files of path that exist
// and are older than the live file (nil: all of them).
func rotatedFiles(path string, live os.FileInfo) []string {
	var names []string
	for n := 1; n <= maxRotated; n++ {
		fi, err := os.Stat(rotatedName(path, n))
		if err != nil {
			break
		}
		if live != nil && os.SameFile(fi, live) {
			names = names[:0] // those were newer than the live file
			continue
		}
		names = append(names, rotatedName(path, n))
	}
	slices.Reverse(names)
	return names
}

// maxRotated bounds the search for rotated files.
const maxRotated = 1000

// readWhole prints a file that is no longer written to.
func readWhole(ctx context.Context, name string, p *printer) error {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // rotated away while we read
	}
	if err != nil {
		return fmt.Errorf("read log %s: %w", name, err)
	}
	defer f.Close()
	lr := newLineReader(f)
	if err := lr.drain(ctx, p.record); err != nil {
		return fmt.Errorf("read log %s: %w", name, err)
	}
	lr.end(p.record)
	return nil
}

func flushOut(out *bufio.Writer, path string) error {
	if err := out.Flush(); err != nil {
		return fmt.Errorf("read log %s: write output: %w", path, err)
	}
	return nil
}
