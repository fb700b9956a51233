package replicaset

import (
	"sort"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// maxPrefixLength keeps generated pod names within a DNS label (63): the
// store appends five random characters to the generateName prefix.
const maxPrefixLength = 63 - 5

// ownerRef is the controller reference a replica set's pods carry.
func ownerRef(rs *api.ReplicaSet) api.OwnerReference {
	yes := true
	return api.OwnerReference{
		APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID,
		Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

// podFromTemplate is the pod rs creates: the template's metadata and spec,
// a name generated from the replica set's, and rs as controller.
func podFromTemplate(rs *api.ReplicaSet) *api.Pod {
	t := &rs.Spec.Template
	prefix := rs.Name + "-"
	if len(prefix) > maxPrefixLength {
		prefix = prefix[:maxPrefixLength]
	}
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{
			GenerateName:    prefix,
			Namespace:       rs.Namespace,
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			Finalizers:      append([]string(nil), t.Finalizers...),
			OwnerReferences: []api.OwnerReference{ownerRef(rs)},
		},
		Spec: t.Spec,
	}
	// The spec shares slices and maps with the cached replica set; the
	// registry clones what it is given before changing it, so sharing is
	// safe here and saves a deep copy per pod.
	return pod
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// isActive: the pod counts towards replicas — not finished, not being
// deleted.
func isActive(p *api.Pod) bool {
	return p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed && p.DeletionTimestamp == nil
}

// readyCondition returns the pod's Ready condition, if any.
func readyCondition(p *api.Pod) *api.PodCondition {
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == api.PodReady {
			return c
		}
	}
	return nil
}

func isReady(p *api.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == api.ConditionTrue
}

// isAvailable: ready for at least minReadySeconds at now, as Kubernetes'
// IsPodAvailable.
func isAvailable(p *api.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(p)
	if c == nil || c.Status != api.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !c.LastTransitionTime.IsZero() &&
		c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// fullyLabeled: the pod carries every label of the template.
func fullyLabeled(p *api.Pod, template map[string]string) bool {
	for k, v := range template {
		if got, ok := p.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// phaseRank orders phases for deletion: the less far along, the sooner.
func phaseRank(p api.PodPhase) int {
	switch p {
	case api.PodPending, "":
		return 0
	case api.PodUnknown:
		return 1
	}
	return 2
}

func restarts(p *api.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// deleteFirst reports whether a should be deleted before b when a replica
// set shrinks, in Kubernetes' order: unscheduled before scheduled,
// pending before unknown before running, not ready before ready, ready
// for less time before longer, more restarts before fewer, newer before
// older. The name breaks ties, so the choice is deterministic.
func deleteFirst(a, b *api.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if ra, rb := phaseRank(a.Status.Phase), phaseRank(b.Status.Phase); ra != rb {
		return ra < rb
	}
	if isReady(a) != isReady(b) {
		return !isReady(a)
	}
	if isReady(a) {
		ta, tb := readyCondition(a).LastTransitionTime, readyCondition(b).LastTransitionTime
		if !ta.Equal(tb.Time) {
			return ta.After(tb.Time)
		}
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	}
	return a.Name > b.Name
}

// podsToDelete picks the n pods to delete first.
func podsToDelete(pods []*api.Pod, n int) []*api.Pod {
	sorted := append([]*api.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool { return deleteFirst(sorted[i], sorted[j]) })
	return sorted[:min(n, len(sorted))]
}

func podKey(p *api.Pod) string { return p.Namespace + "/" + p.Name }
