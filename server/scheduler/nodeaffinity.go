package scheduler

import (
	"context"
	"strconv"

	"github.com/skiffhq/skiff/server/api"
)

// NodeAffinity keeps pods on nodes whose labels match their nodeSelector
// and required node affinity, and prefers nodes that match the preferred
// terms (the sum of the matching terms' weights).
type NodeAffinity struct{}

var (
	_ PreFilterPlugin = NodeAffinity{}
	_ FilterPlugin    = NodeAffinity{}
	_ PreScorePlugin  = NodeAffinity{}
	_ ScorePlugin     = NodeAffinity{}
	_ ScoreNormalizer = NodeAffinity{}
)

// Name of the plugin.
func (NodeAffinity) Name() string { return "NodeAffinity" }

const reasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector"

// requiredNodeAffinity is what a pod demands of a node's labels.
type requiredNodeAffinity struct {
	selector map[string]string
	terms    []api.NodeSelectorTerm // nil: no required node affinity
	hasTerms bool
}

func requiredNodeAffinityOf(p *api.Pod) requiredNodeAffinity {
	r := requiredNodeAffinity{selector: p.Spec.NodeSelector}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		r.terms = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		r.hasTerms = true
	}
	return r
}

func (r *requiredNodeAffinity) empty() bool { return len(r.selector) == 0 && !r.hasTerms }

// matches reports whether node n satisfies the selector and, if any,
// one of the terms.
func (r *requiredNodeAffinity) matches(n *api.Node) bool {
	for k, v := range r.selector {
		if lv, ok := n.Labels[k]; !ok || lv != v {
			return false
		}
	}
	if !r.hasTerms {
		return true
	}
	for i := range r.terms {
		if termMatches(&r.terms[i], n) {
			return true
		}
	}
	return false
}

// termMatches reports whether every requirement of t holds for n. A term
// with no requirements matches nothing, as in Kubernetes.
func termMatches(t *api.NodeSelectorTerm, n *api.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for i := range t.MatchExpressions {
		r := &t.MatchExpressions[i]
		v, has := n.Labels[r.Key]
		if !requirementMatches(r, v, has) {
			return false
		}
	}
	for i := range t.MatchFields {
		r := &t.MatchFields[i]
		if r.Key != "metadata.name" || !requirementMatches(r, n.Name, true) {
			return false
		}
	}
	return true
}

// requirementMatches applies one requirement to a label's value.
func requirementMatches(r *api.NodeSelectorRequirement, v string, has bool) bool {
	switch r.Operator {
	case api.NodeSelectorOpIn:
		return has && contains(r.Values, v)
	case api.NodeSelectorOpNotIn:
		return !has || !contains(r.Values, v)
	case api.NodeSelectorOpExists:
		return has
	case api.NodeSelectorOpDoesNotExist:
		return !has
	case api.NodeSelectorOpGt, api.NodeSelectorOpLt:
		if !has || len(r.Values) != 1 {
			return false
		}
		lv, err1 := strconv.ParseInt(v, 10, 64)
		rv, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == api.NodeSelectorOpGt {
			return lv > rv
		}
		return lv < rv
	}
	return false
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

const nodeAffinityStateKey = "NodeAffinity"

// PreFilter keeps the pod's requirements; Skip if it has none.
func (NodeAffinity) PreFilter(_ context.Context, state *CycleState, pod *PodInfo, _ *Snapshot) *Status {
	r := requiredNodeAffinityOf(pod.Pod)
	if r.empty() {
		return NewStatus(Skip)
	}
	state.Write(nodeAffinityStateKey, &r)
	return nil
}

// Filter refuses a node whose labels do not match.
func (NodeAffinity) Filter(_ context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	r, ok := state.Read(nodeAffinityStateKey).(*requiredNodeAffinity)
	if !ok {
		rr := requiredNodeAffinityOf(pod.Pod)
		r = &rr
	}
	if r.matches(node.Node) {
		return nil
	}
	return NewStatus(UnschedulableAndUnresolvable, reasonNodeAffinity)
}

const nodeAffinityScoreKey = "NodeAffinity/score"

// PreScore keeps the preferred terms; Skip if there are none.
func (NodeAffinity) PreScore(_ context.Context, state *CycleState, pod *PodInfo, _ []*NodeInfo) *Status {
	a := pod.Pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return NewStatus(Skip)
	}
	state.Write(nodeAffinityScoreKey, a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	return nil
}

// Score sums the weights of the preferred terms the node matches.
func (NodeAffinity) Score(_ context.Context, state *CycleState, _ *PodInfo, node *NodeInfo) (int64, *Status) {
	terms, _ := state.Read(nodeAffinityScoreKey).([]api.PreferredSchedulingTerm)
	var s int64
	for i := range terms {
		if termMatches(&terms[i].Preference, node.Node) {
			s += int64(terms[i].Weight)
		}
	}
	return s, nil
}

// NormalizeScore maps the sums onto 0-100, the largest highest.
func (NodeAffinity) NormalizeScore(_ context.Context, _ *CycleState, _ *PodInfo, scores []int64) *Status {
	normalize(scores, false)
	return nil
}
