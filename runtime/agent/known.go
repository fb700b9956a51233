package agent

// KnownPod says whether the agent knows the pod with this UID: the API
// binds it to this node (it is in the agent's pod informer), the agent is
// tearing it down, or it still has containers on the node. Until the
// informer has its first list of pods every pod counts as known, so that
// nothing is taken for an orphan before it could be known. It is what
// runtime/gc's Config.KnownPod asks, and safe to call from any goroutine
// at any time, before Run too.
func (a *Agent) KnownPod(uid string) bool {
	if !a.pods.HasSynced() {
		return true
	}
	if _, ok := a.podByUID(uid); ok {
		return true
	}
	a.mu.Lock()
	terminating := a.terminating[uid]
	a.mu.Unlock()
	return terminating || len(a.cache.runs(uid)) > 0
}
