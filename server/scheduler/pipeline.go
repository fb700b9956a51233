package scheduler

// This file is the one place that says which plugins run, in which order,
// with which score weights, and which cluster events can undo each one's
// refusal. The framework runs every extension point in this order.
//
// Filters run per node and a node is dropped at its first refusal, so the
// order is: cheapest and most often refusing first, costly last.
//
//	| # | plugin             | points                       | weight | why here                                                                  |
//	|---|--------------------|------------------------------|--------|---------------------------------------------------------------------------|
//	| 1 | NodeName           | filter                       |        | one string compare; a pinned pod rules out all nodes but one             |
//	| 2 | NodeUnschedulable  | filter                       |        | one bool: cordoned nodes go before any arithmetic                        |
//	| 3 | VolumeBinding      | pre-filter, filter, reserve, pre-bind | | claims looked up once per pod; per node one string compare; a bound   |
//	|   |                    |                              |        | claim rules out all nodes but one, so it runs early; skipped without     |
//	|   |                    |                              |        | claims (most pods)                                                       |
//	| 4 | TaintToleration    | filter, pre-score, score     | 3      | a few taints per node; taints repel whole node classes (control plane)   |
//	| 5 | NodeAffinity       | pre-filter, filter, pre-score, score | 2 | label lookups, parsed once per pod; a selector often rules out most nodes |
//	| 6 | NodePorts          | pre-filter, filter           |        | skipped unless the pod asks for host ports                               |
//	| 7 | NodeResourcesFit   | filter                       |        | integer sums kept per node; after the label checks so that "Insufficient" |
//	|   |                    |                              |        | is only reported for nodes the pod could otherwise use                   |
//	| 8 | PodTopologySpread  | pre-filter, filter, pre-score, score | 2 | counts pods per domain once per pod (label index; a scan for complex  |
//	|   |                    |                              |        | selectors); per node only a map lookup; skipped without constraints      |
//	| 9 | InterPodAffinity   | pre-filter, filter, pre-score, score | 2 | the costliest: terms both ways (the pod's and the existing pods');    |
//	|   |                    |                              |        | last so it sees the fewest nodes; skipped when no term applies           |
//	|10 | DefaultPreemption  | post-filter                  |        | only when no node fits: needs every node's refusal from the filters to   |
//	|   |                    |                              |        | skip the unresolvable ones; evicts lower-priority pods, nominates a node |
//	|11 | LeastAllocated     | score                        | 1      | spreads load: prefers the node with the most room left                   |
//	|12 | BalancedAllocation | score                        | 1      | keeps CPU and memory use even on a node, so neither strands the other    |
//	|13 | ImageLocality      | score                        | 1      | prefers nodes that have the images (no pull), weighted by how rare       |
//	|14 | DefaultBinder      | bind                         |        | writes spec.nodeName, only if the pod is still unbound                   |
//
// VolumeBinding's refusals are undone by a claim appearing or changing
// (ClaimChange), its node joining (NodeAdd), or the other user of a
// ReadWriteOncePod claim going (AssignedPodDelete). Its pre-bind writes
// a new claim's node and Bound status before DefaultBinder binds; its
// reserve keeps that node in memory until the informer shows it.
//
// PodTopologySpread and InterPodAffinity also implement
// PreFilterExtensions (extensions.go), so that preemption's what-ifs and
// nominated pods change their per-pod counts. DefaultPreemption refuses
// nothing, so it has no events: the pod it made room for waits in the
// unschedulable queue for its victims' deletion (AssignedPodDelete, via
// NodeResourcesFit and the others that refused it).
//
// The weights are Kubernetes' defaults, so placements look familiar.

// Stage is one row of the pipeline: a plugin, its score weight (0: it
// does not score), and the cluster events that may undo its refusals.
type Stage struct {
	Plugin Plugin
	Weight int64
	Events []ClusterEvent
}

// DefaultPipeline returns the stages in order; binder writes the
// decisions (NewDefaultBinder), evictor carries out preemptions
// (NewAPIEvictor), volumes places pods with claims (NewVolumeBinding).
func DefaultPipeline(binder BindPlugin, evictor Evictor, volumes *VolumeBinding) []Stage {
	return []Stage{
		{Plugin: NodeName{}, Events: []ClusterEvent{NodeAdd}},
		{Plugin: NodeUnschedulable{}, Events: []ClusterEvent{NodeAdd, NodeUpdate}},
		{Plugin: volumes, Events: []ClusterEvent{NodeAdd, ClaimChange, AssignedPodDelete}},
		{Plugin: TaintToleration{}, Weight: 3, Events: []ClusterEvent{NodeAdd, NodeUpdate}},
		{Plugin: NodeAffinity{}, Weight: 2, Events: []ClusterEvent{NodeAdd, NodeUpdate}},
		{Plugin: NodePorts{}, Events: []ClusterEvent{NodeAdd, AssignedPodDelete}},
		{Plugin: NodeResourcesFit{}, Events: []ClusterEvent{NodeAdd, NodeUpdate, AssignedPodDelete}},
		{Plugin: PodTopologySpread{}, Weight: 2, Events: []ClusterEvent{NodeAdd, NodeUpdate, AssignedPodAdd, AssignedPodUpdate, AssignedPodDelete}},
		{Plugin: InterPodAffinity{}, Weight: 2, Events: []ClusterEvent{NodeAdd, NodeUpdate, AssignedPodAdd, AssignedPodUpdate, AssignedPodDelete, NamespaceChange}},
		{Plugin: NewDefaultPreemption(evictor)},
		{Plugin: LeastAllocated{}, Weight: 1},
		{Plugin: BalancedAllocation{}, Weight: 1},
		{Plugin: ImageLocality{}, Weight: 1},
		{Plugin: binder},
	}
}

// eventInterests maps each cluster event to the plugins it may help.
func eventInterests(stages []Stage) map[ClusterEvent][]string {
	out := map[ClusterEvent][]string{}
	for _, s := range stages {
		for _, e := range s.Events {
			out[e] = append(out[e], s.Plugin.Name())
		}
	}
	return out
}
