// Package scheduler binds pending pods to nodes. It owns the scheduling
// queue (active, back-off and unschedulable pods), a cache of nodes and the
// pods on them (with assumed pods, so a decision counts before its bind
// write returns), the framework of named plugins at the extension points
// pre-filter, filter, post-filter, pre-score, score, reserve and bind, the
// built-in plugins, and the reporting of why a pod cannot be placed (the
// pod's PodScheduled condition and a FailedScheduling Event).
//
// It does not run pods (the node agent does), evict or preempt them
// (preemption is a PostFilter plugin still to come), or create them
// (controllers do). It talks to the rest of skiff only through a
// client.Backend: informers for nodes, pods and namespaces, and writes of
// spec.nodeName, pod status and Events.
//
// The plugin order, and why, is written in one place: pipeline.go. The
// pipeline is drawn in README.md.
package scheduler
