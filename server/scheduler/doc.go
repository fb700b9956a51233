// Package scheduler binds pending pods to nodes. It owns the scheduling
// queue (active, back-off and unschedulable pods), a cache of nodes and the
// pods on them (with assumed pods, so a decision counts before its bind
// write returns), the framework of named plugins at the extension points
// pre-filter, filter, post-filter, pre-score, score, reserve, pre-bind and
// bind, the built-in plugins, and the reporting of why a pod cannot be placed (the
// pod's PodScheduled condition and a FailedScheduling Event).
//
// When no node fits a pod, the DefaultPreemption post-filter evicts pods
// of lower priority (gracefully, through the API) and nominates the pod
// to the node it made room on; pods nominated to a node count there for
// pods of lower or equal priority until they bind. It does not run pods
// (the node agent does), evict them for other reasons, or create them
// (controllers do). It talks to the rest of skiff only through a
// client.Backend: informers for nodes, pods, namespaces and
// PersistentVolumeClaims, and writes of spec.nodeName, pod status and
// Events, a new claim's selected node and Bound status (VolumeBinding,
// local-path volumes), and deletes of preemption victims. It does not
// make or delete volumes (the agent and the volume controller do).
//
// The plugin order, and why, is written in one place: pipeline.go. The
// pipeline is drawn in README.md.
package scheduler
