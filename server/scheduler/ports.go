package scheduler

import "context"

// NodePorts keeps a pod off nodes where a host port it asks for is taken.
type NodePorts struct{}

var (
	_ PreFilterPlugin = NodePorts{}
	_ FilterPlugin    = NodePorts{}
)

// Name of the plugin.
func (NodePorts) Name() string { return "NodePorts" }

const reasonNodePorts = "node(s) didn't have free ports for the requested pod ports"

// PreFilter skips pods that ask for no host port.
func (NodePorts) PreFilter(_ context.Context, _ *CycleState, pod *PodInfo, _ *Snapshot) *Status {
	if len(pod.Ports) == 0 {
		return NewStatus(Skip)
	}
	return nil
}

// Filter refuses a node where a wanted port is in use: same protocol and
// port, and the same address or either on all addresses (0.0.0.0).
func (NodePorts) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	for _, want := range pod.Ports {
		for _, used := range node.UsedPorts {
			if portsConflict(want, used) {
				return NewStatus(Unschedulable, reasonNodePorts)
			}
		}
	}
	return nil
}

func portsConflict(a, b hostPort) bool {
	if a.port != b.port || a.protocol != b.protocol {
		return false
	}
	return a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0"
}
