package scheduler

import (
	"context"
	"sort"
)

// NodeResourcesFit keeps a pod off nodes that lack room for its requests:
// allocatable less what the pods already there (bound or assumed)
// request, per resource, and one pod slot of the node's allocatable pods.
type NodeResourcesFit struct{}

var _ FilterPlugin = NodeResourcesFit{}

// Name of the plugin.
func (NodeResourcesFit) Name() string { return "NodeResourcesFit" }

const reasonTooManyPods = "Too many pods"

// Filter refuses a node without room, naming every resource that is short:
// "Insufficient cpu", "Insufficient memory", "Too many pods".
func (NodeResourcesFit) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	var reasons []string
	if int64(len(node.Pods))+1 > node.AllowedPods {
		reasons = append(reasons, reasonTooManyPods)
	}
	r, used, alloc := pod.Request, node.Requested, node.Allocatable
	if r.MilliCPU > 0 && r.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if r.Memory > 0 && r.Memory > alloc.Memory-used.Memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if r.EphemeralStorage > 0 && r.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	if len(r.Scalar) > 0 {
		var short []string
		for name, v := range r.Scalar {
			if v > 0 && v > alloc.Scalar[name]-used.Scalar[name] {
				short = append(short, "Insufficient "+name)
			}
		}
		sort.Strings(short)
		reasons = append(reasons, short...)
	}
	if len(reasons) > 0 {
		return NewStatus(Unschedulable, reasons...)
	}
	return nil
}
