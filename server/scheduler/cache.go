package scheduler

import (
	"sort"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// Cache is the scheduler's view of nodes and the pods on them, fed by the
// informers, plus assumed pods: a pod counts on its node from the moment
// the scheduler picks the node, before the bind write returns, so the next
// decision already sees it. An assumed pod is confirmed when the informer
// shows it bound, forgotten when its bind fails, and expires when its bind
// finished more than the TTL ago and the informer never showed it (the
// write was lost).
//
// Every change makes a new NodeInfo (copy on write) and marks its node
// dirty; UpdateSnapshot copies only the dirty nodes into a Snapshot, so
// a scheduling cycle reads its snapshot without locks and costs O(changes).
type Cache struct {
	now func() time.Time
	ttl time.Duration

	mu         sync.Mutex
	nodes      map[string]*NodeInfo
	pods       map[string]*podState // by namespace/name
	namespaces map[string]map[string]string
	dirty      map[string]bool
	listDirty  bool // nodes added or removed: the snapshot's list is rebuilt
	nsDirty    bool
	// nominations are the pending pods preemption made room for, by pod
	// key; nomDirty says the snapshot's copy is stale.
	nominations map[string]nomination
	nomDirty    bool
}

// nomination is a pending pod and the node it is nominated to.
type nomination struct {
	info *PodInfo
	node string
}

type podState struct {
	info *PodInfo
	node string
	// assumed: placed by the scheduler, not yet seen bound by the informer.
	assumed bool
	// deadline is when an assumed pod whose bind finished expires.
	deadline time.Time
	bound    bool // the bind write finished
}

// NewCache returns an empty cache; ttl is how long an assumed pod whose
// bind returned waits for the informer before it is dropped.
func NewCache(now func() time.Time, ttl time.Duration) *Cache {
	return &Cache{
		now: now, ttl: ttl,
		nodes: map[string]*NodeInfo{}, pods: map[string]*podState{},
		namespaces: map[string]map[string]string{}, dirty: map[string]bool{},
		nominations: map[string]nomination{},
	}
}

// Nominate records that preemption made room for pi on node: until the
// pod is bound or the nomination cleared, pods of lower or equal priority
// count it there. An empty node clears the nomination.
func (c *Cache) Nominate(pi *PodInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if node == "" {
		c.unnominateLocked(pi.Key)
		return
	}
	if n, ok := c.nominations[pi.Key]; ok && n.node == node && n.info == pi {
		return
	}
	c.nominations[pi.Key] = nomination{info: pi, node: node}
	c.nomDirty = true
}

// Unnominate clears a pod's nomination, if it has one.
func (c *Cache) Unnominate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unnominateLocked(key)
}

func (c *Cache) unnominateLocked(key string) {
	if _, ok := c.nominations[key]; ok {
		delete(c.nominations, key)
		c.nomDirty = true
	}
}

// NominatedNode returns the node a pod is nominated to, or "".
func (c *Cache) NominatedNode(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nominations[key].node
}

// edit returns a private copy of the NodeInfo of name (a placeholder if
// there is none) to change, and publishes it.
func (c *Cache) edit(name string) *NodeInfo {
	ni, ok := c.nodes[name]
	if ok {
		ni = ni.clone()
	} else {
		ni = &NodeInfo{}
		c.listDirty = true
	}
	c.nodes[name] = ni
	c.dirty[name] = true
	return ni
}

// dropIfEmpty removes a placeholder without pods.
func (c *Cache) dropIfEmpty(name string) {
	if ni, ok := c.nodes[name]; ok && ni.Node == nil && len(ni.Pods) == 0 {
		delete(c.nodes, name)
		c.dirty[name] = true
		c.listDirty = true
	}
}

// AddNode adds or replaces a node.
func (c *Cache) AddNode(n *api.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ni, ok := c.nodes[n.Name]; !ok || ni.Node == nil {
		c.listDirty = true
	}
	c.edit(n.Name).setNode(n)
}

// RemoveNode removes a node; pods still bound to it stay counted on a
// placeholder until they go.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.nodes[name]; !ok {
		return
	}
	c.edit(name).setNode(nil)
	c.listDirty = true
	c.dropIfEmpty(name)
}

// SetNamespace records a namespace's labels (nil labels: deleted).
func (c *Cache) SetNamespace(name string, labels map[string]string, deleted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		delete(c.namespaces, name)
	} else {
		c.namespaces[name] = labels
	}
	c.nsDirty = true
}

// AddPod counts a bound pod, confirming it if it was assumed.
func (c *Cache) AddPod(p *api.Pod) {
	pi := NewPodInfo(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.pods[pi.Key]; ok {
		c.edit(st.node).removePod(pi.Key)
		c.dropIfEmpty(st.node)
	}
	c.edit(p.Spec.NodeName).addPod(pi)
	c.pods[pi.Key] = &podState{info: pi, node: p.Spec.NodeName}
}

// RemovePod stops counting a pod (deleted, or finished).
func (c *Cache) RemovePod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(key)
}

func (c *Cache) removeLocked(key string) {
	st, ok := c.pods[key]
	if !ok {
		return
	}
	c.edit(st.node).removePod(key)
	c.dropIfEmpty(st.node)
	delete(c.pods, key)
}

// AssumePod counts pi on node before its binding is written. The pod's
// own object is not changed.
func (c *Cache) AssumePod(pi *PodInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(pi.Key)
	c.unnominateLocked(pi.Key) // it counts on its node now, not as a nominee
	c.edit(node).addPod(pi)
	c.pods[pi.Key] = &podState{info: pi, node: node, assumed: true}
}

// FinishBinding starts an assumed pod's expiry clock: its bind write
// returned, so the informer should show it soon.
func (c *Cache) FinishBinding(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.pods[key]; ok && st.assumed {
		st.bound = true
		st.deadline = c.now().Add(c.ttl)
	}
}

// ForgetPod drops an assumed pod whose bind failed. A pod the informer
// has confirmed is kept.
func (c *Cache) ForgetPod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.pods[key]; ok && st.assumed {
		c.removeLocked(key)
	}
}

// IsAssumed reports whether key is assumed and not yet confirmed.
func (c *Cache) IsAssumed(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.pods[key]
	return ok && st.assumed
}

// Expire drops assumed pods whose bind finished more than the TTL ago
// and that the informer never showed bound. It returns their keys.
func (c *Cache) Expire() []string {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for key, st := range c.pods {
		if st.assumed && st.bound && now.After(st.deadline) {
			c.removeLocked(key)
			out = append(out, key)
		}
	}
	return out
}

// PodCount is how many pods the cache counts (bound and assumed).
func (c *Cache) PodCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pods)
}

// nodeCount is how many real nodes the cache holds.
func (c *Cache) nodeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ni := range c.nodes {
		if ni.Node != nil {
			n++
		}
	}
	return n
}

// Snapshot is one scheduling cycle's consistent view of the cluster. It
// belongs to the scheduling goroutine; its NodeInfos are never changed.
type Snapshot struct {
	nodes map[string]*NodeInfo
	// list holds the real nodes (not placeholders), by name; pos is each
	// one's index in it.
	list []*NodeInfo
	pos  map[string]int
	// havePodsWithAffinity and havePodsWithRequiredAntiAffinity are the
	// nodes of list with such pods.
	havePodsWithAffinity             []*NodeInfo
	havePodsWithRequiredAntiAffinity []*NodeInfo
	// imageNodes counts the nodes that have each image.
	imageNodes map[string]int
	namespaces map[string]map[string]string
	// labelNodes maps a labelKey to the real nodes with pods so labelled
	// (and how many); prefNodes maps a labelKey to the real nodes whose
	// pods have preferred terms selecting it. They let a count for one
	// label visit only the nodes that have it.
	labelNodes map[string]map[string]int32
	prefNodes  map[string]map[string]bool
	// nominated maps a node to the pending pods nominated to it;
	// nominatedNode maps a pod key to its nominated node.
	nominated     map[string][]*PodInfo
	nominatedNode map[string]string
}

// NewSnapshot returns an empty snapshot to pass to UpdateSnapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{
		nodes: map[string]*NodeInfo{}, pos: map[string]int{}, imageNodes: map[string]int{}, namespaces: map[string]map[string]string{},
		labelNodes: map[string]map[string]int32{}, prefNodes: map[string]map[string]bool{},
		nominated: map[string][]*PodInfo{}, nominatedNode: map[string]string{},
	}
}

// nominate records pi as nominated to node in the snapshot (the cache's
// UpdateSnapshot, and tests).
func (s *Snapshot) nominate(pi *PodInfo, node string) {
	s.nominated[node] = append(s.nominated[node], pi)
	s.nominatedNode[pi.Key] = node
}

// NominatedPods returns the pods nominated to a node. The slice is
// shared: do not change it.
func (s *Snapshot) NominatedPods(node string) []*PodInfo { return s.nominated[node] }

// snapshotOf builds a snapshot from NodeInfos, for tests and benchmarks
// of single plugins.
func snapshotOf(nodes ...*NodeInfo) *Snapshot {
	s := NewSnapshot()
	for _, ni := range nodes {
		s.nodes[ni.Name()] = ni
		s.countImagesOf(ni, 1)
		s.indexLabels(ni.Name(), ni)
	}
	s.rebuild(true, nil)
	return s
}

// Nodes returns the nodes, by name. The slice is shared: do not change it.
func (s *Snapshot) Nodes() []*NodeInfo { return s.list }

// Get returns the NodeInfo of a node.
func (s *Snapshot) Get(name string) (*NodeInfo, bool) {
	ni, ok := s.nodes[name]
	if !ok || ni.Node == nil {
		return nil, false
	}
	return ni, true
}

// NamespaceLabels returns a namespace's labels.
func (s *Snapshot) NamespaceLabels(ns string) map[string]string { return s.namespaces[ns] }

// UpdateSnapshot brings s up to date with the cache.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nomDirty {
		clear(s.nominated)
		clear(s.nominatedNode)
		for _, n := range c.nominations {
			s.nominate(n.info, n.node)
		}
		c.nomDirty = false
	}
	if len(c.dirty) == 0 && !c.listDirty && !c.nsDirty {
		return
	}
	var changed []string
	for name := range c.dirty {
		changed = append(changed, name)
		old := s.nodes[name]
		ni, ok := c.nodes[name]
		if ok {
			s.nodes[name] = ni
		} else {
			delete(s.nodes, name)
		}
		if old == nil || ni == nil || old.Node != ni.Node {
			s.countImagesOf(old, -1)
			s.countImagesOf(ni, 1)
		}
		s.reindexLabels(name, old, ni)
		delete(c.dirty, name)
	}
	if c.nsDirty {
		s.namespaces = make(map[string]map[string]string, len(c.namespaces))
		for k, v := range c.namespaces {
			s.namespaces[k] = v
		}
		c.nsDirty = false
	}
	s.rebuild(c.listDirty, changed)
	c.listDirty = false
}

// indexLabels files a real node under its labelCounts and prefTerms keys.
func (s *Snapshot) indexLabels(name string, ni *NodeInfo) {
	if ni == nil || ni.Node == nil {
		return
	}
	for key, n := range ni.labelCounts {
		m := s.labelNodes[key]
		if m == nil {
			m = map[string]int32{}
			s.labelNodes[key] = m
		}
		m[name] = n
	}
	for key := range ni.prefTerms {
		m := s.prefNodes[key]
		if m == nil {
			m = map[string]bool{}
			s.prefNodes[key] = m
		}
		m[name] = true
	}
}

// reindexLabels moves a node's index entries from old to ni, touching
// only the keys whose counts changed (a pod came or went: a few).
func (s *Snapshot) reindexLabels(name string, old, ni *NodeInfo) {
	var oldCounts, newCounts map[string]int32
	var oldPref, newPref map[string]map[string]int64
	if old != nil && old.Node != nil {
		oldCounts, oldPref = old.labelCounts, old.prefTerms
	}
	if ni != nil && ni.Node != nil {
		newCounts, newPref = ni.labelCounts, ni.prefTerms
	}
	for key := range oldCounts {
		if _, ok := newCounts[key]; !ok {
			if m := s.labelNodes[key]; m != nil {
				delete(m, name)
				if len(m) == 0 {
					delete(s.labelNodes, key)
				}
			}
		}
	}
	for key, n := range newCounts {
		if o, ok := oldCounts[key]; ok && o == n {
			continue
		}
		m := s.labelNodes[key]
		if m == nil {
			m = map[string]int32{}
			s.labelNodes[key] = m
		}
		m[name] = n
	}
	for key := range oldPref {
		if _, ok := newPref[key]; !ok {
			if m := s.prefNodes[key]; m != nil {
				delete(m, name)
				if len(m) == 0 {
					delete(s.prefNodes, key)
				}
			}
		}
	}
	for key := range newPref {
		if _, ok := oldPref[key]; ok {
			continue
		}
		m := s.prefNodes[key]
		if m == nil {
			m = map[string]bool{}
			s.prefNodes[key] = m
		}
		m[name] = true
	}
}

// countImagesOf adds (sign +1) or takes away (-1) a node's images.
func (s *Snapshot) countImagesOf(ni *NodeInfo, sign int) {
	if ni == nil || ni.Node == nil {
		return
	}
	for img := range ni.Images {
		if n := s.imageNodes[img] + sign; n > 0 {
			s.imageNodes[img] = n
		} else {
			delete(s.imageNodes, img)
		}
	}
}

// rebuild refreshes the lists from s.nodes: with relist it rebuilds the
// node list (nodes came or went), else it replaces the changed nodes.
func (s *Snapshot) rebuild(relist bool, changed []string) {
	if relist {
		s.list = s.list[:0]
		for _, ni := range s.nodes {
			if ni.Node != nil {
				s.list = append(s.list, ni)
			}
		}
		sort.Slice(s.list, func(i, j int) bool { return s.list[i].Node.Name < s.list[j].Node.Name })
		clear(s.pos)
		for i, ni := range s.list {
			s.pos[ni.Node.Name] = i
		}
	} else {
		for _, name := range changed {
			if i, ok := s.pos[name]; ok {
				s.list[i] = s.nodes[name]
			}
		}
	}
	s.havePodsWithAffinity = s.havePodsWithAffinity[:0]
	s.havePodsWithRequiredAntiAffinity = s.havePodsWithRequiredAntiAffinity[:0]
	for _, ni := range s.list {
		if len(ni.PodsWithAffinity) > 0 {
			s.havePodsWithAffinity = append(s.havePodsWithAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.havePodsWithRequiredAntiAffinity = append(s.havePodsWithRequiredAntiAffinity, ni)
		}
	}
}

// nominationCount is how many pods are nominated (benchmarks).
func (c *Cache) nominationCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nominations)
}
