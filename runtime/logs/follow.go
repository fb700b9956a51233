package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"
)

// pollInterval is how often a following Read looks at the live file.
// Polling, not inotify: it costs one read and one stat a tick, works on
// every filesystem, and sees a rotation that happened between two looks
// the same way as one that happened during them.
const pollInterval = 100 * time.Millisecond

// follow prints what is appended to the live file, reopening path when it
// is replaced by a new file. lr is the live file read so far and
// liveInfo its stat, or both nil when there was none yet. It returns nil
// when ctx ends.
func follow(ctx context.Context, path string, lr *lineReader, liveInfo os.FileInfo, p *printer, out *bufio.Writer) error {
	defer func() {
		if lr != nil {
			lr.f.Close() // the first one twice; that is harmless
		}
	}()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if lr != nil {
			if err := lr.drain(ctx, p.record); err != nil {
				return drainErr(ctx, path, err)
			}
		}
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Between the writer's rename and its new file; look again.
		case err != nil:
			return fmt.Errorf("follow log %s: %w", path, err)
		case liveInfo != nil && os.SameFile(fi, liveInfo):
			if fi.Size() < lr.offset {
				if err := lr.reset(); err != nil {
					return fmt.Errorf("follow log %s: truncated: %w", path, err)
				}
			}
		default:
			// The live file was replaced: finish the old one, print any
			// files rotated after it, and go on with the new one.
			f, err := os.Open(path)
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				return fmt.Errorf("follow log %s: %w", path, err)
			}
			newInfo, err := f.Stat()
			if err != nil {
				f.Close()
				return fmt.Errorf("follow log %s: %w", path, err)
			}
			if lr != nil {
				if err := lr.drain(ctx, p.record); err != nil {
					f.Close()
					return drainErr(ctx, path, err)
				}
				lr.end(p.record)
				lr.f.Close()
				for _, name := range rotatedSince(path, liveInfo, newInfo) {
					if err := readWhole(ctx, name, p); err != nil {
						f.Close()
						return drainErr(ctx, path, err)
					}
				}
			}
			lr, liveInfo = newLineReader(f), newInfo
			if err := lr.drain(ctx, p.record); err != nil {
				return drainErr(ctx, path, err)
			}
		}
		if err := flushOut(out, path); err != nil {
			return err
		}
	}
}

// rotatedSince lists, oldest first, the rotated files of path newer than
// the file old: those before old in path.1, path.2, …, or all of them
// when old is gone. The file live, opened as the new live file but
// perhaps rotated since, is left out: it is read as the live file.
func rotatedSince(path string, old, live os.FileInfo) []string {
	var names []string
	for n := 1; n <= maxRotated; n++ {
		name := rotatedName(path, n)
		fi, err := os.Stat(name)
		if err != nil || os.SameFile(fi, old) {
			break
		}
		if !os.SameFile(fi, live) {
			names = append(names, name)
		}
	}
	slices.Reverse(names)
	return names
}

// drainErr makes the end of ctx a normal end of following.
func drainErr(ctx context.Context, path string, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("follow log %s: %w", path, err)
}
