package deployment

import (
	"fmt"
	"math"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// The condition reasons, as Kubernetes'.
const (
	ReasonNewRSAvailable     = "NewReplicaSetAvailable"
	ReasonRSUpdated          = "ReplicaSetUpdated"
	ReasonFoundNewRS         = "FoundNewReplicaSet"
	ReasonNewRSCreated       = "NewReplicaSetCreated"
	ReasonFailedRSCreate     = "ReplicaSetCreateError"
	ReasonTimedOut           = "ProgressDeadlineExceeded"
	ReasonPaused             = "DeploymentPaused"
	ReasonResumed            = "DeploymentResumed"
	ReasonMinimumAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable = "MinimumReplicasUnavailable"
)

// getCondition returns the condition of type t, if any.
func getCondition(s *api.DeploymentStatus, t api.DeploymentConditionType) *api.DeploymentCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

func newCondition(t api.DeploymentConditionType, status api.ConditionStatus, reason, msg string, now time.Time) api.DeploymentCondition {
	return api.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: msg,
		LastUpdateTime: api.NewTime(now), LastTransitionTime: api.NewTime(now)}
}

// setCondition sets c unless one of its type with the same status and
// reason is there; a change of reason keeps the transition time.
func setCondition(s *api.DeploymentStatus, c api.DeploymentCondition) {
	cur := getCondition(s, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(s, c.Type)
	s.Conditions = append(s.Conditions, c)
}

func removeCondition(s *api.DeploymentStatus, t api.DeploymentConditionType) {
	var out []api.DeploymentCondition
	for _, c := range s.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	s.Conditions = out
}

// calculateStatus is d's status for its replica sets: the counts, and
// the Available condition on top of the conditions base holds.
func calculateStatus(d *api.Deployment, base *api.DeploymentStatus, all []*api.ReplicaSet, newRS *api.ReplicaSet, now time.Time) api.DeploymentStatus {
	available := sumStatus(all, func(s *api.ReplicaSetStatus) int32 { return s.AvailableReplicas })
	s := api.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(all, func(s *api.ReplicaSetStatus) int32 { return s.Replicas }),
		ReadyReplicas:       sumStatus(all, func(s *api.ReplicaSetStatus) int32 { return s.ReadyReplicas }),
		AvailableReplicas:   available,
		UnavailableReplicas: max(sumReplicas(all)-available, 0),
		CollisionCount:      base.CollisionCount,
	}
	if newRS != nil {
		s.UpdatedReplicas = newRS.Status.Replicas
	}
	s.Conditions = append([]api.DeploymentCondition(nil), base.Conditions...)
	if available >= replicasOf(d)-maxUnavailable(d) {
		setCondition(&s, newCondition(api.DeploymentAvailable, api.ConditionTrue, ReasonMinimumAvailable, "Deployment has minimum availability.", now))
	} else {
		setCondition(&s, newCondition(api.DeploymentAvailable, api.ConditionFalse, ReasonMinimumUnavailable, "Deployment does not have minimum availability.", now))
	}
	return s
}

func hasProgressDeadline(d *api.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// complete: every replica is updated and available, and the status is
// of the current generation.
func complete(d *api.Deployment, s *api.DeploymentStatus) bool {
	n := replicasOf(d)
	return s.UpdatedReplicas == n && s.Replicas == n && s.AvailableReplicas == n && s.ObservedGeneration >= d.Generation
}

// progressing: the new status is further along than the old.
func progressing(old, s *api.DeploymentStatus) bool {
	return s.UpdatedReplicas > old.UpdatedReplicas ||
		s.Replicas-s.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		s.ReadyReplicas > old.ReadyReplicas ||
		s.AvailableReplicas > old.AvailableReplicas
}

// timedOut: no progress for progressDeadlineSeconds since the
// Progressing condition last changed.
func timedOut(d *api.Deployment, s *api.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(s, api.DeploymentProgressing)
	if c == nil || c.Reason == ReasonNewRSAvailable {
		return false
	}
	if c.Reason == ReasonTimedOut {
		return true
	}
	return c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Before(now)
}

// rolloutStatus is the status after a rollout step: calculateStatus plus
// the Progressing condition (complete, progressing, or past its
// deadline) and the new replica set's ReplicaFailure, if any. stored is
// the status as written; base the conditions this sync set so far.
func rolloutStatus(d *api.Deployment, stored, base *api.DeploymentStatus, all []*api.ReplicaSet, newRS *api.ReplicaSet, now time.Time) api.DeploymentStatus {
	s := calculateStatus(d, base, all, newRS, now)
	if !hasProgressDeadline(d) {
		removeCondition(&s, api.DeploymentProgressing)
	}
	cur := getCondition(base, api.DeploymentProgressing)
	done := s.Replicas == s.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	if hasProgressDeadline(d) && !done {
		name := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			name = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case complete(d, &s):
			setCondition(&s, newCondition(api.DeploymentProgressing, api.ConditionTrue, ReasonNewRSAvailable, name+" has successfully progressed.", now))
		case progressing(stored, &s):
			c := newCondition(api.DeploymentProgressing, api.ConditionTrue, ReasonRSUpdated, name+" is progressing.", now)
			if cur != nil {
				if cur.Status == api.ConditionTrue {
					c.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&s, api.DeploymentProgressing)
			}
			setCondition(&s, c)
		case timedOut(d, &s, now):
			setCondition(&s, newCondition(api.DeploymentProgressing, api.ConditionFalse, ReasonTimedOut, name+" has timed out progressing.", now))
		}
	}
	if f := replicaFailure(all, newRS); f != nil {
		setCondition(&s, api.DeploymentCondition{Type: api.DeploymentReplicaFailure, Status: f.Status, Reason: f.Reason, Message: f.Message,
			LastUpdateTime: f.LastTransitionTime, LastTransitionTime: f.LastTransitionTime})
	} else {
		removeCondition(&s, api.DeploymentReplicaFailure)
	}
	return s
}

// replicaFailure is the new replica set's ReplicaFailure condition, or
// failing that any replica set's.
func replicaFailure(all []*api.ReplicaSet, newRS *api.ReplicaSet) *api.ReplicaSetCondition {
	find := func(rs *api.ReplicaSet) *api.ReplicaSetCondition {
		if rs == nil {
			return nil
		}
		for i := range rs.Status.Conditions {
			if c := &rs.Status.Conditions[i]; c.Type == api.ReplicaSetReplicaFailure && c.Status == api.ConditionTrue {
				return c
			}
		}
		return nil
	}
	if c := find(newRS); c != nil {
		return c
	}
	for _, rs := range all {
		if c := find(rs); c != nil {
			return c
		}
	}
	return nil
}

// recheckAfter is when a rollout that is neither complete nor timed out
// should be looked at again to see if its deadline passed; -1 for never.
func recheckAfter(d *api.Deployment, s *api.DeploymentStatus, now time.Time) time.Duration {
	c := getCondition(s, api.DeploymentProgressing)
	if !hasProgressDeadline(d) || c == nil || complete(d, s) || c.Reason == ReasonTimedOut || d.Spec.Paused {
		return -1
	}
	after := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	// Times are kept to the second: look a little after the deadline.
	return max(after, 0) + time.Second
}
