package deployment

import "github.com/skiffhq/skiff/server/api"

// replicasOf is the desired count (default 1).
func replicasOf(d *api.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *api.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

func isRollingUpdate(d *api.Deployment) bool {
	return d.Spec.Strategy.Type == api.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.Type == ""
}

// ResolveFenceposts turns maxSurge and maxUnavailable into counts out of
// desired, as Kubernetes does: a surge percentage rounds up, an
// unavailable one down, and if both come to 0, one pod may be
// unavailable (else nothing could ever move). nil means 25%.
func ResolveFenceposts(surge, unavailable *api.IntOrString, desired int32) (int32, int32, error) {
	quarter := api.FromString("25%")
	if surge == nil {
		surge = &quarter
	}
	if unavailable == nil {
		unavailable = &quarter
	}
	s, err := surge.GetScaledValue(int(desired), true)
	if err != nil {
		return 0, 0, err
	}
	u, err := unavailable.GetScaledValue(int(desired), false)
	if err != nil {
		return 0, 0, err
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u), nil
}

func fenceposts(d *api.Deployment) (int32, int32) {
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil {
		ru = &api.RollingUpdateDeployment{}
	}
	s, u, err := ResolveFenceposts(ru.MaxSurge, ru.MaxUnavailable, replicasOf(d))
	if err != nil {
		// Validation refuses such values; go one pod at a time.
		return 0, 1
	}
	return s, u
}

// maxSurge is how many pods above the desired count may exist.
func maxSurge(d *api.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

// maxUnavailable is how many pods below the desired count may be
// unavailable, never more than the desired count.
func maxUnavailable(d *api.Deployment) int32 {
	if !isRollingUpdate(d) || replicasOf(d) == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, replicasOf(d))
}

// sumReplicas is the replicas the replica sets ask for.
func sumReplicas(rss []*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += rsReplicas(rs)
	}
	return n
}

// sumStatus adds up one status count.
func sumStatus(rss []*api.ReplicaSet, f func(*api.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(&rs.Status)
		}
	}
	return n
}

// safeAvailable counts a replica set's available pods, but never more
// than it asks for: after a scale-down its status may still count pods
// the replica set controller is about to delete, and counting those
// would let a rolling update take down more than maxUnavailable allows.
func safeAvailable(rss []*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += min(rs.Status.AvailableReplicas, rsReplicas(rs))
		}
	}
	return n
}

func active(rss []*api.ReplicaSet) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}
