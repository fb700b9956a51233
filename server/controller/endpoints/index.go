package endpoints

import (
	"strconv"
	"sync"

	"github.com/skiffhq/skiff/server/api"
)

// The controller's own indexes, which make "which pods does this service
// select" and "which services select this pod" lookups of a few objects
// rather than scans of a namespace: a sync of one service among 1,000 in
// a namespace of 10,000 pods reads its 10 pods, and a pod's readiness
// change looks at the services that select one of its labels. Their
// names are prefixed with the package's, so that no other user of the
// shared informers can file a different function under them.
const (
	// byPodLabel files a pod under "namespace/key=value" for each label.
	byPodLabel = "endpoints.pod-label"
	// bySelectorLabel files a service under "namespace/key=value" for
	// each pair of its selector.
	bySelectorLabel = "endpoints.selector-label"
)

func labelKey(ns, k, v string) string { return ns + "/" + k + "=" + v }

func podLabelIndex(p *api.Pod) []string {
	out := make([]string, 0, len(p.Labels))
	for k, v := range p.Labels {
		out = append(out, labelKey(p.Namespace, k, v))
	}
	return out
}

func selectorLabelIndex(s *api.Service) []string {
	out := make([]string, 0, len(s.Spec.Selector))
	for k, v := range s.Spec.Selector {
		out = append(out, labelKey(s.Namespace, k, v))
	}
	return out
}

// podsFor returns the cached pods that may be svc's: those with the
// label of svc's selector that the fewest pods have. (subsets checks the
// whole selector.)
func (c *Controller) podsFor(svc *api.Service) []*api.Pod {
	var best []*api.Pod
	first := true
	for k, v := range svc.Spec.Selector {
		pods := c.pods.ByIndex(byPodLabel, labelKey(svc.Namespace, k, v))
		if first || len(pods) < len(best) {
			best, first = pods, false
		}
		if len(best) == 0 {
			break
		}
	}
	return best
}

// selecting returns the cached services of namespace ns whose selector
// matches labels.
func (c *Controller) selecting(ns string, labels map[string]string) []*api.Service {
	var out []*api.Service
	seen := map[string]bool{}
	for k, v := range labels {
		for _, s := range c.services.ByIndex(bySelectorLabel, labelKey(ns, k, v)) {
			if !seen[s.Name] && selects(s.Spec.Selector, labels) {
				out = append(out, s)
			}
			seen[s.Name] = true
		}
	}
	return out
}

// lastWrites holds, per service, the Endpoints this controller last
// wrote until the endpoints cache shows them. A sync on a cache that is
// behind compares with (and updates) what was written rather than an
// older copy, so it neither writes again what it just wrote nor fails on
// a conflict with itself; and the cache's event for a write of its own
// is told apart from a change someone else made, which alone needs a
// sync.
type lastWrites struct {
	mu sync.Mutex
	m  map[string]*api.Endpoints
}

func rvOf(ep *api.Endpoints) int64 {
	n, err := strconv.ParseInt(ep.ResourceVersion, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// wrote records ep, just written for service key.
func (w *lastWrites) wrote(key string, ep *api.Endpoints) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]*api.Endpoints{}
	}
	w.m[key] = ep
}

// current returns what was last written for key if the cached copy
// (exists false: none) does not show it yet, else the cached copy.
func (w *lastWrites) current(key string, cached *api.Endpoints, exists bool) (*api.Endpoints, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if mine, ok := w.m[key]; ok && (!exists || rvOf(mine) > rvOf(cached)) {
		return mine, true
	}
	return cached, exists
}

// seen is told of each Endpoints the cache gets for key, and reports
// whether it is this controller's own write (or an older state), which
// needs no sync. Once the cache has caught up the record is dropped.
func (w *lastWrites) seen(key string, ep *api.Endpoints) (own bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	mine, ok := w.m[key]
	if !ok {
		return false
	}
	got, want := rvOf(ep), rvOf(mine)
	if got >= want {
		delete(w.m, key)
	}
	return got <= want && got >= 0
}

// forget drops what is held for key.
func (w *lastWrites) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
