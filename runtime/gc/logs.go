package gc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
)

// collectLogs removes, under LogDir/<uid>/logs, the log files of runs no
// container is left for, and the whole logs/ of pods with no container
// that the agent does not know; only what is MinAge old.
func (g *GC) collectLogs(cs []container.Status, now time.Time, known func(string) bool, rep *Report) error {
	entries, err := os.ReadDir(g.cfg.LogDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gc: logs: %w", err)
	}
	l := logPass{g: g, now: now, rep: rep, runs: map[string]bool{}, paths: map[string]bool{}, pods: map[string]bool{}}
	for _, c := range cs {
		l.pods[c.Pod.UID] = true
		l.runs[runKey(c.Pod.UID, c.Name, c.Attempt)] = true
		if c.LogPath != "" {
			l.paths[filepath.Clean(c.LogPath)] = true
		}
	}
	for _, e := range entries {
		if !e.IsDir() { // a symbolic link is not followed
			continue
		}
		uid := e.Name()
		dir := filepath.Join(g.cfg.LogDir, uid, "logs")
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				l.errs = append(l.errs, fmt.Errorf("gc: logs of pod %s: %w", uid, err))
			}
			continue
		}
		if !l.pods[uid] && !known(uid) {
			l.prune(dir)
		} else {
			l.deadRuns(uid, dir)
		}
	}
	if rep.LogFilesRemoved > 0 {
		g.log.Debug("removed log files", "files", rep.LogFilesRemoved, "bytes", rep.LogBytesFreed)
	}
	return errors.Join(l.errs...)
}

// logPass is one pass over the log files.
type logPass struct {
	g   *GC
	now time.Time
	rep *Report
	// runs are the runs the runtime has (runKey), paths their log files
	// and pods the UIDs of pods with containers.
	runs, paths, pods map[string]bool
	errs              []error
}

func runKey(uid, name string, attempt int) string {
	return uid + "/" + name + "/" + strconv.Itoa(attempt)
}

// deadRuns removes the log files, in dir/<container>/, of runs of pod uid
// the runtime has no container for. Files not named as the agent names
// them, and the directories, stay.
func (l *logPass) deadRuns(uid, dir string) {
	names, err := os.ReadDir(dir)
	if err != nil {
		l.fail(err)
		return
	}
	for _, n := range names {
		if !n.IsDir() {
			continue
		}
		cdir := filepath.Join(dir, n.Name())
		files, err := os.ReadDir(cdir)
		if err != nil {
			l.fail(err)
			continue
		}
		for _, f := range files {
			attempt, live, ok := parseLogName(f.Name())
			if !ok || l.runs[runKey(uid, n.Name(), attempt)] || l.paths[filepath.Join(cdir, live)] {
				continue
			}
			l.removeOld(filepath.Join(cdir, f.Name()), f)
		}
	}
}

// prune removes every file under dir that is MinAge old, then every
// directory left empty whose own modification time is MinAge old (nothing
// was added to it or removed from it lately), dir included.
func (l *logPass) prune(dir string) {
	fi, err := os.Lstat(dir)
	if err != nil {
		l.fail(err)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		l.fail(err)
		return
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if e.IsDir() {
			l.prune(path)
		} else {
			l.removeOld(path, e)
		}
	}
	if l.now.Sub(fi.ModTime()) < l.g.cfg.MinAge {
		return
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		l.fail(err)
	}
}

// removeOld removes the file or symbolic link at path if it was last
// modified MinAge ago or earlier.
func (l *logPass) removeOld(path string, e fs.DirEntry) {
	if t := e.Type(); !t.IsRegular() && t&fs.ModeSymlink == 0 {
		return
	}
	fi, err := e.Info() // lstat: a link's own time
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		l.fail(err)
		return
	}
	if l.now.Sub(fi.ModTime()) < l.g.cfg.MinAge {
		return
	}
	if err := os.Remove(path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.fail(err)
		}
		return
	}
	l.rep.LogFilesRemoved++
	if fi.Mode().IsRegular() {
		l.rep.LogBytesFreed += fi.Size()
	}
}

func (l *logPass) fail(err error) {
	if !errors.Is(err, fs.ErrNotExist) {
		l.errs = append(l.errs, fmt.Errorf("gc: logs: %w", err))
	}
}

// parseLogName reads a name the agent and runtime/logs give log files:
// "<attempt>.log", or "<attempt>.log.<n>" when rotated. live is the name
// of the run's live file.
func parseLogName(name string) (attempt int, live string, ok bool) {
	head, rest, found := strings.Cut(name, ".log")
	if !found || !isDigits(head) {
		return 0, "", false
	}
	if rest != "" && (rest[0] != '.' || !isDigits(rest[1:])) {
		return 0, "", false
	}
	attempt, err := strconv.Atoi(head)
	if err != nil {
		return 0, "", false
	}
	return attempt, head + ".log", true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
