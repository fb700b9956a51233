package api

// The finalizers skiff itself sets, in metadata.finalizers. A delete of an
// object with finalizers sets its deletionTimestamp and keeps it; whoever
// owns a finalizer does its work and removes it, and the store removes the
// object once none is left (and no pod grace period is pending).
const (
	// FinalizerForeground (Kubernetes' "foregroundDeletion") holds an
	// owner until the garbage collector has deleted its dependents. A
	// delete with propagationPolicy Foreground sets it.
	FinalizerForeground = "foregroundDeletion"
	// FinalizerOrphan (Kubernetes' "orphan") holds an owner until the
	// garbage collector has removed the owner references to it from its
	// dependents, which stay. A delete with propagationPolicy Orphan sets
	// it.
	FinalizerOrphan = "orphan"
	// FinalizerNamespace holds a namespace being deleted until the
	// garbage collector has deleted everything in it. Every delete of a
	// namespace sets it, with status.phase Terminating.
	FinalizerNamespace = "skiff.dev/namespace"
)
