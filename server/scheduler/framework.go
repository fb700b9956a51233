package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Code is the outcome of a plugin.
type Code int

// The codes.
const (
	Success Code = iota
	// Unschedulable: the pod does not fit the node now; a cluster change
	// (or preemption) may make it fit.
	Unschedulable
	// UnschedulableAndUnresolvable: preempting pods on the node would not
	// help (a taint, a label, a cordon).
	UnschedulableAndUnresolvable
	// Skip, from PreFilter or PreScore: the plugin has nothing to check
	// for this pod; its Filter or Score is not called.
	Skip
	// Error: something went wrong; the pod is retried after a back-off.
	Error
)

// Status is a plugin's answer. A nil Status is Success.
type Status struct {
	Code Code
	// Reasons are for people, counted per node class in the pod's
	// condition: "Insufficient memory".
	Reasons []string
	// Plugin is set by the framework to the plugin that answered.
	Plugin string
	Err    error
}

// NewStatus returns a status with reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{Code: code, Reasons: reasons}
}

// AsStatus wraps an error.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{Code: Error, Reasons: []string{err.Error()}, Err: err}
}

// IsSuccess reports whether s is nil or Success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// IsSkip reports whether s is Skip.
func (s *Status) IsSkip() bool { return s != nil && s.Code == Skip }

// IsUnschedulable reports whether s says the pod does not fit.
func (s *Status) IsUnschedulable() bool {
	return s != nil && (s.Code == Unschedulable || s.Code == UnschedulableAndUnresolvable)
}

func (s *Status) Error() string {
	if s.IsSuccess() {
		return "success"
	}
	if s.Err != nil {
		return s.Err.Error()
	}
	return strings.Join(s.Reasons, ", ")
}

// CycleState carries data from a plugin's PreFilter or PreScore to its
// Filter or Score within one scheduling cycle (one pod). Only the
// scheduling goroutine touches it.
type CycleState struct {
	data       map[string]any
	skipFilter map[string]bool
	skipScore  map[string]bool
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{data: map[string]any{}, skipFilter: map[string]bool{}, skipScore: map[string]bool{}}
}

// Write stores v under key (by convention the plugin's name).
func (c *CycleState) Write(key string, v any) { c.data[key] = v }

// Read returns what was stored under key.
func (c *CycleState) Read(key string) any { return c.data[key] }

// stateCloner is state a PreFilterExtensions plugin changes: Clone
// copies it so that a what-if (preemption, nominated pods) does not
// change the cycle's own.
type stateCloner interface {
	clone() any
}

// Clone returns a copy of c for a what-if: values that change under
// PreFilterExtensions are copied, the rest (read-only) shared.
func (c *CycleState) Clone() *CycleState {
	out := &CycleState{data: make(map[string]any, len(c.data)), skipFilter: c.skipFilter, skipScore: c.skipScore}
	for k, v := range c.data {
		if sc, ok := v.(stateCloner); ok {
			v = sc.clone()
		}
		out.data[k] = v
	}
	return out
}

// The plugin interfaces. A plugin implements Plugin and any of the
// extension points; pipeline.go lists them in order. Plugins must not
// change the pods and nodes they are given.

// Plugin is a named stage of the pipeline.
type Plugin interface {
	Name() string
}

// PreFilterPlugin computes what its Filter needs once per pod, or refuses
// the pod outright. Skip means its Filter has nothing to check.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) *Status
}

// PreFilterExtensions keep a pre-filter's per-pod state right when a
// what-if adds a pod to a node (a nominated pod) or removes one (a
// preemption victim), without running PreFilter again. Plugins whose
// Filter reads only the NodeInfo need none.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, pod, add *PodInfo, node *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, pod, remove *PodInfo, node *NodeInfo) *Status
}

// FilterPlugin says whether the pod fits one node.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// PostFilterPlugin runs when no node fits, to make one fit: preemption
// goes here. failed holds each node's refusal; h runs the filters on
// changed copies of nodes. It returns the node it made room on, the pod's
// nominated node ("" if none).
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot, failed map[string]*Status, h FilterHandle) (string, *Status)
}

// FilterHandle is what the framework lends a post-filter: the filters as
// scheduling runs them (with the pods nominated to the node), and the
// pre-filter extensions that make them see a node with pods added or
// removed. *Framework implements it.
type FilterHandle interface {
	RunFilters(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot, node *NodeInfo) *Status
	AddPod(ctx context.Context, state *CycleState, pod, add *PodInfo, node *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, pod, remove *PodInfo, node *NodeInfo) *Status
}

// PreScorePlugin computes what its Score needs once per pod, over the
// nodes that passed the filters. Skip means its Score is not needed.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks a node that fits. Scores are 0-100 (MaxNodeScore)
// unless the plugin also normalizes them.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status)
}

// ScoreNormalizer maps a ScorePlugin's raw scores of all fitting nodes
// onto 0-100 in place.
type ScoreNormalizer interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *PodInfo, scores []int64) *Status
}

// ReservePlugin claims what the chosen node gives the pod before it is
// bound; Unreserve gives it back if the bind fails.
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *PodInfo, node string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *PodInfo, node string)
}

// PreBindPlugin prepares what the pod needs on its node before it is
// bound (a volume's node written on its claim). It runs on a bind
// worker; a failure goes the way of a failed bind: Unreserve, the
// assumed pod forgotten, back-off.
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *PodInfo, node string) *Status
}

// BindPlugin writes the decision. The first that does not Skip binds.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *PodInfo, node string) *Status
}

// MaxNodeScore is the best score of one plugin on one node.
const MaxNodeScore int64 = 100

// namedExtensions are a pre-filter's extensions, under its name (to
// skip them when the pre-filter skipped).
type namedExtensions struct {
	name string
	PreFilterExtensions
}

var _ FilterHandle = (*Framework)(nil)

// scorer is a score plugin with its weight.
type scorer struct {
	ScorePlugin
	weight int64
}

// Framework runs the plugins of the pipeline for one pod at a time.
type Framework struct {
	preFilter  []PreFilterPlugin
	extensions []namedExtensions
	filter     []FilterPlugin
	postFilter []PostFilterPlugin
	preScore   []PreScorePlugin
	score      []scorer
	reserve    []ReservePlugin
	preBind    []PreBindPlugin
	bind       []BindPlugin
	// percentage of nodes to look at before settling; 0 is adaptive.
	percentage int
	// next is where the next search for fitting nodes starts, so that
	// successive pods look at different nodes first.
	next int
	// tieBreak picks among equal best scores; nil picks the first.
	tieBreak func(n int) int
}

// NewFramework builds a framework from stages in pipeline order.
func NewFramework(stages []Stage, percentageOfNodes int, tieBreak func(n int) int) (*Framework, error) {
	f := &Framework{percentage: percentageOfNodes, tieBreak: tieBreak}
	seen := map[string]bool{}
	for _, s := range stages {
		p := s.Plugin
		if seen[p.Name()] {
			return nil, fmt.Errorf("scheduler: plugin %q listed twice", p.Name())
		}
		seen[p.Name()] = true
		used := false
		if x, ok := p.(PreFilterPlugin); ok {
			f.preFilter, used = append(f.preFilter, x), true
			if e, ok := p.(PreFilterExtensions); ok {
				f.extensions = append(f.extensions, namedExtensions{p.Name(), e})
			}
		}
		if x, ok := p.(FilterPlugin); ok {
			f.filter, used = append(f.filter, x), true
		}
		if x, ok := p.(PostFilterPlugin); ok {
			f.postFilter, used = append(f.postFilter, x), true
		}
		if x, ok := p.(PreScorePlugin); ok {
			f.preScore, used = append(f.preScore, x), true
		}
		if x, ok := p.(ScorePlugin); ok && s.Weight > 0 {
			f.score, used = append(f.score, scorer{x, s.Weight}), true
		}
		if x, ok := p.(ReservePlugin); ok {
			f.reserve, used = append(f.reserve, x), true
		}
		if x, ok := p.(PreBindPlugin); ok {
			f.preBind, used = append(f.preBind, x), true
		}
		if x, ok := p.(BindPlugin); ok {
			f.bind, used = append(f.bind, x), true
		}
		if !used {
			return nil, fmt.Errorf("scheduler: plugin %q implements no extension point (or is a scorer of weight 0)", p.Name())
		}
	}
	if len(f.bind) == 0 {
		return nil, errors.New("scheduler: no bind plugin")
	}
	return f, nil
}

// parseErrPlugin names the refusal of a pod whose selectors do not parse;
// no cluster event undoes it.
const parseErrPlugin = "PodSpec"

// Diagnosis says why no node fits.
type Diagnosis struct {
	NumNodes int
	// PreFilter is the refusal of a pre-filter, if one refused the pod.
	PreFilter *Status
	// Nodes holds the failing status of each node the filters refused.
	Nodes map[string]*Status
	// Plugins are the plugins that refused the pod somewhere.
	Plugins map[string]bool
}

// Message renders the diagnosis as Kubernetes does, per node class:
// "0/5 nodes are available: 3 Insufficient memory, 2 node(s) had
// untolerated taint {key: value}."
func (d *Diagnosis) Message() string {
	msg := fmt.Sprintf("0/%d nodes are available", d.NumNodes)
	if d.PreFilter != nil {
		return msg + ": " + strings.Join(d.PreFilter.Reasons, ", ") + "."
	}
	counts := map[string]int{}
	for _, st := range d.Nodes {
		for _, r := range st.Reasons {
			counts[r]++
		}
	}
	if len(counts) == 0 {
		return msg + "."
	}
	return msg + ": " + strings.Join(sortedReasons(counts), ", ") + "."
}

// FitError is the error of a pod no node fits.
type FitError struct {
	Pod       string
	Diagnosis Diagnosis
}

func (e *FitError) Error() string { return e.Diagnosis.Message() }

// Schedule picks a node for the pod, or says why none fits (a
// *FitError) or what went wrong.
func (f *Framework) Schedule(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) (string, error) {
	nodes := snap.Nodes()
	diag := Diagnosis{NumNodes: len(nodes), Plugins: map[string]bool{}}
	if pod.ParseErr != nil {
		// Validation makes this rare; only a change to the pod helps.
		diag.PreFilter = &Status{Code: UnschedulableAndUnresolvable, Reasons: []string{pod.ParseErr.Error()}, Plugin: parseErrPlugin}
		diag.Plugins[parseErrPlugin] = true
		return "", &FitError{Pod: pod.Key, Diagnosis: diag}
	}
	if len(nodes) == 0 {
		return "", &FitError{Pod: pod.Key, Diagnosis: diag}
	}
	for _, p := range f.preFilter {
		st := p.PreFilter(ctx, state, pod, snap)
		switch {
		case st.IsSuccess():
		case st.IsSkip():
			state.skipFilter[p.Name()] = true
		case st.IsUnschedulable():
			st.Plugin = p.Name()
			diag.PreFilter = st
			diag.Plugins[p.Name()] = true
			return "", &FitError{Pod: pod.Key, Diagnosis: diag}
		default:
			return "", fmt.Errorf("pre-filter %s: %s", p.Name(), st.Error())
		}
	}
	// A pod that preemption made room for tries that node first: the room
	// is kept for it (see RunFilters), and going elsewhere would waste the
	// eviction.
	if nn := snap.nominatedNode[pod.Key]; nn != "" {
		if ni, ok := snap.Get(nn); ok && f.RunFilters(ctx, state, pod, snap, ni).IsSuccess() {
			return nn, nil
		}
	}
	feasible, err := f.findFeasible(ctx, state, pod, snap, nodes, &diag)
	if err != nil {
		return "", err
	}
	if len(feasible) == 0 {
		return "", &FitError{Pod: pod.Key, Diagnosis: diag}
	}
	if len(feasible) == 1 {
		return feasible[0].Node.Name, nil
	}
	return f.pick(ctx, state, pod, feasible)
}

// numFeasibleToFind is how many fitting nodes are enough to choose from:
// all of a small cluster; of a large one a share that shrinks as it
// grows (50 % less 1 % per 125 nodes, at least 5 %), never under 100 —
// Kubernetes' percentageOfNodesToScore.
func (f *Framework) numFeasibleToFind(n int) int {
	if n < 100 || f.percentage >= 100 {
		return n
	}
	pct := f.percentage
	if pct <= 0 {
		pct = max(5, 50-n/125)
	}
	return max(100, n*pct/100)
}

// findFeasible runs the filters over the nodes, starting where the last
// search stopped, until enough fit.
func (f *Framework) findFeasible(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot, nodes []*NodeInfo, diag *Diagnosis) ([]*NodeInfo, error) {
	want := f.numFeasibleToFind(len(nodes))
	feasible := make([]*NodeInfo, 0, min(want, len(nodes)))
	filters := f.activeFilters(state)
	start := f.next % len(nodes)
	checked := 0
	for ; checked < len(nodes) && len(feasible) < want; checked++ {
		ni := nodes[(start+checked)%len(nodes)]
		var st *Status
		if len(snap.nominated) > 0 {
			st = f.runFiltersWithNominated(ctx, filters, state, pod, snap, ni)
		} else {
			st = runFilters(ctx, filters, state, pod, ni)
		}
		if st.IsSuccess() {
			feasible = append(feasible, ni)
			continue
		}
		if !st.IsUnschedulable() {
			return nil, fmt.Errorf("filter %s on node %s: %s", st.Plugin, ni.Node.Name, st.Error())
		}
		if diag.Nodes == nil {
			diag.Nodes = map[string]*Status{}
		}
		diag.Nodes[ni.Node.Name] = st
		diag.Plugins[st.Plugin] = true
	}
	f.next = (start + checked) % len(nodes)
	return feasible, nil
}

// activeFilters are the filters whose pre-filter did not skip.
func (f *Framework) activeFilters(state *CycleState) []FilterPlugin {
	filters := f.filter[:0:0]
	for _, p := range f.filter {
		if !state.skipFilter[p.Name()] {
			filters = append(filters, p)
		}
	}
	return filters
}

// RunFilters runs the filters on a node as scheduling does: with the pods
// nominated to it counted, so that room preemption made for a pod is not
// taken by one of lower or equal priority.
func (f *Framework) RunFilters(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot, ni *NodeInfo) *Status {
	return f.runFiltersWithNominated(ctx, f.activeFilters(state), state, pod, snap, ni)
}

// runFiltersWithNominated runs the filters on the node with the pods
// nominated to it (of the pod's priority or higher, not the pod itself)
// added, as Kubernetes does, and, if there were any, once more without
// them: a nominated pod is not there yet, so a pod-affinity to it must
// not count either.
func (f *Framework) runFiltersWithNominated(ctx context.Context, filters []FilterPlugin, state *CycleState, pod *PodInfo, snap *Snapshot, ni *NodeInfo) *Status {
	var with *NodeInfo
	var withState *CycleState
	prio := priority(pod.Pod)
	for _, np := range snap.nominated[ni.Name()] {
		if np.Key == pod.Key || priority(np.Pod) < prio {
			continue
		}
		if with == nil {
			with, withState = ni.clone(), state.Clone()
		}
		with.addPod(np)
		if st := f.AddPod(ctx, withState, pod, np, with); !st.IsSuccess() {
			return st
		}
	}
	if with == nil {
		return runFilters(ctx, filters, state, pod, ni)
	}
	if st := runFilters(ctx, filters, withState, pod, with); !st.IsSuccess() {
		return st
	}
	return runFilters(ctx, filters, state, pod, ni)
}

// AddPod tells the pre-filters' state that add is on node now.
func (f *Framework) AddPod(ctx context.Context, state *CycleState, pod, add *PodInfo, node *NodeInfo) *Status {
	for _, e := range f.extensions {
		if state.skipFilter[e.name] {
			continue
		}
		if st := e.AddPod(ctx, state, pod, add, node); !st.IsSuccess() {
			st.Plugin = e.name
			return st
		}
	}
	return nil
}

// RemovePod tells the pre-filters' state that remove is gone from node.
func (f *Framework) RemovePod(ctx context.Context, state *CycleState, pod, remove *PodInfo, node *NodeInfo) *Status {
	for _, e := range f.extensions {
		if state.skipFilter[e.name] {
			continue
		}
		if st := e.RemovePod(ctx, state, pod, remove, node); !st.IsSuccess() {
			st.Plugin = e.name
			return st
		}
	}
	return nil
}

// runFilters returns the first refusal of the filters, or nil.
func runFilters(ctx context.Context, filters []FilterPlugin, state *CycleState, pod *PodInfo, ni *NodeInfo) *Status {
	for _, p := range filters {
		if st := p.Filter(ctx, state, pod, ni); !st.IsSuccess() {
			c := *st // plugins may hand out shared statuses
			c.Plugin = p.Name()
			return &c
		}
	}
	return nil
}

// pick scores the fitting nodes and returns the best.
func (f *Framework) pick(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) (string, error) {
	for _, p := range f.preScore {
		st := p.PreScore(ctx, state, pod, nodes)
		switch {
		case st.IsSuccess():
		case st.IsSkip():
			state.skipScore[p.Name()] = true
		default:
			return "", fmt.Errorf("pre-score %s: %s", p.Name(), st.Error())
		}
	}
	total := make([]int64, len(nodes))
	scores := make([]int64, len(nodes))
	for _, s := range f.score {
		if state.skipScore[s.Name()] {
			continue
		}
		for i, ni := range nodes {
			v, st := s.Score(ctx, state, pod, ni)
			if !st.IsSuccess() {
				return "", fmt.Errorf("score %s on node %s: %s", s.Name(), ni.Node.Name, st.Error())
			}
			scores[i] = v
		}
		if n, ok := s.ScorePlugin.(ScoreNormalizer); ok {
			if st := n.NormalizeScore(ctx, state, pod, scores); !st.IsSuccess() {
				return "", fmt.Errorf("normalize score %s: %s", s.Name(), st.Error())
			}
		}
		for i, v := range scores {
			if v < 0 || v > MaxNodeScore {
				return "", fmt.Errorf("score %s on node %s is %d, outside 0-%d", s.Name(), nodes[i].Node.Name, v, MaxNodeScore)
			}
			total[i] += v * s.weight
		}
	}
	best, ties := 0, 1
	for i := 1; i < len(total); i++ {
		switch {
		case total[i] > total[best]:
			best, ties = i, 1
		case total[i] == total[best]:
			// Reservoir sampling: each tied node is equally likely.
			ties++
			if f.tieBreak != nil && f.tieBreak(ties) == 0 {
				best = i
			}
		}
	}
	return nodes[best].Node.Name, nil
}

// Reserve runs the reserve plugins; on a refusal it unreserves those that
// ran.
func (f *Framework) Reserve(ctx context.Context, state *CycleState, pod *PodInfo, node string) *Status {
	for i, p := range f.reserve {
		if st := p.Reserve(ctx, state, pod, node); !st.IsSuccess() {
			for j := i - 1; j >= 0; j-- {
				f.reserve[j].Unreserve(ctx, state, pod, node)
			}
			st.Plugin = p.Name()
			return st
		}
	}
	return nil
}

// Unreserve gives back what Reserve claimed, in reverse order.
func (f *Framework) Unreserve(ctx context.Context, state *CycleState, pod *PodInfo, node string) {
	for j := len(f.reserve) - 1; j >= 0; j-- {
		f.reserve[j].Unreserve(ctx, state, pod, node)
	}
}

// PostFilter runs the post-filter plugins (preemption) until one makes
// room; it returns that node.
func (f *Framework) PostFilter(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot, failed map[string]*Status) (string, *Status) {
	var last *Status
	for _, p := range f.postFilter {
		node, st := p.PostFilter(ctx, state, pod, snap, failed, f)
		if st.IsSuccess() && node != "" {
			return node, nil
		}
		if st != nil {
			st.Plugin = p.Name()
			if st.Code == Error {
				return "", st
			}
			last = st
		}
	}
	if last != nil {
		return "", last
	}
	return "", NewStatus(Unschedulable)
}

// PreBind runs the pre-bind plugins in order and returns the first
// failure (Skip is none); the bind plugins must not run after one.
func (f *Framework) PreBind(ctx context.Context, state *CycleState, pod *PodInfo, node string) *Status {
	for _, p := range f.preBind {
		if st := p.PreBind(ctx, state, pod, node); !st.IsSuccess() && !st.IsSkip() {
			st.Plugin = p.Name()
			return st
		}
	}
	return nil
}

// Bind runs the bind plugins until one binds.
func (f *Framework) Bind(ctx context.Context, state *CycleState, pod *PodInfo, node string) *Status {
	for _, p := range f.bind {
		st := p.Bind(ctx, state, pod, node)
		if st.IsSkip() {
			continue
		}
		if st != nil {
			st.Plugin = p.Name()
		}
		return st
	}
	return NewStatus(Error, "no bind plugin bound the pod")
}
