package scheduler

import "context"

// LeastAllocated prefers the node with the most CPU and memory left after
// placing the pod (counting unset requests as 0.1 CPU and 200 MiB), so
// that load spreads out.
type LeastAllocated struct{}

var _ ScorePlugin = LeastAllocated{}

// Name of the plugin.
func (LeastAllocated) Name() string { return "LeastAllocated" }

// Score is the average over CPU and memory of the share left free, 0-100.
func (LeastAllocated) Score(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status) {
	cpu := leastScore(node.NonZeroRequested.MilliCPU+pod.NonZero.MilliCPU, node.Allocatable.MilliCPU)
	mem := leastScore(node.NonZeroRequested.Memory+pod.NonZero.Memory, node.Allocatable.Memory)
	return (cpu + mem) / 2, nil
}

func leastScore(requested, capacity int64) int64 {
	if capacity <= 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * MaxNodeScore / capacity
}

// BalancedAllocation prefers the node where, after placing the pod, CPU
// and memory are used in the most equal shares, so that neither runs out
// while the other idles.
type BalancedAllocation struct{}

var _ ScorePlugin = BalancedAllocation{}

// Name of the plugin.
func (BalancedAllocation) Name() string { return "BalancedAllocation" }

// Score is 100 × (1 − the standard deviation of the used shares); for two
// resources that is half their difference.
func (BalancedAllocation) Score(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status) {
	cpu := share(node.Requested.MilliCPU+pod.Request.MilliCPU, node.Allocatable.MilliCPU)
	mem := share(node.Requested.Memory+pod.Request.Memory, node.Allocatable.Memory)
	d := cpu - mem
	if d < 0 {
		d = -d
	}
	return int64((1 - d/2) * float64(MaxNodeScore)), nil
}

// share is requested/capacity, at most 1.
func share(requested, capacity int64) float64 {
	if capacity <= 0 {
		return 1
	}
	return min(1, float64(requested)/float64(capacity))
}
