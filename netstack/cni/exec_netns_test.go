package cni

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// TestExecInheritsThreadNetNS checks what libcni relies on when a caller
// runs on a locked OS thread moved into another network namespace: a child
// exec'd from that goroutine starts in the thread's namespace, not in the
// process's. (The plugins are exec'd the same way, by os/exec from the
// calling goroutine.)
func TestExecInheritsThreadNetNS(t *testing.T) {
	requireNode(t)
	path := filepath.Join(t.TempDir(), "other")
	if err := pinNetNS(path); err != nil {
		t.Fatal(err)
	}
	defer unpinNetNS(path)

	type result struct{ before, thread, child string }
	done := make(chan result, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		threadNS := func() (string, error) {
			return os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		}
		before, err := threadNS()
		if err != nil {
			errc <- err
			return
		}
		orig, err := ns.GetCurrentNS()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := ns.GetNS(path)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := target.Set(); err != nil {
			errc <- err
			return
		}
		// Back to the node namespace before unlocking; left locked (and so
		// discarded by the runtime) if that fails.
		defer func() {
			if orig.Set() == nil {
				runtime.UnlockOSThread()
			}
		}()
		thread, err := threadNS()
		if err != nil {
			errc <- err
			return
		}
		out, err := exec.Command("readlink", "/proc/self/ns/net").Output()
		if err != nil {
			errc <- fmt.Errorf("readlink in child: %w", err)
			return
		}
		done <- result{before: before, thread: thread, child: strings.TrimSpace(string(out))}
	}()
	select {
	case err := <-errc:
		t.Fatal(err)
	case r := <-done:
		if r.child != r.thread {
			t.Errorf("child exec'd from a locked thread in %s: netns %s, want the thread's %s", path, r.child, r.thread)
		}
		if r.thread == r.before {
			t.Errorf("thread netns %s after setns is the one before: the test did not move the thread", r.thread)
		}
	}
}
