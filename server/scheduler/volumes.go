package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// VolumeBinding places pods with PersistentVolumeClaims for skiff's one
// storage class, local-path: a volume is a directory on one node, made
// on the node of the first pod that uses the claim (Kubernetes'
// WaitForFirstConsumer). So:
//
//   - PreFilter: every claim the pod names must exist in its namespace
//     and not be being deleted. A claim's node is the one this plugin
//     assumed for it (Reserve) or its AnnotationSelectedNode. Pods
//     without claims skip it.
//   - Filter: a node other than a claim's node does not fit; nor does
//     any node while another unfinished pod uses a ReadWriteOncePod
//     claim of the pod.
//   - Reserve: a claim with no node yet is assumed on the chosen node in
//     memory, so the next pod using it goes there too before the
//     annotation is written and seen; Unreserve forgets it, and so does
//     the informer showing the annotation (ClaimObserved).
//   - PreBind: a claim with no node gets AnnotationSelectedNode (if it
//     meanwhile names another node the pod is rescheduled), then status
//     Bound with its access modes and capacity. Each claim is written
//     once in its life; a claim that names the node and is Bound is not
//     written at all.
//
// Both refusals are UnschedulableAndUnresolvable: evicting pods from a
// node does not move a volume. (Kubernetes lets preemption evict the
// other user of a ReadWriteOncePod claim; here the pod waits for it to
// go, on AssignedPodDelete.)
type VolumeBinding struct {
	claims ClaimLister
	b      client.Backend

	mu sync.Mutex
	// assumed are the claims Reserve placed whose annotation the
	// informer has not shown yet, by claim key.
	assumed map[string]*assumedClaim
}

var (
	_ PreFilterPlugin = (*VolumeBinding)(nil)
	_ FilterPlugin    = (*VolumeBinding)(nil)
	_ ReservePlugin   = (*VolumeBinding)(nil)
	_ PreBindPlugin   = (*VolumeBinding)(nil)
)

// ClaimLister reads claims from a cache; the claims informer is one.
type ClaimLister interface {
	Get(namespace, name string) (*api.PersistentVolumeClaim, bool)
}

var _ ClaimLister = (*client.Informer[*api.PersistentVolumeClaim])(nil)

// assumedClaim is a claim placed on a node by Reserve, and the pods
// reserved on it for that claim: the placement lasts while one of them
// does, or until the informer shows the claim's annotation.
type assumedClaim struct {
	uid  string
	node string
	pods map[string]bool
}

// NewVolumeBinding returns the plugin, reading claims from claims and
// writing them through b.
func NewVolumeBinding(claims ClaimLister, b client.Backend) *VolumeBinding {
	return &VolumeBinding{claims: claims, b: b, assumed: map[string]*assumedClaim{}}
}

// Name of the plugin.
func (*VolumeBinding) Name() string { return "VolumeBinding" }

// The reasons, in Kubernetes' words.
const (
	reasonVolumeNodeConflict = "node(s) had volume node affinity conflict"
	reasonRWOPConflict       = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)

// podClaim is one claim of the pod being scheduled, as PreFilter found it.
type podClaim struct {
	key   string
	claim *api.PersistentVolumeClaim
	// node holds the volume: assumed, else the annotation; "" if none.
	node string
	// assumed: node is this plugin's assumption, not yet the annotation.
	assumed bool
}

// volumeState is PreFilter's result for Filter, Reserve and PreBind.
type volumeState struct {
	claims []podClaim
	// node is the node every claim's volume is on ("" if none has one);
	// conflict: two claims are on different nodes, so no node fits.
	node     string
	conflict bool
	// rwopInUse: another pod uses a ReadWriteOncePod claim of the pod.
	rwopInUse bool
}

// PreFilter looks the pod's claims up and finds their node.
func (v *VolumeBinding) PreFilter(_ context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) *Status {
	if len(pod.Claims) == 0 {
		return NewStatus(Skip)
	}
	ns := pod.Pod.Namespace
	vs := &volumeState{claims: make([]podClaim, 0, len(pod.Claims))}
	rwop := false
	for _, key := range pod.Claims {
		name := key[len(ns)+1:]
		c, ok := v.claims.Get(ns, name)
		switch {
		case !ok:
			return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", name))
		case c.DeletionTimestamp != nil:
			return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		pc := podClaim{key: key, claim: c, node: c.Annotations[api.AnnotationSelectedNode]}
		if pc.node == "" {
			pc.node = v.assumedNodeOf(key, c.UID)
			pc.assumed = pc.node != ""
		}
		if pc.node == "" {
			// No node written or assumed, yet pods may run on it (the
			// annotation was removed by hand while they run): the
			// volume is where they are, not anywhere.
			var multi bool
			if pc.node, multi = nodeUsing(key, snap); multi {
				vs.conflict = true
			}
		}
		switch {
		case pc.node == "":
		case vs.node == "":
			vs.node = pc.node
		case vs.node != pc.node:
			vs.conflict = true
		}
		if hasAccessMode(c, api.ReadWriteOncePod) {
			rwop = true
		}
		vs.claims = append(vs.claims, pc)
	}
	if rwop {
		vs.rwopInUse = rwopInUse(pod, vs.claims, snap)
	}
	state.Write(v.Name(), vs)
	return nil
}

// nodeUsing is the node of the bound or assumed pods that use claim key
// ("" if none does), and whether they are on more than one node.
func nodeUsing(key string, snap *Snapshot) (string, bool) {
	node := ""
	for name, ni := range snap.nodes {
		if ni.claimCounts[key] == 0 {
			continue
		}
		if node != "" && node != name {
			return node, true
		}
		node = name
	}
	return node, false
}

func hasAccessMode(c *api.PersistentVolumeClaim, m api.PersistentVolumeAccessMode) bool {
	return slices.Contains(c.Spec.AccessModes, m)
}

// rwopInUse reports whether a pod other than pod, bound or assumed on
// any node (finished pods are not in the cache), uses one of its
// ReadWriteOncePod claims.
func rwopInUse(pod *PodInfo, claims []podClaim, snap *Snapshot) bool {
	for i := range claims {
		if !hasAccessMode(claims[i].claim, api.ReadWriteOncePod) {
			continue
		}
		key := claims[i].key
		for _, ni := range snap.nodes {
			if ni.claimCounts[key] == 0 {
				continue
			}
			for _, p := range ni.Pods {
				if p.Key != pod.Key && slices.Contains(p.Claims, key) {
					return true
				}
			}
		}
	}
	return false
}

func volumeStateOf(state *CycleState, name string) *volumeState {
	vs, _ := state.Read(name).(*volumeState)
	return vs
}

// Filter refuses every node while a ReadWriteOncePod claim is in use,
// and every node but the claims' node.
func (v *VolumeBinding) Filter(_ context.Context, state *CycleState, _ *PodInfo, node *NodeInfo) *Status {
	vs := volumeStateOf(state, v.Name())
	switch {
	case vs == nil:
		return nil
	case vs.rwopInUse:
		return NewStatus(UnschedulableAndUnresolvable, reasonRWOPConflict)
	case vs.conflict || (vs.node != "" && vs.node != node.Node.Name):
		return NewStatus(UnschedulableAndUnresolvable, reasonVolumeNodeConflict)
	}
	return nil
}

// Reserve assumes the claims without a node on node, and counts the pod
// as a holder of the assumptions it followed.
func (v *VolumeBinding) Reserve(_ context.Context, state *CycleState, pod *PodInfo, node string) *Status {
	vs := volumeStateOf(state, v.Name())
	if vs == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, pc := range vs.claims {
		if pc.node != "" && !pc.assumed {
			continue // the annotation holds it
		}
		a := v.assumed[pc.key]
		if a == nil || a.uid != pc.claim.UID {
			if pc.assumed {
				// The assumption this pod followed is gone: the informer
				// showed the annotation meanwhile, which holds the claim.
				continue
			}
			if cur, ok := v.claims.Get(pod.Pod.Namespace, pc.claim.Name); ok && cur.UID == pc.claim.UID &&
				cur.Annotations[api.AnnotationSelectedNode] != "" {
				continue // written since PreFilter read it
			}
			a = &assumedClaim{uid: pc.claim.UID, node: node, pods: map[string]bool{}}
			v.assumed[pc.key] = a
		}
		a.pods[pod.Key] = true
	}
	return nil
}

// Unreserve forgets the pod's holds; an assumption no pod holds is
// forgotten.
func (v *VolumeBinding) Unreserve(_ context.Context, state *CycleState, pod *PodInfo, _ string) {
	vs := volumeStateOf(state, v.Name())
	if vs == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, pc := range vs.claims {
		a := v.assumed[pc.key]
		if a == nil || a.uid != pc.claim.UID {
			continue
		}
		delete(a.pods, pod.Key)
		if len(a.pods) == 0 {
			delete(v.assumed, pc.key)
		}
	}
}

// ClaimObserved is told of each claim the informer shows (nil deleted
// with its key): once the annotation is there, or the claim is gone, the
// assumption is not needed.
func (v *VolumeBinding) ClaimObserved(key string, c *api.PersistentVolumeClaim) {
	v.mu.Lock()
	defer v.mu.Unlock()
	a := v.assumed[key]
	if a == nil {
		return
	}
	if c == nil || c.UID != a.uid || c.Annotations[api.AnnotationSelectedNode] != "" {
		delete(v.assumed, key)
	}
}

// assumedNodeOf is the node Reserve placed the claim (key, uid) on, or "".
func (v *VolumeBinding) assumedNodeOf(key, uid string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if a := v.assumed[key]; a != nil && a.uid == uid {
		return a.node
	}
	return ""
}

// PreBind writes node on the claims that do not name it yet and marks
// them Bound.
func (v *VolumeBinding) PreBind(ctx context.Context, state *CycleState, _ *PodInfo, node string) *Status {
	vs := volumeStateOf(state, v.Name())
	if vs == nil {
		return NewStatus(Skip)
	}
	for _, pc := range vs.claims {
		c := pc.claim
		if c.Annotations[api.AnnotationSelectedNode] == node && c.Status.Phase == api.ClaimBound {
			continue
		}
		if err := v.bindClaim(ctx, c, node); err != nil {
			return AsStatus(err)
		}
	}
	return nil
}

// bindClaim writes node on claim c and marks it Bound
// (client.BindClaim). Its errors never say "not found": that would read
// as the pod being gone.
func (v *VolumeBinding) bindClaim(ctx context.Context, c *api.PersistentVolumeClaim, node string) error {
	if _, err := client.BindClaim(ctx, v.b, c, node); err != nil {
		return errors.New(err.Error()) // %v, not %w: a claim not found must not read as the pod gone
	}
	return nil
}
