package daemonset

import (
	"context"
	"sort"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
	"github.com/skiffhq/skiff/server/scheduler"
)

// fit says whether a daemon set's pod belongs on a node: shouldRun, a
// pod is placed there; shouldContinue, a pod already there may stay
// (false once the node stops matching the selector or affinity, or gets
// a NoExecute taint the pod does not tolerate). A NoSchedule taint keeps
// new pods off but lets a running one stay, as in Kubernetes.
type fit struct{ shouldRun, shouldContinue bool }

// fitter decides fit with the scheduler's own NodeAffinity and
// TaintToleration filters, so the controller and the scheduler never
// disagree about where a pod may go.
type fitter struct {
	pod *scheduler.PodInfo
}

// newFitter builds the fitter for ds: its template with the default
// tolerations, before the per-node affinity is added.
func newFitter(ds *api.DaemonSet) *fitter {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: ds.Namespace, Name: ds.Name}, Spec: ds.Spec.Template.Spec}
	p.Spec.Tolerations = withDefaultTolerations(ds.Spec.Template.Spec.Tolerations)
	return &fitter{pod: scheduler.NewPodInfo(p)}
}

func (f *fitter) fit(n *api.Node) fit {
	ctx := context.Background()
	ni := scheduler.NewNodeInfo(n)
	if s := (scheduler.NodeAffinity{}).Filter(ctx, scheduler.NewCycleState(), f.pod, ni); s != nil {
		return fit{}
	}
	if len(n.Spec.Taints) == 0 {
		return fit{true, true}
	}
	if s := (scheduler.TaintToleration{}).Filter(ctx, scheduler.NewCycleState(), f.pod, ni); s == nil {
		return fit{true, true}
	}
	// Untolerated: may a running pod stay? Only NoExecute taints say no.
	noExec := *n
	noExec.Spec.Taints = nil
	for _, t := range n.Spec.Taints {
		if t.Effect == api.TaintEffectNoExecute {
			noExec.Spec.Taints = append(noExec.Spec.Taints, t)
		}
	}
	s := (scheduler.TaintToleration{}).Filter(ctx, scheduler.NewCycleState(), f.pod, scheduler.NewNodeInfo(&noExec))
	return fit{shouldRun: false, shouldContinue: s == nil}
}

// decision is what one sync does: pods to create (by node), pods to
// delete, pods to delete at once (their node is gone, no agent will
// finish them), and the status the cache shows.
type decision struct {
	create      []string
	delete      []*api.Pod
	forceDelete []*api.Pod
	status      api.DaemonSetStatus
	// notYetAvailable: some pod is ready but not yet for minReadySeconds.
	notYetAvailable bool
}

// plan decides, from the cached nodes and ds's pods, what a sync of ds
// does at now. hash is the template's revision. It is pure: the unit
// tests drive it with made-up nodes, pods and clocks.
//
// A rolling update either deletes old pods first, at most maxUnavailable
// nodes without an available pod at a time (maxSurge 0, the default), or
// surges: it starts the new pod next to the old one on at most maxSurge
// nodes at a time, and deletes the old one once the new one is available.
func plan(ds *api.DaemonSet, hash string, nodes []*api.Node, pods []*api.Pod, now time.Time) decision {
	var d decision
	byNode := map[string][]*api.Pod{}
	for _, p := range pods {
		byNode[targetNode(p)] = append(byNode[targetNode(p)], p)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	f := newFitter(ds)
	fits := make([]fit, len(nodes))
	known := make(map[string]bool, len(nodes))
	s := &d.status
	for i, n := range nodes {
		known[n.Name] = true
		fits[i] = f.fit(n)
		if fits[i].shouldRun {
			s.DesiredNumberScheduled++
		}
	}
	minReady := ds.Spec.MinReadySeconds
	rolling := ds.Spec.UpdateStrategy.Type != api.OnDeleteDaemonSetStrategyType
	surge := 0
	if rolling {
		surge = maxSurge(ds, int(s.DesiredNumberScheduled))
	}
	var unavailable, surging int
	var oldAvailable []*api.Pod  // candidates for deletion (no surge)
	var surgeCandidates []string // nodes for a new pod beside the old (surge)
	for i, n := range nodes {
		fit := fits[i]
		var active []*api.Pod
		terminating := false
		for _, p := range byNode[n.Name] {
			switch {
			case p.DeletionTimestamp != nil:
				terminating = true
			case podstate.Finished(p):
				// A daemon must run: replace a pod that ended.
				d.delete = append(d.delete, p)
				terminating = true
			default:
				active = append(active, p)
			}
		}
		if !fit.shouldRun && len(active) > 0 {
			s.NumberMisscheduled++
		}
		if !fit.shouldContinue {
			d.delete = append(d.delete, active...)
			continue
		}
		if len(active) == 0 {
			if fit.shouldRun {
				unavailable++
				if !terminating {
					// A pod still terminating there may hold host ports
					// and volumes: wait for it to go.
					d.create = append(d.create, n.Name)
				}
			}
			continue
		}
		sort.SliceStable(active, func(i, j int) bool { return keepFirst(active[i], active[j], hash, minReady, now) })
		kept := active[0]
		updated := kept.Labels[RevisionLabel] == hash
		ready, available := false, false
		for _, p := range active {
			ready = ready || podstate.Ready(p)
			available = available || podstate.Available(p, minReady, now, podstate.AtEnd)
		}
		if surge > 0 && updated && fit.shouldRun {
			// Surging here: the old pods stay until the new one is up.
			for _, p := range active[1:] {
				switch {
				case p.Labels[RevisionLabel] == hash:
					d.delete = append(d.delete, p) // a second new one
				case podstate.Available(kept, minReady, now, podstate.AtEnd):
					d.delete = append(d.delete, p)
				default:
					surging++
				}
			}
		} else {
			d.delete = append(d.delete, active[1:]...)
			ready, available = podstate.Ready(kept), podstate.Available(kept, minReady, now, podstate.AtEnd)
		}
		if !fit.shouldRun {
			continue // may stay, but is counted as misscheduled only
		}
		s.CurrentNumberScheduled++
		if updated {
			s.UpdatedNumberScheduled++
		}
		if ready {
			s.NumberReady++
		}
		if available {
			s.NumberAvailable++
		} else {
			unavailable++
		}
		if podstate.Ready(kept) && !podstate.Available(kept, minReady, now, podstate.AtEnd) {
			d.notYetAvailable = true
		}
		switch {
		case !rolling || updated:
		case surge > 0 && !available:
			d.create = append(d.create, n.Name) // down anyway: replace at once
		case surge > 0:
			surgeCandidates = append(surgeCandidates, n.Name)
		case !available:
			// Old and down anyway: replacing it costs nothing.
			d.delete = append(d.delete, kept)
		default:
			oldAvailable = append(oldAvailable, kept)
		}
	}
	s.NumberUnavailable = max(s.DesiredNumberScheduled-s.NumberAvailable, 0)
	switch {
	case surge > 0:
		for i := 0; i < surge-surging && i < len(surgeCandidates); i++ {
			d.create = append(d.create, surgeCandidates[i])
		}
	case rolling:
		budget := maxUnavailable(ds, int(s.DesiredNumberScheduled)) - unavailable
		for i := 0; i < budget && i < len(oldAvailable); i++ {
			d.delete = append(d.delete, oldAvailable[i])
		}
	}
	for node, ps := range byNode {
		if known[node] {
			continue
		}
		for _, p := range ps {
			if p.DeletionTimestamp == nil || p.Spec.NodeName != "" {
				d.forceDelete = append(d.forceDelete, p)
			}
		}
	}
	sort.Slice(d.forceDelete, func(i, j int) bool { return d.forceDelete[i].Name < d.forceDelete[j].Name })
	s.ObservedGeneration = ds.Generation
	s.CollisionCount = ds.Status.CollisionCount
	s.Conditions = ds.Status.Conditions
	return d
}

// keepFirst orders the pods of one node: the one to keep first. Updated
// before old, available before not, older before newer, then by name.
func keepFirst(a, b *api.Pod, hash string, minReady int32, now time.Time) bool {
	if ua, ub := a.Labels[RevisionLabel] == hash, b.Labels[RevisionLabel] == hash; ua != ub {
		return ua
	}
	if aa, ab := podstate.Available(a, minReady, now, podstate.AtEnd), podstate.Available(b, minReady, now, podstate.AtEnd); aa != ab {
		return aa
	}
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.Before(b.CreationTimestamp.Time)
	}
	return a.Name < b.Name
}

// maxSurge is on how many nodes a rolling update may run the new pod
// beside the old one: the strategy's count or percentage of the desired
// nodes (rounded up, as Kubernetes); 0 deletes old pods first.
func maxSurge(ds *api.DaemonSet, desired int) int {
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
		if v, err := ru.MaxSurge.GetScaledValue(desired, true); err == nil {
			return max(v, 0)
		}
	}
	return 0
}

// maxUnavailable is how many nodes may be without an available pod
// during a rolling update without surge: the strategy's count or
// percentage of the desired nodes (rounded up, as Kubernetes), at least
// 1, or it would never make progress.
func maxUnavailable(ds *api.DaemonSet, desired int) int {
	n := 1
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		if v, err := ru.MaxUnavailable.GetScaledValue(desired, true); err == nil {
			n = v
		}
	}
	return max(n, 1)
}
