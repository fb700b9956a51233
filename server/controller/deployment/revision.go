package deployment

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/server/api"
)

// The labels and annotations of Kubernetes' deployment controller.
const (
	// PodTemplateHashLabel is on a replica set's selector, template and
	// pods: the hash of the template the replica set was made from.
	PodTemplateHashLabel = "pod-template-hash"
	// RevisionAnnotation numbers a replica set (and its deployment's
	// current one) in rollout order, from 1.
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists the earlier revisions a replica set
	// had before a rollback made it current again.
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the deployment's replicas when the
	// replica set was last scaled; proportional scaling reads it.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// MaxReplicasAnnotation is replicas + maxSurge at that time.
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
	// RestartedAtAnnotation on the template makes `skiff rollout restart`
	// a new revision.
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	// ChangeCauseAnnotation is shown by `skiff rollout history`.
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
)

// maxRevisionHistoryChars bounds the revision-history annotation.
const maxRevisionHistoryChars = 2000

// notCopied are the deployment annotations a replica set does not take.
var notCopied = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	"skiff.dev/last-applied-configuration":             true, // skiff apply's; a rollback must not bring an old one back
	RevisionAnnotation:                                 true,
	RevisionHistoryAnnotation:                          true,
	DesiredReplicasAnnotation:                          true,
	MaxReplicasAnnotation:                              true,
	"deprecated.deployment.rollback.to":                true,
}

// safeChars is the alphabet of generated names: no vowels, no 0, 1 or 3,
// so a hash never spells a word.
const safeChars = "bcdfghjklmnpqrstvwxz2456789"

// TemplateHash is the pod-template-hash of a template: FNV-32a of its
// JSON (and the collision count, if any), written as Kubernetes writes it.
func TemplateHash(t *api.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(t) // a template always marshals
	h.Write(b)
	if collisionCount != nil {
		var c [4]byte
		binary.LittleEndian.PutUint32(c[:], uint32(*collisionCount))
		h.Write(c[:])
	}
	digits := strconv.FormatUint(uint64(h.Sum32()), 10)
	out := make([]byte, len(digits))
	for i := range digits {
		out[i] = safeChars[int(digits[i])%len(safeChars)]
	}
	return string(out)
}

// EqualIgnoreHash reports whether two templates are the same but for
// the pod-template-hash label.
func EqualIgnoreHash(a, b *api.PodTemplateSpec) bool {
	return bytes.Equal(templateKey(a), templateKey(b))
}

func templateKey(t *api.PodTemplateSpec) []byte {
	if _, ok := t.Labels[PodTemplateHashLabel]; ok {
		c := *t
		c.Labels = make(map[string]string, len(t.Labels))
		for k, v := range t.Labels {
			if k != PodTemplateHashLabel {
				c.Labels[k] = v
			}
		}
		t = &c
	}
	b, _ := json.Marshal(t)
	return b
}

// Revision is a replica set's revision number, 0 if it has none.
func Revision(o api.Object) int64 {
	v, err := strconv.ParseInt(o.GetObjectMeta().Annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(rss []*api.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs))
	}
	return m
}

// setNewReplicaSetAnnotations gives the new replica set the deployment's
// annotations and the revision newRevision (keeping the one it had, if a
// rollback brings it back, in its revision history). A replica set about
// to be created also gets the replicas annotations. It reports whether
// anything changed.
func setNewReplicaSetAnnotations(d *api.Deployment, rs *api.ReplicaSet, newRevision int64, exists bool) bool {
	changed := copyDeploymentAnnotations(d, rs)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	oldText, had := rs.Annotations[RevisionAnnotation]
	old, err := strconv.ParseInt(oldText, 10, 64)
	if err != nil {
		if oldText != "" {
			return changed // not ours to renumber
		}
		old = 0
	}
	if old < newRevision {
		rs.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had {
			rs.Annotations[RevisionHistoryAnnotation] = appendHistory(rs.Annotations[RevisionHistoryAnnotation], oldText)
		}
	}
	if !exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// appendHistory adds rev to a comma-separated history, dropping the
// oldest entries beyond maxRevisionHistoryChars.
func appendHistory(history, rev string) string {
	if history == "" {
		return rev
	}
	revs := append(strings.Split(history, ","), rev)
	for len(revs) > 1 && len(strings.Join(revs, ",")) > maxRevisionHistoryChars {
		revs = revs[1:]
	}
	return strings.Join(revs, ",")
}

// copyDeploymentAnnotations copies d's annotations (but the controller's
// own) onto rs; it reports whether any changed.
func copyDeploymentAnnotations(d *api.Deployment, rs *api.ReplicaSet) bool {
	changed := false
	for k, v := range d.Annotations {
		if notCopied[k] {
			continue
		}
		if cur, ok := rs.Annotations[k]; ok && cur == v {
			continue
		}
		if rs.Annotations == nil {
			rs.Annotations = map[string]string{}
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setReplicasAnnotations records the deployment's size on rs.
func setReplicasAnnotations(rs *api.ReplicaSet, desired, maxReplicas int32) bool {
	if !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false
	}
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[DesiredReplicasAnnotation] = strconv.Itoa(int(desired))
	rs.Annotations[MaxReplicasAnnotation] = strconv.Itoa(int(maxReplicas))
	return true
}

func replicasAnnotationsNeedUpdate(rs *api.ReplicaSet, desired, maxReplicas int32) bool {
	return rs.Annotations[DesiredReplicasAnnotation] != strconv.Itoa(int(desired)) ||
		rs.Annotations[MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

func intAnnotation(rs *api.ReplicaSet, name string) (int32, bool) {
	v, err := strconv.ParseInt(rs.Annotations[name], 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(v), true
}

// byRevision sorts replica sets oldest revision first (then by creation).
func byRevision(rss []*api.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		ri, rj := Revision(rss[i]), Revision(rss[j])
		if ri != rj {
			return ri < rj
		}
		return olderThan(rss[i], rss[j])
	})
}

// olderThan orders by creation, then name.
func olderThan(a, b *api.ReplicaSet) bool {
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.Before(b.CreationTimestamp.Time)
	}
	return a.Name < b.Name
}

func byCreation(rss []*api.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool { return olderThan(rss[i], rss[j]) })
}
