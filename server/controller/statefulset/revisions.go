package statefulset

import (
	"context"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/controller/deployment"
	"github.com/skiffhq/skiff/server/controller/internal/history"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/statuswrite"
)

// A set's revision history is its ControllerRevisions, as in
// Kubernetes: one per template it has had, named <set>-<hash> (the
// pods' controller-revision-hash label), controlled by the set, with
// the template's labels and controller-revision-hash=<hash>, data
// {"spec":{"template":…}} and a revision number, the newest highest.
// They are read from the shared informer, so a controller started anew
// mid-rollout still knows the current revision's template.

// revisions is what one sync knows of a set's history.
type revisions struct {
	// current and update are the set's current and update revisions;
	// current is update when the set's currentRevision is unknown or
	// gone, as in Kubernetes.
	current, update *api.ControllerRevision
	// currentTemplate is current's template (the set's if current is
	// update).
	currentTemplate *api.PodTemplateSpec
	// all is the set's history, oldest first, current and update too.
	all []*api.ControllerRevision
}

// history finds or makes s's update revision, as Kubernetes'
// getStatefulSetRevisions does (history.Record: a revision holding the
// set's template already, the set went back to it, becomes the newest by
// taking the next number; else a new one is created), and the current
// revision its status names.
func (c *Controller) history(ctx context.Context, s *api.StatefulSet) (*revisions, error) {
	update, all, err := history.Record(ctx, c.cfg.Backend, c.historyOwner(s), owner.Controlled(c.revs, s.Namespace, s.UID), revision(s), hashOf(s))
	if err != nil {
		return nil, err
	}
	h := &revisions{update: update, current: update, currentTemplate: &s.Spec.Template, all: all}
	if cur := s.Status.CurrentRevision; cur != "" && cur != update.Name {
		for _, r := range all {
			if r.Name == cur {
				t, err := r.Template()
				if err != nil {
					return nil, err
				}
				h.current, h.currentTemplate = r, t
			}
		}
	}
	return h, nil
}

// historyOwner is s as the owner of its revisions; a hash collision
// raises its status.collisionCount.
func (c *Controller) historyOwner(s *api.StatefulSet) history.Owner {
	return history.Owner{
		Namespace:      s.Namespace,
		Ref:            ownerRef(s),
		Annotations:    s.Annotations,
		Template:       &s.Spec.Template,
		CollisionCount: s.Status.CollisionCount,
		SetCollisionCount: func(ctx context.Context, count int32) error {
			return statuswrite.Write(ctx, c.cfg.Backend, s, func(next *api.StatefulSet) { next.Status.CollisionCount = &count })
		},
		What: "stateful set " + setKey(s),
	}
}

// trimHistory deletes s's oldest revisions beyond revisionHistoryLimit
// that no pod uses and that are neither current nor update, as
// Kubernetes' truncateHistory does.
func (c *Controller) trimHistory(ctx context.Context, s *api.StatefulSet, h *revisions, pods []*api.Pod) error {
	live := map[string]bool{h.current.Name: true, h.update.Name: true}
	for _, p := range pods {
		live[p.Labels[RevisionLabel]] = true
	}
	isLive := func(r *api.ControllerRevision) bool { return live[r.Name] }
	return history.Trim(ctx, c.cfg.Backend, h.all, isLive, s.Spec.RevisionHistoryLimit, "stateful set "+setKey(s))
}

// hashOf is the hash in the name of s's update revision.
func hashOf(s *api.StatefulSet) string {
	return deployment.TemplateHash(&s.Spec.Template, s.Status.CollisionCount)
}

// templateFor is the template and revision replica ordinal is created
// from, as Kubernetes' newVersionedStatefulSetPod: the current
// revision's for an ordinal below a rolling update's partition, else
// the set's own (the update revision's).
func templateFor(s *api.StatefulSet, ordinal int, h *revisions) (*api.PodTemplateSpec, string) {
	ru := s.Spec.UpdateStrategy.RollingUpdate
	if s.Spec.UpdateStrategy.Type == api.OnDeleteStatefulSetStrategyType || ru == nil || ru.Partition == nil ||
		ordinal >= int(*ru.Partition) || h.current == h.update {
		return &s.Spec.Template, h.update.Name
	}
	return h.currentTemplate, h.current.Name
}
