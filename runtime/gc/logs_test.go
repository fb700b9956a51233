package gc_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/gc"
)

func TestLogsOfDeadRuns(t *testing.T) {
	e := newEnv(t, nil)
	e.known["pod"] = true
	now := e.clock.Now()
	c3 := run("pod", "app", 3, container.StateExited, now, time.Hour)
	c4 := run("pod", "app", 4, container.StateRunning, now, 0)
	c4.LogPath = filepath.Join(e.logDir, "pod", "logs", "app", "4.log")
	e.rt.addContainer(c3, c4)
	old := time.Hour
	for _, f := range []struct {
		rel string
		age time.Duration
	}{
		{"pod/logs/app/0.log", old},
		{"pod/logs/app/1.log", old},
		{"pod/logs/app/2.log", old},
		{"pod/logs/app/2.log.1", old},
		{"pod/logs/app/2.log.2", old},
		{"pod/logs/app/3.log", old},   // the exited run the agent keeps
		{"pod/logs/app/3.log.1", old}, // and its rotated file
		{"pod/logs/app/4.log", 0},
		{"pod/logs/app/4.log.1", old},            // rotated out of the running run
		{"pod/logs/app/5.log", 10 * time.Second}, // a run being made
		{"pod/logs/app/notes.txt", old},          // not the agent's name: stays
		{"pod/logs/app/7.log.tmp", old},          // nor this
		{"pod/logs/gone/0.log", old},             // a container no longer in the spec
		{"pod/volumes/empty-dir/x/0.log", old},
		{"pod/etc/hosts", old},
	} {
		writeFile(t, e.logDir, f.rel, 100, now, f.age)
	}
	rep := e.collect(t)
	want := []string{
		"pod/", "pod/etc/", "pod/etc/hosts",
		"pod/logs/", "pod/logs/app/",
		"pod/logs/app/3.log", "pod/logs/app/3.log.1",
		"pod/logs/app/4.log", "pod/logs/app/4.log.1",
		"pod/logs/app/5.log", "pod/logs/app/7.log.tmp", "pod/logs/app/notes.txt",
		"pod/logs/gone/",
		"pod/volumes/", "pod/volumes/empty-dir/", "pod/volumes/empty-dir/x/", "pod/volumes/empty-dir/x/0.log",
	}
	if got := tree(t, e.logDir); !slices.Equal(got, want) {
		t.Errorf("left:\n got %q\nwant %q", got, want)
	}
	if rep.LogFilesRemoved != 6 || rep.LogBytesFreed != 600 {
		t.Errorf("report: got %+v, want 6 files of 600 bytes", rep)
	}
	// The run being made is removed once it is MinAge old and still has
	// no container.
	e.clock.Advance(gc.DefaultMinAge)
	if rep := e.collect(t); rep.LogFilesRemoved != 1 {
		t.Errorf("a MinAge later: got %+v, want the one file of the run without a container", rep)
	}
}

func TestLogsOfOrphanedPods(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	for _, rel := range []string{
		"gone/logs/app/0.log", "gone/logs/app/0.log.1", "gone/logs/app/1.log",
		"gone/logs/side/0.log", "gone/logs/stray", "gone/logs/deep/er/x",
	} {
		writeFile(t, e.logDir, rel, 10, now, time.Hour)
	}
	writeFile(t, e.logDir, "gone/volumes/empty-dir/data/keep", 10, now, time.Hour)
	writeFile(t, e.logDir, "young/logs/app/0.log", 10, now, time.Hour)
	writeFile(t, e.logDir, "young/logs/app/1.log", 10, now, 10*time.Second)
	// A pod being started: known, no containers yet, an old log of a
	// run before this agent.
	e.known["starting"] = true
	writeFile(t, e.logDir, "starting/logs/app/0.log", 10, now, time.Hour)
	writeFile(t, e.logDir, "starting/logs/app/1.log", 10, now, 0)
	// A pod the agent does not know but whose containers still exist:
	// only the logs of dead runs go.
	e.rt.addContainer(run("lingering", "app", 1, container.StateRunning, now, 0))
	writeFile(t, e.logDir, "lingering/logs/app/0.log", 10, now, time.Hour)
	writeFile(t, e.logDir, "lingering/logs/app/1.log", 10, now, time.Hour)
	writeFile(t, e.logDir, "lingering/logs/app/x", 10, now, time.Hour)

	rep := e.collect(t)
	want := []string{
		"gone/", "gone/volumes/", "gone/volumes/empty-dir/", "gone/volumes/empty-dir/data/", "gone/volumes/empty-dir/data/keep",
		"lingering/", "lingering/logs/", "lingering/logs/app/", "lingering/logs/app/1.log", "lingering/logs/app/x",
		"starting/", "starting/logs/", "starting/logs/app/", "starting/logs/app/1.log",
		"young/", "young/logs/", "young/logs/app/", "young/logs/app/1.log",
	}
	if got := tree(t, e.logDir); !slices.Equal(got, want) {
		t.Errorf("left:\n got %q\nwant %q", got, want)
	}
	if want := 6 + 1 + 1 + 1; rep.LogFilesRemoved != want {
		t.Errorf("report: got %+v, want %d files", rep, want)
	}
}

func TestLogsOrphanedDirectoriesStayWhileRecent(t *testing.T) {
	e := newEnv(t, nil)
	e.clock.t = time.Now().Truncate(time.Second) // directories made now are young
	now := e.clock.Now()
	writeFile(t, e.logDir, "gone/logs/app/0.log", 10, now, time.Hour)
	if rep := e.collect(t); rep.LogFilesRemoved != 1 {
		t.Errorf("report: got %+v, want the old file removed", rep)
	}
	if got, want := tree(t, e.logDir), []string{"gone/", "gone/logs/", "gone/logs/app/"}; !slices.Equal(got, want) {
		t.Errorf("left: got %q, want %q (directories changed lately stay)", got, want)
	}
	e.clock.Advance(time.Hour)
	e.collect(t)
	if got, want := tree(t, e.logDir), []string{"gone/"}; !slices.Equal(got, want) {
		t.Errorf("left an hour later: got %q, want %q", got, want)
	}
}

func TestLogsSymlinksNotFollowed(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	outside := t.TempDir()
	target := writeFile(t, outside, "precious/0.log", 10, now, time.Hour)
	mustSymlink(t, filepath.Join(outside, "precious"), filepath.Join(e.logDir, "gone", "logs", "app"))
	mustSymlink(t, filepath.Join(outside, "precious"), filepath.Join(e.logDir, "linkedpod"))
	if err := os.MkdirAll(filepath.Join(e.logDir, "linkedlogs"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, filepath.Join(outside, "precious"), filepath.Join(e.logDir, "linkedlogs", "logs"))
	mustSymlink(t, target, filepath.Join(e.logDir, "other", "logs", "app", "0.log"))
	// The links are an hour old by the clock, as everything made now.
	rep := e.collect(t)
	if _, err := os.Stat(target); err != nil {
		t.Errorf("a file outside LogDir was touched: %v", err)
	}
	got := tree(t, e.logDir)
	want := []string{"gone/", "linkedlogs/", "linkedlogs/logs", "linkedpod", "other/"}
	if !slices.Equal(got, want) {
		t.Errorf("left:\n got %q\nwant %q (links removed as files, never followed)", got, want)
	}
	if rep.LogFilesRemoved != 2 || rep.LogBytesFreed != 0 {
		t.Errorf("report: got %+v, want 2 links and no bytes", rep)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestLogsNoLogDir(t *testing.T) {
	e := newEnv(t, nil)
	if rep := e.collect(t); rep != (gc.Report{}) {
		t.Errorf("report: got %+v, want nothing", rep)
	}
}

func TestParseLogNameThroughCollect(t *testing.T) {
	// Names the agent and runtime/logs never make stay, even in a pod
	// with containers and old files.
	e := newEnv(t, nil)
	e.known["pod"] = true
	now := e.clock.Now()
	e.rt.addContainer(run("pod", "app", 0, container.StateRunning, now, 0))
	names := map[string]bool{ // name → removed
		"1.log": true, "12.log.3": true, "1.log.": false, "1.log.x": false, "x.log": false,
		".log": false, "1.logs": false, "-1.log": false, "1.log.1.2": false, "01.log": true,
	}
	for n := range names {
		writeFile(t, e.logDir, filepath.Join("pod/logs/app", n), 1, now, time.Hour)
	}
	e.collect(t)
	for n, removed := range names {
		_, err := os.Lstat(filepath.Join(e.logDir, "pod/logs/app", n))
		if gone := os.IsNotExist(err); gone != removed {
			t.Errorf("%s: removed %v, want %v", n, gone, removed)
		}
	}
}
