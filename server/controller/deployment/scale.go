package deployment

import (
	"context"
	"math"
	"sort"

	"github.com/skiffhq/skiff/server/api"
)

// scale sizes the replica sets for d's replicas without rolling out:
// the only active one (or the newest) takes all; a saturated new one
// leaves the old ones none; otherwise, in a rolling update, the
// difference is shared out in proportion to their sizes, as Kubernetes
// does, so a scale in the middle of a rollout (or while paused) keeps
// the mix of old and new.
func (r *rollout) scale(ctx context.Context, newRS *api.ReplicaSet, old []*api.ReplicaSet) error {
	d := r.d
	if one := activeOrLatest(newRS, old); one != nil {
		_, _, err := r.scaleReplicaSet(ctx, one, replicasOf(d))
		return err
	}
	if saturated(d, newRS) {
		for _, rs := range active(old) {
			if _, _, err := r.scaleReplicaSet(ctx, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := active(append(append([]*api.ReplicaSet(nil), old...), newRS))
	allowed := int32(0)
	if replicasOf(d) > 0 {
		allowed = replicasOf(d) + maxSurge(d)
	}
	toAdd := allowed - sumReplicas(all)
	switch {
	case toAdd > 0: // larger first; of equal size, newer first
		sort.SliceStable(all, func(i, j int) bool {
			if a, b := rsReplicas(all[i]), rsReplicas(all[j]); a != b {
				return a > b
			}
			return olderThan(all[j], all[i])
		})
	case toAdd < 0: // larger first; of equal size, older first
		sort.SliceStable(all, func(i, j int) bool {
			if a, b := rsReplicas(all[i]), rsReplicas(all[j]); a != b {
				return a > b
			}
			return olderThan(all[i], all[j])
		})
	}
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = rsReplicas(rs)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	for i, rs := range all {
		if i == 0 && toAdd != 0 {
			sizes[0] = max(sizes[0]+toAdd-added, 0) // leftovers to the largest
		}
		if _, _, err := r.scaleReplicaSet(ctx, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// activeOrLatest is the one active replica set, or the newest if none
// is active; nil if several are.
func activeOrLatest(newRS *api.ReplicaSet, old []*api.ReplicaSet) *api.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*api.ReplicaSet(nil), old...)
	sort.SliceStable(sorted, func(i, j int) bool { return olderThan(sorted[j], sorted[i]) })
	all := active(append(sorted, newRS))
	switch len(all) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return all[0]
	}
	return nil
}

// saturated: the new replica set has, and was sized for, all replicas,
// and all are available.
func saturated(d *api.Deployment, rs *api.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	return ok && desired == replicasOf(d) && rsReplicas(rs) == replicasOf(d) && rs.Status.AvailableReplicas == replicasOf(d)
}

// proportion is rs's share of toAdd, given added so far.
func proportion(rs *api.ReplicaSet, d *api.Deployment, toAdd, added int32) int32 {
	if rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	f := fraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(f, allowed)
	}
	return max(f, allowed)
}

// fraction is how much rs grows (or shrinks) when the deployment goes
// from the size rs was last sized for to its size now.
func fraction(rs *api.ReplicaSet, d *api.Deployment) int32 {
	if replicasOf(d) == 0 {
		return -rsReplicas(rs)
	}
	maxNow := replicasOf(d) + maxSurge(d)
	before, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || before == 0 {
		before = d.Status.Replicas
		if before == 0 {
			return 0
		}
	}
	size := float64(rsReplicas(rs)) * float64(maxNow) / float64(before)
	return int32(math.Round(size)) - rsReplicas(rs)
}
