package statefulset

import (
	"sync"

	"github.com/skiffhq/skiff/server/api"
)

// templates remembers, per set, the pod template of each revision the
// set has had while this controller watched it, so that a replica below
// a rolling update's partition is recreated at the current revision, as
// Kubernetes does, and not at the one being rolled out. Kubernetes keeps
// these in ControllerRevision objects; skiff has no such kind yet, so
// after a controller restart the current revision's template is unknown
// until the rollout ends, and such a replica is recreated at the update
// revision instead (see templateFor).
type templates struct {
	mu sync.Mutex
	m  map[string]map[string]*api.PodTemplateSpec // set uid → revision → template
}

func newTemplates() *templates {
	return &templates{m: map[string]map[string]*api.PodTemplateSpec{}}
}

// observe records s's template under its revision and forgets the
// revisions its status no longer names. It returns the current
// revision's template, nil if unknown.
func (t *templates) observe(s *api.StatefulSet) *api.PodTemplateSpec {
	rev := revision(s)
	t.mu.Lock()
	defer t.mu.Unlock()
	revs := t.m[s.UID]
	if revs == nil {
		revs = map[string]*api.PodTemplateSpec{}
		t.m[s.UID] = revs
	}
	if _, ok := revs[rev]; !ok {
		tmpl := s.Spec.Template // the cached set is never changed
		revs[rev] = &tmpl
	}
	current := s.Status.CurrentRevision
	for r := range revs {
		if r != rev && r != current {
			delete(revs, r)
		}
	}
	return revs[current]
}

// forget drops a deleted set's templates.
func (t *templates) forget(uid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, uid)
}

// templateFor is the template and revision replica ordinal is created
// from: the current revision's for an ordinal below a rolling update's
// partition while the rollout is under way (if its template is known),
// else the set's own.
func templateFor(s *api.StatefulSet, ordinal int, current *api.PodTemplateSpec) (*api.PodTemplateSpec, string) {
	update := revision(s)
	cur := s.Status.CurrentRevision
	ru := s.Spec.UpdateStrategy.RollingUpdate
	if s.Spec.UpdateStrategy.Type == api.OnDeleteStatefulSetStrategyType || ru == nil || ru.Partition == nil ||
		ordinal >= int(*ru.Partition) || cur == "" || cur == update || current == nil {
		return &s.Spec.Template, update
	}
	return current, cur
}
