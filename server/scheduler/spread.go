package scheduler

import (
	"context"
	"math"

	"github.com/skiffhq/skiff/server/api"
)

// PodTopologySpread spreads the pods a constraint selects evenly across
// the domains of its topology key. A DoNotSchedule constraint refuses a
// node where placing the pod would make the skew — the domain's count
// (with this pod) less the smallest domain's — exceed maxSkew; a
// ScheduleAnyway constraint only prefers the nodes in emptier domains.
//
// Domains are counted over the nodes that pass the pod's nodeSelector and
// required node affinity and have the key, as Kubernetes does by default
// (nodeAffinityPolicy Honor, nodeTaintsPolicy Ignore). Pods being deleted
// are not counted. There are no cluster-wide default constraints.
type PodTopologySpread struct{}

var (
	_ PreFilterPlugin = PodTopologySpread{}
	_ FilterPlugin    = PodTopologySpread{}
	_ PreScorePlugin  = PodTopologySpread{}
	_ ScorePlugin     = PodTopologySpread{}
	_ ScoreNormalizer = PodTopologySpread{}
)

// Name of the plugin.
func (PodTopologySpread) Name() string { return "PodTopologySpread" }

const (
	reasonSpread             = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// spreadConstraint is a parsed constraint.
type spreadConstraint struct {
	maxSkew     int64
	topologyKey string
	selector    api.Selector
	minDomains  int
	selfMatch   int64 // 1 if the pod matches its own selector
	namespace   string
	// exact is the labelKey when the selector is one label=value.
	exact string
}

func spreadConstraintsOf(pod *PodInfo, action api.UnsatisfiableConstraintAction) ([]spreadConstraint, error) {
	var out []spreadConstraint
	for _, c := range pod.Pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel, err := api.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, err
		}
		sc := spreadConstraint{maxSkew: int64(c.MaxSkew), topologyKey: c.TopologyKey, selector: sel, minDomains: 1, namespace: pod.Pod.Namespace}
		if kv, ok := exactLabel(sel); ok {
			sc.exact = labelKey(pod.Pod.Namespace, kv)
		}
		if c.MinDomains != nil {
			sc.minDomains = int(*c.MinDomains)
		}
		if sel.Matches(pod.Pod.Labels) {
			sc.selfMatch = 1
		}
		out = append(out, sc)
	}
	return out, nil
}

// hasAllKeys reports whether the node has every constraint's key.
func hasAllKeys(n *api.Node, cs []spreadConstraint) bool {
	for i := range cs {
		if _, ok := n.Labels[cs[i].topologyKey]; !ok {
			return false
		}
	}
	return true
}

// countMatching counts the pods on ni that c selects, not counting pods
// being deleted.
func countMatching(ni *NodeInfo, c *spreadConstraint) int64 {
	if c.exact != "" && ni.terminating == 0 {
		return int64(ni.labelCounts[c.exact])
	}
	var n int64
	for _, p := range ni.Pods {
		if p.Pod.Namespace == c.namespace && p.Pod.DeletionTimestamp == nil && c.selector.Matches(p.Pod.Labels) {
			n++
		}
	}
	return n
}

// forSpread calls fn with every eligible node that has pods c counts,
// and their number: from the label index when c's selector is one
// label=value, else by scanning.
func (s *Snapshot) forSpread(c *spreadConstraint, eligible func(*NodeInfo) bool, fn func(ni *NodeInfo, n int64)) {
	if c.exact != "" {
		for name, n := range s.labelNodes[c.exact] {
			ni := s.nodes[name]
			if !eligible(ni) {
				continue
			}
			if ni.terminating > 0 {
				fn(ni, countMatching(ni, c))
			} else {
				fn(ni, int64(n))
			}
		}
		return
	}
	for _, ni := range s.list {
		if eligible(ni) {
			if n := countMatching(ni, c); n > 0 {
				fn(ni, n)
			}
		}
	}
}

type spreadState struct {
	constraints []spreadConstraint
	// counts[i] holds, per domain of constraint i, the matching pods.
	counts []map[string]int64
	// minCount[i] is the smallest count among constraint i's domains (0
	// when there are fewer domains than minDomains).
	minCount []int64
	// nodeAffinity decides which nodes' pods count (AddPod, RemovePod).
	nodeAffinity requiredNodeAffinity
}

const spreadStateKey = "PodTopologySpread"

// PreFilter counts the matching pods per domain of each DoNotSchedule
// constraint; Skip if there are none.
func (PodTopologySpread) PreFilter(_ context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) *Status {
	cs, err := spreadConstraintsOf(pod, api.DoNotSchedule)
	if err != nil {
		return AsStatus(err)
	}
	if len(cs) == 0 {
		return NewStatus(Skip)
	}
	st := &spreadState{constraints: cs, counts: make([]map[string]int64, len(cs)), minCount: make([]int64, len(cs))}
	for i := range cs {
		st.counts[i] = map[string]int64{}
	}
	na := requiredNodeAffinityOf(pod.Pod)
	st.nodeAffinity = na
	eligible := func(ni *NodeInfo) bool { return na.matches(ni.Node) && hasAllKeys(ni.Node, cs) }
	for _, ni := range snap.list {
		if eligible(ni) {
			for i := range cs {
				st.counts[i][ni.Node.Labels[cs[i].topologyKey]] += 0 // every domain, even empty
			}
		}
	}
	for i := range cs {
		snap.forSpread(&cs[i], eligible, func(ni *NodeInfo, n int64) {
			st.counts[i][ni.Node.Labels[cs[i].topologyKey]] += n
		})
	}
	st.updateMin()
	state.Write(spreadStateKey, st)
	return nil
}

// updateMin recomputes minCount from counts.
func (st *spreadState) updateMin() {
	for i := range st.constraints {
		lo := int64(math.MaxInt64)
		for _, n := range st.counts[i] {
			lo = min(lo, n)
		}
		if len(st.counts[i]) < st.constraints[i].minDomains || lo == math.MaxInt64 {
			lo = 0
		}
		st.minCount[i] = lo
	}
}

// Filter refuses a node lacking a constraint's key, or whose domain would
// be more than maxSkew above the emptiest with this pod in it.
func (PodTopologySpread) Filter(_ context.Context, state *CycleState, _ *PodInfo, node *NodeInfo) *Status {
	st, _ := state.Read(spreadStateKey).(*spreadState)
	if st == nil {
		return nil
	}
	for i := range st.constraints {
		c := &st.constraints[i]
		v, ok := node.Node.Labels[c.topologyKey]
		if !ok {
			return NewStatus(UnschedulableAndUnresolvable, reasonSpreadMissingLabel)
		}
		if st.counts[i][v]+c.selfMatch-st.minCount[i] > c.maxSkew {
			return NewStatus(Unschedulable, reasonSpread)
		}
	}
	return nil
}

type spreadScore struct {
	constraints []spreadConstraint
	counts      []map[string]int64
	// weights[i] favours constraints with more domains: log(domains+2).
	weights []float64
}

const spreadScoreKey = "PodTopologySpread/score"

// PreScore counts the matching pods per domain of each ScheduleAnyway
// constraint, over the nodes that passed the filters; Skip if none.
func (PodTopologySpread) PreScore(_ context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) *Status {
	cs, err := spreadConstraintsOf(pod, api.ScheduleAnyway)
	if err != nil {
		return AsStatus(err)
	}
	if len(cs) == 0 {
		return NewStatus(Skip)
	}
	snap, _ := state.Read(snapshotStateKey).(*Snapshot)
	sc := &spreadScore{constraints: cs, counts: make([]map[string]int64, len(cs)), weights: make([]float64, len(cs))}
	for i := range cs {
		sc.counts[i] = map[string]int64{}
	}
	// The domains are those of the fitting nodes; the pods are counted on
	// every node in them.
	for _, ni := range nodes {
		if hasAllKeys(ni.Node, cs) {
			for i := range cs {
				sc.counts[i][ni.Node.Labels[cs[i].topologyKey]] = 0
			}
		}
	}
	if snap == nil {
		snap = snapshotOf(nodes...)
	}
	na := requiredNodeAffinityOf(pod.Pod)
	eligible := func(ni *NodeInfo) bool { return na.matches(ni.Node) && hasAllKeys(ni.Node, cs) }
	for i := range cs {
		snap.forSpread(&cs[i], eligible, func(ni *NodeInfo, n int64) {
			v := ni.Node.Labels[cs[i].topologyKey]
			if _, ok := sc.counts[i][v]; ok {
				sc.counts[i][v] += n
			}
		})
	}
	for i := range cs {
		sc.weights[i] = math.Log(float64(len(sc.counts[i]) + 2))
	}
	state.Write(spreadScoreKey, sc)
	return nil
}

// Score is the weighted count of matching pods in the node's domains
// (lower is better; NormalizeScore turns it around). A node without a
// key scores 0 after normalizing.
func (PodTopologySpread) Score(_ context.Context, state *CycleState, _ *PodInfo, node *NodeInfo) (int64, *Status) {
	sc, _ := state.Read(spreadScoreKey).(*spreadScore)
	if sc == nil {
		return 0, nil
	}
	var s float64
	for i := range sc.constraints {
		c := &sc.constraints[i]
		v, ok := node.Node.Labels[c.topologyKey]
		if !ok {
			return -1, nil // marks "no domain" for NormalizeScore
		}
		s += float64(sc.counts[i][v]+c.selfMatch) * sc.weights[i]
	}
	return int64(math.Round(s)), nil
}

// NormalizeScore maps the weighted counts onto 0-100, the lowest highest;
// nodes without a domain get 0.
func (PodTopologySpread) NormalizeScore(_ context.Context, _ *CycleState, _ *PodInfo, scores []int64) *Status {
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, s := range scores {
		if s < 0 {
			continue
		}
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range scores {
		switch {
		case s < 0:
			scores[i] = 0
		case hi == 0:
			scores[i] = MaxNodeScore
		default:
			scores[i] = MaxNodeScore * (hi + lo - s) / hi
		}
	}
	return nil
}
