package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

// cleanupOrphans, at start, removes what belongs to no pod any more:
// network sandboxes, pod directories and cgroups of pods that neither the
// API nor the runtime knows. Containers of deleted pods are left to
// their pods' syncs (which stop them with the right grace).
func (a *Agent) cleanupOrphans(ctx context.Context) {
	known := map[string]bool{}
	for _, p := range a.pods.List() {
		known[p.UID] = true
	}
	for _, uid := range a.cache.podUIDs() {
		known[uid] = true
	}
	keep := func(uid string) bool { return known[uid] }
	removed, err := a.cfg.Network.CleanupOrphans(ctx, keep)
	if err != nil {
		a.log.Warn("clean up orphaned sandboxes", "err", err)
	}
	for _, r := range removed {
		a.log.Info("removed orphaned sandbox", "what", r)
	}
	for _, dir := range []string{filepath.Join(a.cfg.DataDir, "pods"), filepath.Join(a.cfg.StateDir, "pods")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !keep(e.Name()) {
				if err := a.removePodDirs(e.Name()); err != nil {
					a.log.Warn("remove orphaned pod files", "uid", e.Name(), "err", err)
				}
			}
		}
	}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*" + a.cfg.CgroupRoot)
	if fi, err := os.Stat("/sys/fs/cgroup" + a.cfg.CgroupRoot); err == nil && fi.IsDir() {
		roots = append(roots, "/sys/fs/cgroup"+a.cfg.CgroupRoot)
	}
	seen := map[string]bool{}
	for _, root := range roots {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			uid, ok := strings.CutPrefix(e.Name(), "pod")
			if ok && e.IsDir() && !keep(uid) && !seen[uid] {
				seen[uid] = true
				if err := removeCgroup(a.podCgroup(uid)); err != nil {
					a.log.Warn("remove orphaned cgroup", "uid", uid, "err", err)
				}
			}
		}
	}
}
