package scheduler

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
)

// NodeUnschedulable keeps pods off cordoned nodes (spec.unschedulable),
// unless they tolerate the node.kubernetes.io/unschedulable taint.
type NodeUnschedulable struct{}

var _ FilterPlugin = NodeUnschedulable{}

// Name of the plugin.
func (NodeUnschedulable) Name() string { return "NodeUnschedulable" }

// TaintNodeUnschedulable is the taint a cordoned node is treated as having.
const TaintNodeUnschedulable = "node.kubernetes.io/unschedulable"

const reasonUnschedulable = "node(s) were unschedulable"

// Filter refuses a cordoned node.
func (NodeUnschedulable) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	if !node.Node.Spec.Unschedulable {
		return nil
	}
	cordon := api.Taint{Key: TaintNodeUnschedulable, Effect: api.TaintEffectNoSchedule}
	for i := range pod.Pod.Spec.Tolerations {
		if tolerates(&pod.Pod.Spec.Tolerations[i], &cordon) {
			return nil
		}
	}
	return NewStatus(UnschedulableAndUnresolvable, reasonUnschedulable)
}
