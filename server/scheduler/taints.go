package scheduler

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
)

// TaintToleration keeps pods off nodes with NoSchedule or NoExecute taints
// they do not tolerate, and prefers nodes with fewer untolerated
// PreferNoSchedule taints.
type TaintToleration struct{}

var (
	_ FilterPlugin    = TaintToleration{}
	_ PreScorePlugin  = TaintToleration{}
	_ ScorePlugin     = TaintToleration{}
	_ ScoreNormalizer = TaintToleration{}
)

// Name of the plugin.
func (TaintToleration) Name() string { return "TaintToleration" }

// tolerates reports whether t tolerates taint, as Kubernetes matches them:
// an empty effect matches every effect, an empty key with Exists every
// key, and Equal (or no operator) needs equal values.
func tolerates(t *api.Toleration, taint *api.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case api.TolerationOpExists:
		return true
	case api.TolerationOpEqual, "":
		return t.Value == taint.Value
	}
	return false
}

func toleratedBy(taint *api.Taint, ts []api.Toleration) bool {
	for i := range ts {
		if tolerates(&ts[i], taint) {
			return true
		}
	}
	return false
}

// Filter refuses a node with an untolerated NoSchedule or NoExecute taint,
// naming the first: "node(s) had untolerated taint {key: value}".
func (TaintToleration) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	for i := range node.Node.Spec.Taints {
		t := &node.Node.Spec.Taints[i]
		if t.Effect != api.TaintEffectNoSchedule && t.Effect != api.TaintEffectNoExecute {
			continue
		}
		if !toleratedBy(t, pod.Pod.Spec.Tolerations) {
			return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
		}
	}
	return nil
}

const taintStateKey = "TaintToleration"

// PreScore keeps the tolerations that count for PreferNoSchedule taints.
func (TaintToleration) PreScore(_ context.Context, state *CycleState, pod *PodInfo, _ []*NodeInfo) *Status {
	var ts []api.Toleration
	for _, t := range pod.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == api.TaintEffectPreferNoSchedule {
			ts = append(ts, t)
		}
	}
	state.Write(taintStateKey, ts)
	return nil
}

// Score counts the untolerated PreferNoSchedule taints (NormalizeScore
// turns fewer into higher).
func (TaintToleration) Score(_ context.Context, state *CycleState, _ *PodInfo, node *NodeInfo) (int64, *Status) {
	ts, _ := state.Read(taintStateKey).([]api.Toleration)
	var n int64
	for i := range node.Node.Spec.Taints {
		t := &node.Node.Spec.Taints[i]
		if t.Effect == api.TaintEffectPreferNoSchedule && !toleratedBy(t, ts) {
			n++
		}
	}
	return n, nil
}

// NormalizeScore maps the counts onto 0-100, the fewest highest.
func (TaintToleration) NormalizeScore(_ context.Context, _ *CycleState, _ *PodInfo, scores []int64) *Status {
	normalize(scores, true)
	return nil
}

// normalize maps scores onto 0-100 relative to the largest; reverse makes
// the smallest best. All zero gives 100 when reversed and 0 otherwise.
func normalize(scores []int64, reverse bool) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s)
	}
	for i, s := range scores {
		switch {
		case hi == 0 && reverse:
			scores[i] = MaxNodeScore
		case hi == 0:
			scores[i] = 0
		case reverse:
			scores[i] = MaxNodeScore - s*MaxNodeScore/hi
		default:
			scores[i] = s * MaxNodeScore / hi
		}
	}
}
