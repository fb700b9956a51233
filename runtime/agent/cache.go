package agent

import (
	"sort"
	"sync"

	"github.com/skiffhq/skiff/runtime/container"
)

// cache is the agent's picture of the node's containers, by pod: filled
// by the relist and kept fresh by container events and by the agent's own
// actions. A pod's sync reads it instead of asking the runtime about every
// container again.
type cache struct {
	mu   sync.Mutex
	pods map[string]map[string]container.Status // pod uid → container id → status
}

func newCache() *cache { return &cache{pods: map[string]map[string]container.Status{}} }

// replace installs a full relist and returns the pods whose containers
// changed (appeared, went, or moved state).
func (c *cache) replace(all []container.Status) []string {
	next := map[string]map[string]container.Status{}
	for _, s := range all {
		s = settle(s)
		m := next[s.Pod.UID]
		if m == nil {
			m = map[string]container.Status{}
			next[s.Pod.UID] = m
		}
		m[s.ID] = s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var changed []string
	for uid, m := range next {
		if !samePod(c.pods[uid], m) {
			changed = append(changed, uid)
		}
	}
	for uid := range c.pods {
		if _, ok := next[uid]; !ok {
			changed = append(changed, uid)
		}
	}
	c.pods = next
	return changed
}

// exitLost is the exit code of a run the runtime lost track of.
const exitLost = 255

// settle reads a container the runtime lost track of (its task went
// with its shim: a reboot, a killed shim) as a run that failed, so that
// its pod restarts it by its policy instead of waiting for it forever.
func settle(s container.Status) container.Status {
	if s.State == container.StateUnknown {
		s.State = container.StateExited
		if s.ExitCode == 0 {
			s.ExitCode = exitLost
		}
	}
	return s
}

func samePod(a, b map[string]container.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for id, s := range a {
		t, ok := b[id]
		if !ok || s.State != t.State || s.PID != t.PID || s.ExitCode != t.ExitCode || s.OOMKilled != t.OOMKilled {
			return false
		}
	}
	return true
}

// set records one container's fresh status.
func (c *cache) set(s container.Status) {
	s = settle(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.pods[s.Pod.UID]
	if m == nil {
		m = map[string]container.Status{}
		c.pods[s.Pod.UID] = m
	}
	m[s.ID] = s
}

// remove forgets a container.
func (c *cache) remove(podUID, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pods[podUID], id)
	if len(c.pods[podUID]) == 0 {
		delete(c.pods, podUID)
	}
}

// podOf returns which pod a container id belongs to.
func (c *cache) podOf(id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid, m := range c.pods {
		if _, ok := m[id]; ok {
			return uid, true
		}
	}
	return "", false
}

// runs returns the pod's containers, newest attempt first for each name.
func (c *cache) runs(podUID string) []container.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]container.Status, 0, len(c.pods[podUID]))
	for _, s := range c.pods[podUID] {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Attempt > out[j].Attempt
	})
	return out
}

// podUIDs lists every pod with containers.
func (c *cache) podUIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.pods))
	for uid := range c.pods {
		out = append(out, uid)
	}
	return out
}

// byName groups a pod's runs: for each container name (init containers
// under their own flag), its runs newest first.
func byName(runs []container.Status, init bool) map[string][]container.Status {
	out := map[string][]container.Status{}
	for _, r := range runs {
		if r.Init == init {
			out[r.Name] = append(out[r.Name], r)
		}
	}
	return out
}
