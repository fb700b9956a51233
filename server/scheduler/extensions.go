package scheduler

import (
	"context"
	"maps"
)

// This file holds the PreFilterExtensions of the plugins whose Filter
// reads counts made in PreFilter rather than the NodeInfo: preemption
// removes victims from a copy of a node, and nominated pods are added to
// one, and the counts must follow.

var (
	_ PreFilterExtensions = PodTopologySpread{}
	_ PreFilterExtensions = InterPodAffinity{}
)

func (st *spreadState) clone() any {
	c := *st
	c.counts = make([]map[string]int64, len(st.counts))
	for i, m := range st.counts {
		c.counts[i] = maps.Clone(m)
	}
	c.minCount = append([]int64(nil), st.minCount...)
	return &c
}

// AddPod counts add in its node's domains.
func (PodTopologySpread) AddPod(_ context.Context, state *CycleState, _, add *PodInfo, node *NodeInfo) *Status {
	spreadCount(state, add, node, 1)
	return nil
}

// RemovePod stops counting remove in its node's domains.
func (PodTopologySpread) RemovePod(_ context.Context, state *CycleState, _, remove *PodInfo, node *NodeInfo) *Status {
	spreadCount(state, remove, node, -1)
	return nil
}

// spreadCount adds (sign +1) or takes away (-1) p from the counts of the
// constraints that select it, if its node is one PreFilter counted.
func spreadCount(state *CycleState, p *PodInfo, node *NodeInfo, sign int64) {
	st, _ := state.Read(spreadStateKey).(*spreadState)
	if st == nil || node.Node == nil || p.Pod.DeletionTimestamp != nil {
		return
	}
	if !st.nodeAffinity.matches(node.Node) || !hasAllKeys(node.Node, st.constraints) {
		return
	}
	changed := false
	for i := range st.constraints {
		c := &st.constraints[i]
		if p.Pod.Namespace != c.namespace || !c.selector.Matches(p.Pod.Labels) {
			continue
		}
		st.counts[i][node.Node.Labels[c.topologyKey]] += sign
		changed = true
	}
	if changed {
		st.updateMin()
	}
}

func (st *interPodState) clone() any {
	c := *st
	c.existingAnti = maps.Clone(st.existingAnti)
	c.affinity = maps.Clone(st.affinity)
	c.anti = maps.Clone(st.anti)
	c.affinityPerTerm = make([]map[topologyPair]int, len(st.affinityPerTerm))
	for i, m := range st.affinityPerTerm {
		c.affinityPerTerm[i] = maps.Clone(m)
	}
	return &c
}

// AddPod counts add's terms and add against the pod's terms.
func (InterPodAffinity) AddPod(_ context.Context, state *CycleState, pod, add *PodInfo, node *NodeInfo) *Status {
	interPodCount(state, pod, add, node, 1)
	return nil
}

// RemovePod takes remove out of the counts.
func (InterPodAffinity) RemovePod(_ context.Context, state *CycleState, pod, remove *PodInfo, node *NodeInfo) *Status {
	interPodCount(state, pod, remove, node, -1)
	return nil
}

// interPodCount changes the counts PreFilter made by one pod p on node,
// both ways: p's required anti-affinity that selects the pod, and the
// pod's required terms that select p.
func interPodCount(state *CycleState, pod, p *PodInfo, node *NodeInfo, sign int) {
	st, _ := state.Read(interPodStateKey).(*interPodState)
	if st == nil || node.Node == nil {
		return
	}
	snap, _ := state.Read(snapshotStateKey).(*Snapshot)
	var nsLabels func(string) map[string]string
	if snap != nil {
		nsLabels = snap.NamespaceLabels
	}
	labels := node.Node.Labels
	bump := func(m *map[topologyPair]int, key string) {
		v, ok := labels[key]
		if !ok {
			return
		}
		if *m == nil {
			*m = map[topologyPair]int{}
		}
		pair := topologyPair{key, v}
		if (*m)[pair] += sign; (*m)[pair] <= 0 {
			delete(*m, pair)
		}
	}
	for i := range p.RequiredAntiAffinity {
		if t := &p.RequiredAntiAffinity[i]; t.matches(pod.Pod, nsLabels) {
			bump(&st.existingAnti, t.topologyKey)
		}
	}
	for i := range pod.RequiredAntiAffinity {
		if t := &pod.RequiredAntiAffinity[i]; t.matches(p.Pod, nsLabels) {
			bump(&st.anti, t.topologyKey)
		}
	}
	for i := range pod.RequiredAffinity {
		if t := &pod.RequiredAffinity[i]; t.matches(p.Pod, nsLabels) && i < len(st.affinityPerTerm) {
			bump(&st.affinityPerTerm[i], t.topologyKey)
		}
	}
}
