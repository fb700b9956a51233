package statefulset

import (
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

// The labels a stateful set's pod carries, as Kubernetes'.
const (
	// RevisionLabel is the revision (<set>-<hash>) the pod was made from.
	RevisionLabel = "controller-revision-hash"
	// PodNameLabel is the pod's own name, for a per-replica Service.
	PodNameLabel = "statefulset.kubernetes.io/pod-name"
	// PodIndexLabel is the pod's ordinal.
	PodIndexLabel = "apps.kubernetes.io/pod-index"
)

// revision is the name of the set's template revision: <set>-<hash>.
func revision(s *api.StatefulSet) string {
	return s.Name + "-" + hashOf(s)
}

func replicas(s *api.StatefulSet) int {
	if s.Spec.Replicas == nil {
		return 1
	}
	return int(*s.Spec.Replicas)
}

func podName(s *api.StatefulSet, ordinal int) string {
	return s.Name + "-" + strconv.Itoa(ordinal)
}

// ordinalOf is the ordinal in pod's name, or -1 if it is not
// <set>-<ordinal>.
func ordinalOf(s *api.StatefulSet, p *api.Pod) int {
	return parseOrdinal(p.Name, s.Name)
}

// parseOrdinal is the ordinal in name, or -1 if it is not
// <set>-<ordinal>.
func parseOrdinal(name, set string) int {
	rest, ok := strings.CutPrefix(name, set+"-")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// newPod is replica ordinal of s at revision rev: the template, the
// identity labels, hostname and subdomain, and one persistentVolumeClaim
// volume per claim template (replacing a template volume of that name).
// Where it runs follows from its claims: the scheduler sends a pod to
// the node that holds its claims' volumes.
func newPod(s *api.StatefulSet, ordinal int, rev string) *api.Pod {
	return newPodFrom(s, &s.Spec.Template, ordinal, rev)
}

// newPodFrom is newPod from template t, of revision rev.
func newPodFrom(s *api.StatefulSet, t *api.PodTemplateSpec, ordinal int, rev string) *api.Pod {
	name := podName(s, ordinal)
	labels := make(map[string]string, len(t.Labels)+3)
	for k, v := range t.Labels {
		labels[k] = v
	}
	labels[RevisionLabel] = rev
	labels[PodNameLabel] = name
	labels[PodIndexLabel] = strconv.Itoa(ordinal)
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{
			Name:            name,
			Namespace:       s.Namespace,
			Labels:          labels,
			Annotations:     maps.Clone(t.Annotations),
			Finalizers:      append([]string(nil), t.Finalizers...),
			OwnerReferences: []api.OwnerReference{ownerRef(s)},
		},
		// Shares slices and maps with the cached set; the fields changed
		// below are replaced, not edited, and the registry clones.
		Spec: t.Spec,
	}
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = s.Spec.ServiceName
	if len(s.Spec.VolumeClaimTemplates) > 0 {
		claims := claimNames(s, ordinal)
		vols := make([]api.Volume, 0, len(t.Spec.Volumes)+len(claims))
		byName := map[string]string{}
		for i, ct := range s.Spec.VolumeClaimTemplates {
			byName[ct.Name] = claims[i]
		}
		for _, v := range t.Spec.Volumes {
			if _, ok := byName[v.Name]; !ok {
				vols = append(vols, v)
			}
		}
		for _, ct := range s.Spec.VolumeClaimTemplates {
			vols = append(vols, api.Volume{Name: ct.Name, VolumeSource: api.VolumeSource{
				PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: byName[ct.Name]},
			}})
		}
		pod.Spec.Volumes = vols
	}
	return pod
}

func ownerRef(s *api.StatefulSet) api.OwnerReference {
	return api.NewControllerRef(s, "apps/v1", "StatefulSet")
}

func objectRef(s *api.StatefulSet) api.ObjectReference {
	return api.ObjectReference{Kind: "StatefulSet", APIVersion: "apps/v1", Namespace: s.Namespace, Name: s.Name, UID: s.UID}
}

// runningAndReady: phase Running and the Ready condition true.
func runningAndReady(p *api.Pod) bool {
	return p.Status.Phase == api.PodRunning && podstate.Ready(p)
}

// available: running and ready for at least minReadySeconds at now.
func available(p *api.Pod, minReadySeconds int32, now time.Time) bool {
	return p.Status.Phase == api.PodRunning && podstate.Available(p, minReadySeconds, now, podstate.AtEnd)
}
