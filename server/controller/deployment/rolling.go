package deployment

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
)

// rolloutRolling takes one step of a rolling update: scale the new
// replica set up within maxSurge, or else scale old ones down within
// maxUnavailable; once complete, prune the history.
func (r *rollout) rolloutRolling(ctx context.Context, rss []*api.ReplicaSet) error {
	newRS, old, err := r.newAndOld(ctx, rss, true)
	if err != nil {
		return err
	}
	all := append(append([]*api.ReplicaSet(nil), old...), newRS)
	scaledUp, err := r.reconcileNew(ctx, all, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return r.syncRolloutStatus(ctx, r.current(all), r.latest(newRS))
	}
	scaledDown, err := r.reconcileOld(ctx, all, active(old), newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return r.syncRolloutStatus(ctx, r.current(all), r.latest(newRS))
	}
	if complete(r.d, &r.d.Status) {
		if err := r.cleanup(ctx, old); err != nil {
			return err
		}
	}
	return r.syncRolloutStatus(ctx, r.current(all), r.latest(newRS))
}

func (r *rollout) latest(rs *api.ReplicaSet) *api.ReplicaSet {
	if rs == nil {
		return nil
	}
	if w, ok := r.written[rs.UID]; ok {
		return w
	}
	return rs
}

// reconcileNew scales the new replica set towards the desired count, as
// far as maxSurge allows.
func (r *rollout) reconcileNew(ctx context.Context, all []*api.ReplicaSet, newRS *api.ReplicaSet) (bool, error) {
	want := replicasOf(r.d)
	switch n := rsReplicas(newRS); {
	case n == want:
		return false, nil
	case n > want:
		scaled, _, err := r.scaleReplicaSet(ctx, newRS, want)
		return scaled, err
	}
	scaled, _, err := r.scaleReplicaSet(ctx, newRS, newReplicas(r.d, all, newRS))
	return scaled, err
}

// reconcileOld scales old replica sets down as far as maxUnavailable
// allows: first those with unavailable pods, then the available ones.
func (r *rollout) reconcileOld(ctx context.Context, all, old []*api.ReplicaSet, newRS *api.ReplicaSet) (bool, error) {
	if sumReplicas(old) == 0 {
		return false, nil
	}
	minAvailable := replicasOf(r.d) - maxUnavailable(r.d)
	newUnavailable := rsReplicas(newRS) - min(newRS.Status.AvailableReplicas, rsReplicas(newRS))
	maxScaledDown := sumReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	old, cleaned, err := r.cleanupUnhealthy(ctx, old, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaled, err := r.scaleDownOld(ctx, append(append([]*api.ReplicaSet(nil), old...), newRS), old)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// cleanupUnhealthy scales old replica sets down by their unavailable
// pods (oldest first), at most maxCleanup in all: those pods serve no
// one, and removing them makes room for new ones.
func (r *rollout) cleanupUnhealthy(ctx context.Context, old []*api.ReplicaSet, maxCleanup int32) ([]*api.ReplicaSet, int32, error) {
	old = append([]*api.ReplicaSet(nil), old...)
	byCreation(old)
	var total int32
	for i, rs := range old {
		if total >= maxCleanup {
			break
		}
		n := rsReplicas(rs)
		avail := min(rs.Status.AvailableReplicas, n)
		if n == 0 || n == avail {
			continue
		}
		down := min(maxCleanup-total, n-avail)
		_, updated, err := r.scaleReplicaSet(ctx, rs, n-down)
		if err != nil {
			return nil, total, err
		}
		total += down
		old[i] = updated
	}
	return old, total, nil
}

// scaleDownOld scales old replica sets down (oldest first) while more
// than minAvailable pods are available.
func (r *rollout) scaleDownOld(ctx context.Context, all, old []*api.ReplicaSet) (int32, error) {
	minAvailable := replicasOf(r.d) - maxUnavailable(r.d)
	available := safeAvailable(all)
	if available <= minAvailable {
		return 0, nil
	}
	old = append([]*api.ReplicaSet(nil), old...)
	byCreation(old)
	want := available - minAvailable
	var total int32
	for _, rs := range old {
		if total >= want {
			break
		}
		n := rsReplicas(rs)
		if n == 0 {
			continue
		}
		down := min(n, want-total)
		if _, _, err := r.scaleReplicaSet(ctx, rs, n-down); err != nil {
			return total, fmt.Errorf("scale down old replica sets: %w", err)
		}
		total += down
	}
	return total, nil
}
