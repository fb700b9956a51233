package statefulset

import (
	"sort"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

// decision is what one sync of a set does: the ordinals to create, the
// pods to delete, and the status the cache shows.
type decision struct {
	create []int
	delete []*api.Pod
	status api.StatefulSetStatus
	// notYetAvailable: some pod is ready but not yet for minReadySeconds.
	notYetAvailable bool
}

// plan decides, from s's pods in the cache, what a sync does at now, in
// Kubernetes' order:
//
//  1. Replicas 0…N-1, lowest first: create a missing one; replace one
//     that has finished (delete it, create it next time). OrderedReady
//     stops at the first one created, deleted, terminating, or not yet
//     available; Parallel goes on.
//  2. Condemned pods (ordinal ≥ N), highest first: delete. OrderedReady
//     deletes one and waits until it is gone; it gets here only when
//     every replica below is available.
//  3. RollingUpdate: from the highest ordinal down to the partition,
//     delete pods of an old revision, at most maxUnavailable (default 1)
//     down at a time: with the default, one pod, then wait for its
//     replacement to be available before the next.
//
// A pod of a name that still exists, even terminating, is never
// created: a replica never runs twice. plan is pure; the unit tests drive
// it with made-up pods and clocks.
func plan(s *api.StatefulSet, pods []*api.Pod, now time.Time) decision {
	var d decision
	n := replicas(s)
	updateRev := revision(s)
	currentRev := s.Status.CurrentRevision
	if currentRev == "" {
		currentRev = updateRev
	}
	minReady := s.Spec.MinReadySeconds
	slots := make([]*api.Pod, n)
	var condemned []*api.Pod
	for _, p := range pods {
		switch ord := ordinalOf(s, p); {
		case ord < 0:
		case ord < n:
			slots[ord] = p
		default:
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(s, condemned[i]) > ordinalOf(s, condemned[j]) })
	d.status = status(s, pods, currentRev, updateRev, now)
	for _, p := range pods {
		if runningAndReady(p) && !available(p, minReady, now) {
			d.notYetAvailable = true
		}
	}

	monotonic := s.Spec.PodManagementPolicy != api.ParallelPodManagement
	for i, p := range slots {
		switch {
		case p == nil:
			d.create = append(d.create, i)
		case p.DeletionTimestamp != nil:
		case podstate.Finished(p):
			d.delete = append(d.delete, p)
		case available(p, minReady, now):
			continue
		}
		if monotonic {
			return d // one step at a time, in order
		}
	}
	for _, p := range condemned {
		if p.DeletionTimestamp == nil {
			d.delete = append(d.delete, p)
		}
		if monotonic {
			return d
		}
	}
	if s.Spec.UpdateStrategy.Type == api.OnDeleteStatefulSetStrategyType {
		return d
	}
	if len(d.create) > 0 || len(d.delete) > 0 {
		return d // Parallel: update once the set is whole
	}
	partition := 0
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	// Each old pod replaced costs one of maxUnavailable; so does each pod
	// at or above the partition already updated or going but not yet
	// available. Old pods that are down cost too, so that the order holds.
	budget := maxUnavailable(s, n)
	for i := max(partition, 0); i < n; i++ {
		if p := slots[i]; p.DeletionTimestamp != nil || (p.Labels[RevisionLabel] == updateRev && !available(p, minReady, now)) {
			budget--
		}
	}
	for i := n - 1; i >= partition && budget > 0; i-- {
		if p := slots[i]; p.Labels[RevisionLabel] != updateRev && p.DeletionTimestamp == nil {
			d.delete = append(d.delete, p)
			budget--
		}
	}
	return d
}

// maxUnavailable is how many replicas a rolling update takes down at
// once: the strategy's count or percentage of the replicas (rounded up,
// as Kubernetes), at least 1; default 1, one at a time.
func maxUnavailable(s *api.StatefulSet, n int) int {
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		if v, err := ru.MaxUnavailable.GetScaledValue(n, true); err == nil {
			return max(v, 1)
		}
	}
	return 1
}

// status is s's status for its pods: counts of pods, ready, available,
// on the current and the update revision; and the rollout finished
// (current := update) once every replica is updated and ready.
func status(s *api.StatefulSet, pods []*api.Pod, currentRev, updateRev string, now time.Time) api.StatefulSetStatus {
	st := api.StatefulSetStatus{
		ObservedGeneration: s.Generation,
		CurrentRevision:    currentRev,
		UpdateRevision:     updateRev,
		CollisionCount:     s.Status.CollisionCount,
		Conditions:         s.Status.Conditions,
	}
	for _, p := range pods {
		if ordinalOf(s, p) < 0 {
			continue
		}
		st.Replicas++
		if runningAndReady(p) {
			st.ReadyReplicas++
			if available(p, s.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Labels[RevisionLabel] == currentRev {
			st.CurrentReplicas++
		}
		if p.Labels[RevisionLabel] == updateRev {
			st.UpdatedReplicas++
		}
	}
	n := int32(replicas(s))
	if st.CurrentRevision != st.UpdateRevision && st.Replicas == n && st.UpdatedReplicas == n && st.ReadyReplicas == n {
		st.CurrentRevision = st.UpdateRevision
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}
