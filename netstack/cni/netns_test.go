package cni

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestPinState(t *testing.T) {
	requireNode(t)
	dir := t.TempDir()
	pinned := filepath.Join(dir, "pinned")
	if err := pinNetNS(pinned); err != nil {
		t.Fatal(err)
	}
	defer unpinNetNS(pinned)
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want nsState
	}{
		{pinned, nsPinned},
		{plain, nsUnpinned},
		{filepath.Join(dir, "missing"), nsMissing},
	}
	for _, tt := range tests {
		if got, err := pinState(tt.path); err != nil || got != tt.want {
			t.Errorf("pinState(%s) = %v, %v; want %v", filepath.Base(tt.path), got, err, tt.want)
		}
	}
	if err := pinNetNS(pinned); err == nil {
		t.Errorf("pinNetNS over an existing pin: nil error, want one")
	}
	for _, p := range []string{pinned, plain, pinned} {
		if err := unpinNetNS(p); err != nil {
			t.Errorf("unpinNetNS(%s): %v", filepath.Base(p), err)
		}
		if got, _ := pinState(p); got != nsMissing {
			t.Errorf("after unpinNetNS(%s): %v, want missing", filepath.Base(p), got)
		}
	}
}

// TestPinLeavesNoThreadBehind: pinning runs on a locked thread; should
// that thread be the main one, which the runtime parks instead of
// discarding, it must not stay in the pod's namespace (it would keep the
// namespace and its veth alive after Teardown).
func TestPinLeavesNoThreadBehind(t *testing.T) {
	requireNode(t)
	node, err := os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range 32 {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := pinNetNS(p); err != nil {
			t.Fatal(err)
		}
		if err := unpinNetNS(p); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		got, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns/net"))
		if err != nil {
			continue // the thread just exited
		}
		if got != node {
			t.Errorf("thread %s is in netns %s, want the node's %s", task.Name(), got, node)
		}
	}
}
