// Package podstate answers what the workload controllers ask of a pod's
// status: is it Ready, has it been Ready long enough to be available,
// has it finished. It reads only the pod; it does not decide what a
// controller does with the answer.
package podstate

import (
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// ReadyCondition returns the pod's Ready condition, if any.
func ReadyCondition(p *api.Pod) *api.PodCondition {
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == api.PodReady {
			return c
		}
	}
	return nil
}

// Ready reports whether the pod's Ready condition is true.
func Ready(p *api.Pod) bool {
	c := ReadyCondition(p)
	return c != nil && c.Status == api.ConditionTrue
}

// Edge says whether a pod counts as available at the very instant its
// minReadySeconds end, or only after it. The controllers differ here and
// each keeps its own.
type Edge bool

const (
	// AtEnd: available from the instant minReadySeconds end (the daemon
	// set and stateful set controllers).
	AtEnd Edge = true
	// AfterEnd: available only once that instant has passed, as
	// Kubernetes' IsPodAvailable (the replica set controller).
	AfterEnd Edge = false
)

// Available reports whether the pod has been Ready for at least
// minReadySeconds at now; edge says which side of the instant they end
// counts.
func Available(p *api.Pod, minReadySeconds int32, now time.Time, edge Edge) bool {
	c := ReadyCondition(p)
	if c == nil || c.Status != api.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	if c.LastTransitionTime.IsZero() {
		return false
	}
	end := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
	if edge == AtEnd {
		return !end.After(now)
	}
	return end.Before(now)
}

// Finished reports whether the pod has succeeded or failed.
func Finished(p *api.Pod) bool {
	return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
}
