package gc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// collectContainers removes the exited containers evictable picks and
// returns the containers left.
func (g *GC) collectContainers(ctx context.Context, cs []container.Status, now time.Time, known func(string) bool, rep *Report) ([]container.Status, error) {
	evict := evictable(cs, now, g.cfg.MinAge, g.cfg.MaxPerPodContainer, known)
	if len(evict) == 0 {
		return cs, nil
	}
	gone := map[string]bool{}
	var errs []error
	for _, c := range evict {
		if ctx.Err() != nil {
			break
		}
		err := g.cfg.Runtime.Remove(ctx, c.ID)
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("gc: remove container %s of pod %s: %w", c.ID, c.Pod.UID, err))
			continue
		}
		gone[c.ID] = true
		if err == nil { // someone else's removal is not ours to count
			rep.ContainersRemoved++
			g.log.Debug("removed exited container", "container", c.ID, "pod", c.Pod.UID, "name", c.Name, "attempt", c.Attempt, "known-pod", known(c.Pod.UID))
		}
	}
	left := slices.DeleteFunc(slices.Clone(cs), func(c container.Status) bool { return gone[c.ID] })
	return left, errors.Join(errs...)
}

// evictable picks, sorted by ID, the exited containers that may go: of a
// pod known returns false for, every one exited for minAge; of a known
// pod, those beyond the newest keep of each container name, again only
// once exited for minAge. Running, created and unknown containers are
// never picked.
func evictable(cs []container.Status, now time.Time, minAge time.Duration, keep int, known func(string) bool) []container.Status {
	groups := map[string][]container.Status{}
	for _, c := range cs {
		if c.State == container.StateExited {
			k := c.Pod.UID + "/" + c.Name
			groups[k] = append(groups[k], c)
		}
	}
	var out []container.Status
	for _, rs := range groups {
		// Newest first: the highest attempt, then the latest made.
		slices.SortFunc(rs, func(a, b container.Status) int {
			return cmp.Or(cmp.Compare(b.Attempt, a.Attempt), b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
		from := 0
		if known(rs[0].Pod.UID) {
			from = keep
		}
		for _, c := range rs[min(from, len(rs)):] {
			if exitedFor(c, now) >= minAge {
				out = append(out, c)
			}
		}
	}
	slices.SortFunc(out, func(a, b container.Status) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// exitedFor is how long c has been exited: since it finished, or if that
// is not recorded since it was made. With neither, it has just exited.
func exitedFor(c container.Status, now time.Time) time.Duration {
	at := c.FinishedAt
	if at.IsZero() {
		at = c.CreatedAt
	}
	if at.IsZero() {
		return 0
	}
	return now.Sub(at)
}
