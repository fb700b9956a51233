package deployment

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
)

// rolloutRecreate takes one step of a Recreate rollout: scale every old
// replica set to 0, wait until none of their pods is left running, then
// create (or scale up) the new one.
func (r *rollout) rolloutRecreate(ctx context.Context, rss []*api.ReplicaSet) error {
	// No new replica set yet: nothing may start before the old stop.
	newRS, old, err := r.newAndOld(ctx, rss, false)
	if err != nil {
		return err
	}
	all := append(append([]*api.ReplicaSet(nil), old...), newRS)
	scaledDown := false
	for _, rs := range active(old) {
		scaled, _, err := r.scaleReplicaSet(ctx, rs, 0)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown || r.oldPodsRunning(newRS, old) {
		return r.syncRolloutStatus(ctx, r.current(all), r.latest(newRS))
	}
	if newRS == nil {
		if newRS, old, err = r.newAndOld(ctx, rss, true); err != nil {
			return err
		}
		all = append(append([]*api.ReplicaSet(nil), old...), newRS)
	}
	if _, _, err := r.scaleReplicaSet(ctx, newRS, replicasOf(r.d)); err != nil {
		return err
	}
	if complete(r.d, &r.d.Status) {
		if err := r.cleanup(ctx, old); err != nil {
			return err
		}
	}
	return r.syncRolloutStatus(ctx, r.current(all), r.latest(newRS))
}

// oldPodsRunning: an old replica set still counts pods, or a pod of one
// is not finished (being deleted counts as running: it may be).
func (r *rollout) oldPodsRunning(newRS *api.ReplicaSet, old []*api.ReplicaSet) bool {
	if sumStatus(old, func(s *api.ReplicaSetStatus) int32 { return s.Replicas }) > 0 {
		return true
	}
	for _, rs := range old {
		if newRS != nil && rs.UID == newRS.UID {
			continue
		}
		for _, p := range r.c.pods.ByIndex(owner.ByController, rs.UID) {
			if !isTerminal(p) {
				return true
			}
		}
	}
	return false
}
