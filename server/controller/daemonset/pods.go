package daemonset

import (
	"maps"
	"strconv"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/deployment"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
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
			GenerateName:    owner.PodNamePrefix(ds.Name),
			Namespace:       ds.Namespace,
			Labels:          labels,
			Annotations:     maps.Clone(t.Annotations),
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

func ownerRef(ds *api.DaemonSet) api.OwnerReference {
	return api.NewControllerRef(ds, "apps/v1", "DaemonSet")
}

func objectRef(ds *api.DaemonSet) api.ObjectReference {
	return api.ObjectReference{Kind: "DaemonSet", APIVersion: "apps/v1", Namespace: ds.Namespace, Name: ds.Name, UID: ds.UID}
}

func podKey(p *api.Pod) string { return p.Namespace + "/" + p.Name }
