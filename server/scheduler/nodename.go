package scheduler

import "context"

// NodeName keeps a pod that names a node (spec.nodeName) off every other
// node. Pods that are already bound never reach the scheduler; this
// matters for the nomination checks preemption will make.
type NodeName struct{}

var _ FilterPlugin = NodeName{}

// Name of the plugin.
func (NodeName) Name() string { return "NodeName" }

const reasonNodeName = "node(s) didn't match the requested node name"

// Filter refuses every node but the named one.
func (NodeName) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	if pod.Pod.Spec.NodeName == "" || pod.Pod.Spec.NodeName == node.Node.Name {
		return nil
	}
	return NewStatus(UnschedulableAndUnresolvable, reasonNodeName)
}
