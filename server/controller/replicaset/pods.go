package replicaset

import (
	"maps"
	"sort"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

// ownerRef is the controller reference a replica set's pods carry.
func ownerRef(rs *api.ReplicaSet) api.OwnerReference {
	return api.NewControllerRef(rs, "apps/v1", "ReplicaSet")
}

// podFromTemplate is the pod rs creates: the template's metadata and spec,
// a name generated from the replica set's, and rs as controller.
func podFromTemplate(rs *api.ReplicaSet) *api.Pod {
	t := &rs.Spec.Template
	prefix := owner.PodNamePrefix(rs.Name)
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{
			GenerateName:    prefix,
			Namespace:       rs.Namespace,
			Labels:          maps.Clone(t.Labels),
			Annotations:     maps.Clone(t.Annotations),
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

// isActive: the pod counts towards replicas — not finished, not being
// deleted.
func isActive(p *api.Pod) bool {
	return p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed && p.DeletionTimestamp == nil
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
	if podstate.Ready(a) != podstate.Ready(b) {
		return !podstate.Ready(a)
	}
	if podstate.Ready(a) {
		ta, tb := podstate.ReadyCondition(a).LastTransitionTime, podstate.ReadyCondition(b).LastTransitionTime
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
