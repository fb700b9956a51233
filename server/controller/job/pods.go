package job

import (
	"sort"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
)

// The labels Kubernetes has put on job pods before the batch.kubernetes.io
// ones; pods carry both, so selectors written for either match.
const (
	legacyControllerUIDLabel = "controller-uid"
	legacyJobNameLabel       = "job-name"
)

// ownerRef is the controller reference a job's pods carry.
func ownerRef(j *api.Job) api.OwnerReference {
	return api.NewControllerRef(j, "batch/v1", "Job")
}

// podFromTemplate is a pod the job creates: the template's metadata and
// spec, a name generated from the job's, the controller-uid and job-name
// labels, and the job as controller.
func podFromTemplate(j *api.Job) *api.Pod {
	t := &j.Spec.Template
	prefix := owner.PodNamePrefix(j.Name)
	labels := make(map[string]string, len(t.Labels)+4)
	for k, v := range t.Labels {
		labels[k] = v
	}
	labels[api.JobControllerUIDLabel] = j.UID
	labels[legacyControllerUIDLabel] = j.UID
	if len(j.Name) <= 63 {
		labels[api.JobNameLabel] = j.Name
		labels[legacyJobNameLabel] = j.Name
	}
	var annotations map[string]string
	if t.Annotations != nil {
		annotations = make(map[string]string, len(t.Annotations))
		for k, v := range t.Annotations {
			annotations[k] = v
		}
	}
	// The spec shares slices and maps with the cached job; the registry
	// clones what it is given before changing it.
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{
			GenerateName:    prefix,
			Namespace:       j.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			Finalizers:      append([]string(nil), t.Finalizers...),
			OwnerReferences: []api.OwnerReference{ownerRef(j)},
		},
		Spec: t.Spec,
	}
}

func isTerminal(p *api.Pod) bool {
	return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
}

// isActive: the pod counts as running for the job — not finished, not
// being deleted.
func isActive(p *api.Pod) bool { return !isTerminal(p) && p.DeletionTimestamp == nil }

// restarts is the pod's container restarts: under restartPolicy
// OnFailure these are the job's failures, as the pod never fails.
func restarts(p *api.Pod) int32 {
	var n int32
	for _, c := range p.Status.InitContainerStatuses {
		n += c.RestartCount
	}
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

// finishSeen remembers when the controller first saw a pod finished, for
// pods whose containers say no finish time.
type finishSeen struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func newFinishSeen() *finishSeen { return &finishSeen{m: map[string]time.Time{}} }

// finishTime is when a finished pod finished: its containers' latest
// finishedAt, else when it was first seen finished (now, the first time).
func (s *finishSeen) finishTime(p *api.Pod, now time.Time) time.Time {
	var t time.Time
	for _, cs := range append(append([]api.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.m[p.UID]; ok {
		return at
	}
	s.m[p.UID] = now
	return now
}

func (s *finishSeen) forget(uid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, uid)
}

// deleteFirst orders surplus pods for deletion: unscheduled before
// scheduled, pending before running, not ready before ready, newer
// before older; the name breaks ties.
func deleteFirst(a, b *api.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if ra, rb := a.Status.Phase == api.PodRunning, b.Status.Phase == api.PodRunning; ra != rb {
		return !ra
	}
	if podstate.Ready(a) != podstate.Ready(b) {
		return !podstate.Ready(a)
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
