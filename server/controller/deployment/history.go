package deployment

import (
	"errors"
	"fmt"
	"sort"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// This file is what `skiff rollout history` and `undo` need: they read
// the replica sets and update the deployment themselves, as kubectl does
// (there is no rollback subresource).

// Owned returns the replica sets among rss that d controls, oldest
// revision first.
func Owned(d *api.Deployment, rss []*api.ReplicaSet) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, rs := range rss {
		if ref := api.ControllerOf(&rs.ObjectMeta); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return Revision(out[i]) < Revision(out[j]) })
	return out
}

// ErrSkipped is what Rollback returns when the deployment already has
// the revision's template.
var ErrSkipped = errors.New("current template already matches the revision")

// Rollback returns a copy of d whose template is that of the replica set
// of revision toRevision (0: the one before the current), with the
// replica set's own annotations (change-cause and the like), and the
// revision it rolled back to. owned are d's replica sets (see Owned).
// A paused deployment is refused, as kubectl refuses it.
func Rollback(d *api.Deployment, owned []*api.ReplicaSet, toRevision int64) (*api.Deployment, int64, error) {
	if d.Spec.Paused {
		return nil, 0, fmt.Errorf("deployment %q is paused; resume it first with `skiff rollout resume deployment/%s`: %w", d.Name, d.Name, errdefs.ErrInvalid)
	}
	if len(owned) == 0 {
		return nil, 0, fmt.Errorf("no rollout history found for deployment %q: %w", d.Name, errdefs.ErrNotFound)
	}
	var target *api.ReplicaSet
	if toRevision == 0 {
		// The highest revision but the current one.
		var cur, prev int64 = 0, 0
		for _, rs := range owned {
			switch v := Revision(rs); {
			case v > cur:
				prev, cur = cur, v
			case v > prev && v < cur:
				prev = v
			}
		}
		if prev == 0 {
			return nil, 0, fmt.Errorf("deployment %q has no previous revision to roll back to: %w", d.Name, errdefs.ErrNotFound)
		}
		toRevision = prev
	}
	for _, rs := range owned {
		if Revision(rs) == toRevision {
			target = rs
		}
	}
	if target == nil {
		return nil, 0, fmt.Errorf("unable to find revision %d of deployment %q: %w", toRevision, d.Name, errdefs.ErrNotFound)
	}
	if EqualIgnoreHash(&d.Spec.Template, &target.Spec.Template) {
		return nil, toRevision, ErrSkipped
	}
	out := api.Clone(d)
	out.Spec.Template = cloneTemplate(&target.Spec.Template)
	delete(out.Spec.Template.Labels, PodTemplateHashLabel)
	for k, v := range target.Annotations {
		if notCopied[k] {
			continue
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[k] = v
	}
	return out, toRevision, nil
}
