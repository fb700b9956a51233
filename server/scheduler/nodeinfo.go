package scheduler

import (
	"maps"
	"strings"

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

	// labelCounts counts the pods by namespace and label (labelKey), so
	// that a selector of one label=value counts without a scan.
	labelCounts map[string]int32
	// terminating counts pods being deleted (spread does not count them).
	terminating int
	// prefTerms sums, per indexable selector (termKey) and topology key,
	// the weights of the pods' preferred affinity terms (anti-affinity
	// negative). Inner maps are never changed once published.
	prefTerms map[string]map[string]int64
	// podsScanPreferred have a preferred term prefTerms cannot index.
	podsScanPreferred []*PodInfo
	// claimCounts counts the pods using each claim (PodInfo.Claims), for
	// ReadWriteOncePod; nil while no pod on the node uses one.
	claimCounts map[string]int32
}

// labelKey is the key of labelCounts and prefTerms: a namespace and one
// label=value.
func labelKey(ns, kv string) string { return ns + "\x00" + kv }

// exactLabel returns "k=v" if sel selects exactly the pods labelled k=v.
func exactLabel(sel api.Selector) (string, bool) {
	s := sel.String()
	if s == "" || strings.ContainsAny(s, ", !()") {
		return "", false
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", false
	}
	if got, ok := sel.RequiresExactMatch(k); !ok || got != v {
		return "", false
	}
	return s, true
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
	c.labelCounts = maps.Clone(ni.labelCounts)
	c.prefTerms = maps.Clone(ni.prefTerms)
	c.podsScanPreferred = append([]*PodInfo(nil), ni.podsScanPreferred...)
	c.claimCounts = maps.Clone(ni.claimCounts)
	return &c
}

// indexPod adds (sign +1) or takes away (-1) pi's labels, preferred
// terms and claims to the node's indexes.
func (ni *NodeInfo) indexPod(pi *PodInfo, sign int) {
	p := pi.Pod
	if len(p.Labels) > 0 && ni.labelCounts == nil {
		ni.labelCounts = map[string]int32{}
	}
	for k, v := range p.Labels {
		key := labelKey(p.Namespace, k+"="+v)
		if n := ni.labelCounts[key] + int32(sign); n > 0 {
			ni.labelCounts[key] = n
		} else {
			delete(ni.labelCounts, key)
		}
	}
	if p.DeletionTimestamp != nil {
		ni.terminating += sign
	}
	if len(pi.Claims) > 0 && ni.claimCounts == nil {
		ni.claimCounts = map[string]int32{}
	}
	for _, key := range pi.Claims {
		if n := ni.claimCounts[key] + int32(sign); n > 0 {
			ni.claimCounts[key] = n
		} else {
			delete(ni.claimCounts, key)
		}
	}
	if len(pi.PreferredAffinity)+len(pi.PreferredAntiAffinity) == 0 {
		return
	}
	if !pi.preferredIndexable() {
		if sign > 0 {
			ni.podsScanPreferred = append(ni.podsScanPreferred, pi)
		} else if j := indexOf(ni.podsScanPreferred, pi.Key); j >= 0 {
			ni.podsScanPreferred = deleteAt(ni.podsScanPreferred, j)
		}
		return
	}
	if ni.prefTerms == nil {
		ni.prefTerms = map[string]map[string]int64{}
	}
	add := func(t *affinityTerm, w int64) {
		inner := maps.Clone(ni.prefTerms[t.exact])
		if inner == nil {
			inner = map[string]int64{}
		}
		inner[t.topologyKey] += w
		if inner[t.topologyKey] == 0 {
			delete(inner, t.topologyKey)
		}
		if len(inner) == 0 {
			delete(ni.prefTerms, t.exact)
		} else {
			ni.prefTerms[t.exact] = inner
		}
	}
	for i := range pi.PreferredAffinity {
		add(&pi.PreferredAffinity[i], int64(sign)*pi.PreferredAffinity[i].weight)
	}
	for i := range pi.PreferredAntiAffinity {
		add(&pi.PreferredAntiAffinity[i], -int64(sign)*pi.PreferredAntiAffinity[i].weight)
	}
}

// countSelected counts the pods on the node that term t selects.
func (ni *NodeInfo) countSelected(t *affinityTerm, nsLabels func(string) map[string]string) int64 {
	if t.exact != "" {
		return int64(ni.labelCounts[t.exact])
	}
	var n int64
	for _, ep := range ni.Pods {
		if t.matches(ep.Pod, nsLabels) {
			n++
		}
	}
	return n
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
	ni.indexPod(pi, 1)
}

// removePod takes the pod with key off the node; false if it is not there.
func (ni *NodeInfo) removePod(key string) bool {
	i := indexOf(ni.Pods, key)
	if i < 0 {
		return false
	}
	pi := ni.Pods[i]
	ni.indexPod(pi, -1)
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
