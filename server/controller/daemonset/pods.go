package daemonset

import (
	"strconv"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/deployment"
)

// The labels a daemon pod carries, as Kubernetes'.
const (
	// RevisionLabel is the hash of the template the pod was made from.
	RevisionLabel = "controller-revision-hash"
	// TemplateGenerationLabel is the daemon set's generation then.
	TemplateGenerationLabel = "pod-template-generation"
)

// The taints every daemon pod tolerates, as Kubernetes adds them: a
// daemon keeps running on a node that is not ready or unreachable, and
// is placed on nodes under pressure or cordoned.
var defaultTolerations = []api.Toleration{
	{Key: "node.kubernetes.io/not-ready", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute},
	{Key: "node.kubernetes.io/unreachable", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute},
	{Key: "node.kubernetes.io/disk-pressure", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/memory-pressure", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/pid-pressure", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/unschedulable", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
}

// withDefaultTolerations returns ts plus each default toleration it does
// not already have (by key and effect).
func withDefaultTolerations(ts []api.Toleration) []api.Toleration {
	out := append([]api.Toleration(nil), ts...)
	for _, d := range defaultTolerations {
		have := false
		for _, t := range ts {
			if t.Key == d.Key && t.Effect == d.Effect {
				have = true
				break
			}
		}
		if !have {
			out = append(out, d)
		}
	}
	return out
}

// templateHash is the revision of ds's template.
func templateHash(ds *api.DaemonSet) string {
	return deployment.TemplateHash(&ds.Spec.Template, ds.Status.CollisionCount)
}

// newPod is the pod ds runs on node: the template, the revision labels,
// the default tolerations, and a required node affinity for node alone
// (replacing the template's required terms, which node is known to
// match, as Kubernetes' ReplaceDaemonSetPodNodeNameNodeAffinity does).
func newPod(ds *api.DaemonSet, node, hash string) *api.Pod {
	t := &ds.Spec.Template
	labels := make(map[string]string, len(t.Labels)+2)
	for k, v := range t.Labels {
		labels[k] = v
	}
	labels[RevisionLabel] = hash
	labels[TemplateGenerationLabel] = strconv.FormatInt(ds.Generation, 10)
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{
			GenerateName:    generateName(ds.Name),
			Namespace:       ds.Namespace,
			Labels:          labels,
			Annotations:     copyMap(t.Annotations),
			Finalizers:      append([]string(nil), t.Finalizers...),
			OwnerReferences: []api.OwnerReference{ownerRef(ds)},
		},
		// The spec shares slices and maps with the cached daemon set;
		// the registry clones what it is given, and the two fields
		// changed here are replaced, not edited.
		Spec: t.Spec,
	}
	pod.Spec.Tolerations = withDefaultTolerations(t.Spec.Tolerations)
	pod.Spec.Affinity = nodeAffinityFor(t.Spec.Affinity, node)
	return pod
}

// nodeAffinityFor returns a copy of a with its required node affinity
// replaced by the one term "metadata.name In [node]".
func nodeAffinityFor(a *api.Affinity, node string) *api.Affinity {
	out := &api.Affinity{}
	if a != nil {
		*out = *a
	}
	na := &api.NodeAffinity{}
	if out.NodeAffinity != nil {
		*na = *out.NodeAffinity
	}
	na.RequiredDuringSchedulingIgnoredDuringExecution = &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{{
		MatchFields: []api.NodeSelectorRequirement{{Key: "metadata.name", Operator: api.NodeSelectorOpIn, Values: []string{node}}},
	}}}
	out.NodeAffinity = na
	return out
}

// targetNode is the node a daemon pod is for: where it is bound, or the
// node its matchFields affinity names; "" if neither.
func targetNode(p *api.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && f.Operator == api.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// maxPrefixLength keeps generated names within a DNS label: the store
// appends five random characters.
const maxPrefixLength = 63 - 5

func generateName(name string) string {
	prefix := name + "-"
	if len(prefix) > maxPrefixLength {
		prefix = prefix[:maxPrefixLength]
	}
	return prefix
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

// controllerOf returns the owner reference with controller=true, if any.
func controllerOf(m *api.ObjectMeta) *api.OwnerReference {
	for i := range m.OwnerReferences {
		if r := &m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

func ownerRef(ds *api.DaemonSet) api.OwnerReference {
	yes := true
	return api.OwnerReference{
		APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID,
		Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

func objectRef(ds *api.DaemonSet) api.ObjectReference {
	return api.ObjectReference{Kind: "DaemonSet", APIVersion: "apps/v1", Namespace: ds.Namespace, Name: ds.Name, UID: ds.UID}
}

func podKey(p *api.Pod) string { return p.Namespace + "/" + p.Name }

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

// isAvailable: ready for at least minReadySeconds at now.
func isAvailable(p *api.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(p)
	if c == nil || c.Status != api.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !c.LastTransitionTime.IsZero() &&
		!c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).After(now)
}

func isFinished(p *api.Pod) bool {
	return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
}
