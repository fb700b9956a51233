package scheduler

import (
	"context"
)

// InterPodAffinity places a pod in (affinity) or out of (anti-affinity)
// the topology domains — the values of a node label such as
// topology.kubernetes.io/zone or kubernetes.io/hostname — of the pods its
// terms select, and keeps it out of the domains of existing pods whose
// required anti-affinity selects it. Preferred terms score: +weight per
// matching pod in the node's domain for affinity, −weight for
// anti-affinity, both ways (the pod's terms and the existing pods').
type InterPodAffinity struct{}

var (
	_ PreFilterPlugin = InterPodAffinity{}
	_ FilterPlugin    = InterPodAffinity{}
	_ PreScorePlugin  = InterPodAffinity{}
	_ ScorePlugin     = InterPodAffinity{}
	_ ScoreNormalizer = InterPodAffinity{}
)

// Name of the plugin.
func (InterPodAffinity) Name() string { return "InterPodAffinity" }

const (
	reasonAffinity         = "node(s) didn't match pod affinity rules"
	reasonAntiAffinity     = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffi = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// topologyPair is one domain: a node label and its value.
type topologyPair struct{ key, value string }

type interPodState struct {
	// existingAnti counts, per domain, existing pods whose required
	// anti-affinity selects the incoming pod.
	existingAnti map[topologyPair]int
	// affinity and anti count, per domain, existing pods the incoming
	// pod's required affinity (all terms) and anti-affinity select.
	affinity, anti map[topologyPair]int
	// affinityPerTerm[i] counts, per domain, pods term i selects.
	affinityPerTerm []map[topologyPair]int
	// selfMatch: the pod matches all its own affinity terms, which lets
	// the first pod of a group go anywhere.
	selfMatch bool
}

const interPodStateKey = "InterPodAffinity"

// PreFilter counts the matching pods per domain; Skip if no required term
// applies either way.
func (InterPodAffinity) PreFilter(_ context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) *Status {
	st := &interPodState{}
	nsLabels := snap.NamespaceLabels
	for _, ni := range snap.havePodsWithRequiredAntiAffinity {
		for _, ep := range ni.PodsWithRequiredAntiAffinity {
			for i := range ep.RequiredAntiAffinity {
				t := &ep.RequiredAntiAffinity[i]
				v, ok := ni.Node.Labels[t.topologyKey]
				if !ok || !t.matches(pod.Pod, nsLabels) {
					continue
				}
				if st.existingAnti == nil {
					st.existingAnti = map[topologyPair]int{}
				}
				st.existingAnti[topologyPair{t.topologyKey, v}]++
			}
		}
	}
	if len(pod.RequiredAffinity) == 0 && len(pod.RequiredAntiAffinity) == 0 {
		if st.existingAnti == nil {
			return NewStatus(Skip)
		}
		state.Write(interPodStateKey, st)
		return nil
	}
	st.affinityPerTerm = make([]map[topologyPair]int, len(pod.RequiredAffinity))
	for i := range st.affinityPerTerm {
		st.affinityPerTerm[i] = map[topologyPair]int{}
	}
	st.anti = map[topologyPair]int{}
	for i := range pod.RequiredAffinity {
		t := &pod.RequiredAffinity[i]
		snap.forSelected(t, nsLabels, func(ni *NodeInfo, n int64) {
			if v, ok := ni.Node.Labels[t.topologyKey]; ok {
				st.affinityPerTerm[i][topologyPair{t.topologyKey, v}] += int(n)
			}
		})
	}
	for i := range pod.RequiredAntiAffinity {
		t := &pod.RequiredAntiAffinity[i]
		snap.forSelected(t, nsLabels, func(ni *NodeInfo, n int64) {
			if v, ok := ni.Node.Labels[t.topologyKey]; ok {
				st.anti[topologyPair{t.topologyKey, v}] += int(n)
			}
		})
	}
	st.selfMatch = true
	for i := range pod.RequiredAffinity {
		if !pod.RequiredAffinity[i].matches(pod.Pod, nsLabels) {
			st.selfMatch = false
		}
	}
	state.Write(interPodStateKey, st)
	return nil
}

// Filter applies the three rules: no existing pod's required
// anti-affinity selects the pod in the node's domain; the pod's
// anti-affinity selects no pod there; its affinity finds, for every term,
// a selected pod there (or, if no pod anywhere matches, the pod matches
// its own terms).
func (InterPodAffinity) Filter(_ context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	st, _ := state.Read(interPodStateKey).(*interPodState)
	if st == nil {
		return nil
	}
	// Kubernetes' order, which decides the reason a node is counted
	// under: the pod's own affinity (which no eviction can fix), then its
	// anti-affinity, then the anti-affinity of the pods already there.
	labels := node.Node.Labels
	if s := requiredAffinityStatus(st, pod, labels); s != nil {
		return s
	}
	for i := range pod.RequiredAntiAffinity {
		t := &pod.RequiredAntiAffinity[i]
		if v, ok := labels[t.topologyKey]; ok && st.anti[topologyPair{t.topologyKey, v}] > 0 {
			return NewStatus(Unschedulable, reasonAntiAffinity)
		}
	}
	if len(st.existingAnti) > 0 {
		for k, v := range labels {
			if st.existingAnti[topologyPair{k, v}] > 0 {
				return NewStatus(Unschedulable, reasonExistingAntiAffi)
			}
		}
	}
	return nil
}

// requiredAffinityStatus says whether a node with labels satisfies the
// pod's required affinity terms (nil if it does).
func requiredAffinityStatus(st *interPodState, pod *PodInfo, labels map[string]string) *Status {
	if len(pod.RequiredAffinity) == 0 {
		return nil
	}
	anyMatch := false
	for _, m := range st.affinityPerTerm {
		if len(m) > 0 {
			anyMatch = true
		}
	}
	fits := true
	for i := range pod.RequiredAffinity {
		t := &pod.RequiredAffinity[i]
		v, ok := labels[t.topologyKey]
		if !ok {
			// Without the label the node is in no domain at all.
			return NewStatus(UnschedulableAndUnresolvable, reasonAffinity)
		}
		if st.affinityPerTerm[i][topologyPair{t.topologyKey, v}] == 0 {
			fits = false
		}
	}
	if fits || (!anyMatch && st.selfMatch) {
		return nil
	}
	return NewStatus(UnschedulableAndUnresolvable, reasonAffinity)
}

// forSelected calls fn with every node that has pods t selects, and
// their number: from the label index when t selects one namespace and
// label=value, else by scanning.
func (s *Snapshot) forSelected(t *affinityTerm, nsLabels func(string) map[string]string, fn func(ni *NodeInfo, n int64)) {
	if t.exact != "" {
		for name, n := range s.labelNodes[t.exact] {
			fn(s.nodes[name], int64(n))
		}
		return
	}
	for _, ni := range s.list {
		if n := ni.countSelected(t, nsLabels); n > 0 {
			fn(ni, n)
		}
	}
}

type interPodScore struct {
	// byPair sums the weights per domain.
	byPair map[topologyPair]int64
}

const interPodScoreKey = "InterPodAffinity/score"

// PreScore sums the preferred weights per domain, over every pod the
// pod's preferred terms select and every existing pod whose preferred
// terms select it; Skip if there are none.
func (InterPodAffinity) PreScore(_ context.Context, state *CycleState, pod *PodInfo, _ []*NodeInfo) *Status {
	snap, _ := state.Read(snapshotStateKey).(*Snapshot)
	if snap == nil {
		return NewStatus(Skip)
	}
	own := len(pod.PreferredAffinity)+len(pod.PreferredAntiAffinity) > 0
	if !own && len(snap.havePodsWithAffinity) == 0 {
		return NewStatus(Skip)
	}
	nsLabels := snap.NamespaceLabels
	sc := &interPodScore{byPair: map[topologyPair]int64{}}
	add := func(tk string, ni *NodeInfo, w int64) {
		if v, ok := ni.Node.Labels[tk]; ok && w != 0 {
			sc.byPair[topologyPair{tk, v}] += w
		}
	}
	// The pod's own preferred terms, over every node's pods.
	for i := range pod.PreferredAffinity {
		t := &pod.PreferredAffinity[i]
		snap.forSelected(t, nsLabels, func(ni *NodeInfo, n int64) { add(t.topologyKey, ni, t.weight*n) })
	}
	for i := range pod.PreferredAntiAffinity {
		t := &pod.PreferredAntiAffinity[i]
		snap.forSelected(t, nsLabels, func(ni *NodeInfo, n int64) { add(t.topologyKey, ni, -t.weight*n) })
	}
	// The existing pods' preferred terms that select the pod: indexed by
	// the label they select, or scanned.
	for k, v := range pod.Pod.Labels {
		key := labelKey(pod.Pod.Namespace, k+"="+v)
		for name := range snap.prefNodes[key] {
			ni := snap.nodes[name]
			for tk, w := range ni.prefTerms[key] {
				add(tk, ni, w)
			}
		}
	}
	for _, ni := range snap.havePodsWithAffinity {
		for _, ep := range ni.podsScanPreferred {
			for i := range ep.PreferredAffinity {
				if t := &ep.PreferredAffinity[i]; t.matches(pod.Pod, nsLabels) {
					add(t.topologyKey, ni, t.weight)
				}
			}
			for i := range ep.PreferredAntiAffinity {
				if t := &ep.PreferredAntiAffinity[i]; t.matches(pod.Pod, nsLabels) {
					add(t.topologyKey, ni, -t.weight)
				}
			}
		}
	}
	if len(sc.byPair) == 0 {
		return NewStatus(Skip)
	}
	state.Write(interPodScoreKey, sc)
	return nil
}

// Score sums the weights of the node's domains. It may be negative;
// NormalizeScore maps it onto 0-100.
func (InterPodAffinity) Score(_ context.Context, state *CycleState, _ *PodInfo, node *NodeInfo) (int64, *Status) {
	sc, _ := state.Read(interPodScoreKey).(*interPodScore)
	if sc == nil {
		return 0, nil
	}
	var s int64
	for k, v := range node.Node.Labels {
		s += sc.byPair[topologyPair{k, v}]
	}
	return s, nil
}

// NormalizeScore maps the sums onto 0-100 between the lowest and highest.
func (InterPodAffinity) NormalizeScore(_ context.Context, _ *CycleState, _ *PodInfo, scores []int64) *Status {
	minMax(scores)
	return nil
}

// minMax maps scores linearly onto 0-100, lowest to highest; all equal
// gives 0.
func minMax(scores []int64) {
	if len(scores) == 0 {
		return
	}
	lo, hi := scores[0], scores[0]
	for _, s := range scores {
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range scores {
		if hi == lo {
			scores[i] = 0
		} else {
			scores[i] = (s - lo) * MaxNodeScore / (hi - lo)
		}
	}
}
