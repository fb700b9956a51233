package scheduler

import (
	"github.com/skiffhq/skiff/server/api"
)

// NodeInfo is a node with the pods on it (bound or assumed) and their
// sums. The cache never changes a NodeInfo it has published: it changes a
// copy and publishes that, so a snapshot can hold NodeInfos without locks.
type NodeInfo struct {
	// Node is nil while pods name a node the informer has not shown yet.
	Node *api.Node
	Pods []*PodInfo
	// PodsWithAffinity have pod (anti-)affinity terms; PodsWithRequiredAntiAffinity
	// have required anti-affinity terms. Both are subsets of Pods.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	// Requested sums the pods' requests; NonZeroRequested the same with
	// the scoring defaults.
	Requested, NonZeroRequested Resource
	Allocatable                 Resource
	// AllowedPods is the node's allocatable pods.
	AllowedPods int64
	// UsedPorts are the host ports the pods take.
	UsedPorts []hostPort
	// Images maps normalized image names on the node to their sizes.
	Images map[string]int64
}

// NewNodeInfo returns the NodeInfo of a node with no pods.
func NewNodeInfo(n *api.Node) *NodeInfo {
	ni := &NodeInfo{}
	ni.setNode(n)
	return ni
}

// Name is the node's name, or "" for a placeholder.
func (ni *NodeInfo) Name() string {
	if ni.Node == nil {
		return ""
	}
	return ni.Node.Name
}

func (ni *NodeInfo) setNode(n *api.Node) {
	ni.Node = n
	ni.Allocatable = Resource{}
	ni.AllowedPods = 0
	ni.Images = nil
	if n == nil {
		return
	}
	ni.Allocatable.add(n.Status.Allocatable)
	if q, ok := n.Status.Allocatable[api.ResourcePods]; ok {
		ni.AllowedPods = q.Value()
	}
	if len(n.Status.Images) > 0 {
		ni.Images = make(map[string]int64, len(n.Status.Images))
		for _, img := range n.Status.Images {
			for _, name := range img.Names {
				ni.Images[normalizeImage(name)] = img.SizeBytes
			}
		}
	}
}

// clone copies ni deeply enough to change its pod list and sums.
func (ni *NodeInfo) clone() *NodeInfo {
	c := *ni
	c.Pods = append([]*PodInfo(nil), ni.Pods...)
	c.PodsWithAffinity = append([]*PodInfo(nil), ni.PodsWithAffinity...)
	c.PodsWithRequiredAntiAffinity = append([]*PodInfo(nil), ni.PodsWithRequiredAntiAffinity...)
	c.UsedPorts = append([]hostPort(nil), ni.UsedPorts...)
	c.Requested = ni.Requested.clone()
	c.NonZeroRequested = ni.NonZeroRequested.clone()
	return &c
}

// addPod counts pi on the node.
func (ni *NodeInfo) addPod(pi *PodInfo) {
	ni.Pods = append(ni.Pods, pi)
	if pi.hasAffinity() {
		ni.PodsWithAffinity = append(ni.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinity) > 0 {
		ni.PodsWithRequiredAntiAffinity = append(ni.PodsWithRequiredAntiAffinity, pi)
	}
	ni.Requested.plus(pi.Request, 1)
	ni.NonZeroRequested.plus(pi.NonZero, 1)
	ni.UsedPorts = append(ni.UsedPorts, pi.Ports...)
}

// removePod takes the pod with key off the node; false if it is not there.
func (ni *NodeInfo) removePod(key string) bool {
	i := indexOf(ni.Pods, key)
	if i < 0 {
		return false
	}
	pi := ni.Pods[i]
	ni.Pods = deleteAt(ni.Pods, i)
	if j := indexOf(ni.PodsWithAffinity, key); j >= 0 {
		ni.PodsWithAffinity = deleteAt(ni.PodsWithAffinity, j)
	}
	if j := indexOf(ni.PodsWithRequiredAntiAffinity, key); j >= 0 {
		ni.PodsWithRequiredAntiAffinity = deleteAt(ni.PodsWithRequiredAntiAffinity, j)
	}
	ni.Requested.plus(pi.Request, -1)
	ni.NonZeroRequested.plus(pi.NonZero, -1)
	for _, p := range pi.Ports {
		for k, u := range ni.UsedPorts {
			if u == p {
				ni.UsedPorts = append(ni.UsedPorts[:k], ni.UsedPorts[k+1:]...)
				break
			}
		}
	}
	return true
}

func indexOf(list []*PodInfo, key string) int {
	for i, p := range list {
		if p.Key == key {
			return i
		}
	}
	return -1
}

// deleteAt removes element i without keeping the order.
func deleteAt(list []*PodInfo, i int) []*PodInfo {
	last := len(list) - 1
	list[i] = list[last]
	list[last] = nil
	return list[:last]
}
