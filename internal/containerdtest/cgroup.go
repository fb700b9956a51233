package containerdtest

import (
	"os"
	"path/filepath"
	"syscall"
)

// CgroupDirs are the directories of cgroup path in the unified hierarchy
// (v2) or in every hierarchy (v1).
func CgroupDirs(path string) []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{filepath.Join("/sys/fs/cgroup", path)}
	}
	var dirs []string
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.Name(), path))
		}
	}
	return dirs
}

// RemoveCgroup removes the (empty) cgroup path, a test's parent cgroup,
// from every hierarchy it is in; what is not there or not empty stays.
func RemoveCgroup(path string) {
	for _, d := range CgroupDirs(path) {
		syscall.Rmdir(d)
	}
}
