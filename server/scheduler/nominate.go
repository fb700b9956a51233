package scheduler

import "github.com/skiffhq/skiff/server/api"

// This file is the scheduler's side of preemption: the nominations. A pod
// preemption made room for is nominated to that node — in the cache at
// once (so the next cycle's filters count it there for pods of lower or
// equal priority) and in its status.nominatedNodeName (for people, and
// for a scheduler that restarts; the reporter writes it). The nomination
// ends when the pod is bound (assumed), deleted, or no room can be made
// for it any more; a pod bound elsewhere than its nominated node has the
// field cleared.

// afterPostFilter acts on the post-filter's answer for a pod no node
// fits: node is where room was made (or is still being made), "" if none
// can be.
func (s *Scheduler) afterPostFilter(pi *PodInfo, node string, st *Status) {
	switch {
	case node != "":
		// Nominated pods of lower priority lose the node: the room is
		// this pod's now, and they must look again.
		for _, np := range s.snap.NominatedPods(node) {
			if np.Key != pi.Key && priority(np.Pod) < priority(pi.Pod) {
				s.cache.Unnominate(np.Key)
				s.reporter.nominate(np.Pod, "")
			}
		}
		if had := s.cache.NominatedNode(pi.Key); had != node {
			s.log.Info("pod nominated: room made by preemption", "pod", pi.Key, "node", node)
		}
		s.cache.Nominate(pi, node)
		if pi.Pod.Status.NominatedNodeName != node {
			s.reporter.nominate(pi.Pod, node)
		}
	case st != nil && st.Code == Error:
		s.log.Error("post-filter", "pod", pi.Key, "plugin", st.Plugin, "err", st.Error())
	default:
		// No room can be made: a nomination is no longer needed.
		if s.cache.NominatedNode(pi.Key) != "" || pi.Pod.Status.NominatedNodeName != "" {
			s.cache.Unnominate(pi.Key)
			s.reporter.nominate(pi.Pod, "")
		}
	}
}

// nominationToClear reports whether a pod about to be bound to node has a
// nomination elsewhere, to clear once it is bound.
func (s *Scheduler) nominationToClear(pi *PodInfo, node string) bool {
	nn := s.cache.NominatedNode(pi.Key)
	if nn == "" {
		nn = pi.Pod.Status.NominatedNodeName
	}
	return nn != "" && nn != node
}

// trackNomination follows a pending pod's status.nominatedNodeName as
// the informer shows it (old is nil for a new pod): after a restart, or
// when a write of ours lands.
func (s *Scheduler) trackNomination(old, p *api.Pod) {
	nn := p.Status.NominatedNodeName
	if old != nil && old.Status.NominatedNodeName == nn {
		return
	}
	if nn == "" {
		s.cache.Unnominate(podKey(p))
		return
	}
	if s.cache.IsAssumed(podKey(p)) {
		return // placed meanwhile; the bind will show soon
	}
	s.cache.Nominate(NewPodInfo(p), nn)
}
