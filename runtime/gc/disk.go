package gc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Statfs measures the file system holding path with statfs(2): its size,
// and as used everything not available to an unprivileged writer (space
// reserved for root counts as used, as in df's Use% and the kubelet).
func Statfs(path string) (used, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	total = st.Blocks * unit
	avail := min(st.Bavail, st.Blocks) * unit
	return total - avail, total, nil
}

// above reports whether used is more than pct percent of total.
func above(used, total uint64, pct int) bool {
	return float64(used)*100 > float64(pct)*float64(total)
}

// below reports whether used is less than pct percent of total.
func below(used, total uint64, pct int) bool {
	return float64(used)*100 < float64(pct)*float64(total)
}

// percent is used as a whole percentage of total, for messages.
func percent(used, total uint64) int {
	if total == 0 {
		return 0
	}
	return int(float64(used) * 100 / float64(total))
}
