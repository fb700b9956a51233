package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
)

// rollout is one sync of one deployment: the deployment as this sync
// has written it so far, the status as stored, and the status
// conditions set on the way.
type rollout struct {
	c      *Controller
	d      *api.Deployment      // latest copy (never the cached one)
	stored api.DeploymentStatus // as last written
	base   api.DeploymentStatus // stored + conditions set this sync
	rsets  *client.Resource[*api.ReplicaSet]
	// written holds the replica sets as this sync wrote them, by UID.
	written map[string]*api.ReplicaSet
}

// sync brings one deployment a step closer to its spec, as Kubernetes'
// syncDeployment: paused and scaling-only changes scale the replica sets
// proportionally; otherwise the strategy takes one step.
func (c *Controller) sync(ctx context.Context, k string) error {
	ns, name := owner.SplitKey(k)
	cached, ok := c.deps.Get(ns, name)
	if !ok {
		return nil // deleted; the garbage collector removes its replica sets
	}
	d := api.Clone(cached)
	r := &rollout{c: c, d: d, stored: d.Status, base: *cloneStatus(&d.Status),
		rsets: client.For[*api.ReplicaSet](c.cfg.Backend, d.Namespace), written: map[string]*api.ReplicaSet{}}
	sel, err := api.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		// Validation refuses these; a deployment selecting everything
		// must not adopt everything.
		c.log.Warn("deployment has an invalid or empty selector", "deployment", k, "err", err)
		return nil
	}
	rss, err := r.claimReplicaSets(ctx, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return r.syncStatusOnly(ctx, rss)
	}
	r.checkPaused()
	if d.Spec.Paused {
		return r.scaleOnly(ctx, rss)
	}
	scaling, err := r.isScalingEvent(ctx, rss)
	if err != nil {
		return err
	}
	if scaling {
		return r.scaleOnly(ctx, rss)
	}
	if d.Spec.Strategy.Type == api.RecreateDeploymentStrategyType {
		return r.rolloutRecreate(ctx, rss)
	}
	return r.rolloutRolling(ctx, rss)
}

func cloneStatus(s *api.DeploymentStatus) *api.DeploymentStatus {
	out := *s
	out.Conditions = append([]api.DeploymentCondition(nil), s.Conditions...)
	return &out
}

// claimReplicaSets returns the replica sets d controls, once it has
// adopted the orphans its selector matches and released its own that no
// longer match.
func (r *rollout) claimReplicaSets(ctx context.Context, sel api.Selector) ([]*api.ReplicaSet, error) {
	d := r.d
	var owned []*api.ReplicaSet
	var errs []error
	checked := false
	for _, rs := range r.c.rsets.ByIndex(owner.ByNamespace, d.Namespace) {
		ref := api.ControllerOf(&rs.ObjectMeta)
		matches := sel.Matches(rs.Labels)
		switch {
		case ref != nil && ref.UID != d.UID:
			// Another controller's.
		case ref != nil && matches:
			owned = append(owned, rs)
		case ref != nil:
			if d.DeletionTimestamp == nil {
				errs = append(errs, r.setOwner(ctx, rs, false))
			}
		case matches && d.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			if !checked {
				// Adopt only for a deployment that is still this one.
				fresh, err := client.For[*api.Deployment](r.c.cfg.Backend, d.Namespace).Get(ctx, d.Name)
				if err != nil {
					return nil, fmt.Errorf("check deployment before adopting: %w", err)
				}
				if fresh.UID != d.UID || fresh.DeletionTimestamp != nil {
					return owned, nil
				}
				checked = true
			}
			if err := r.setOwner(ctx, rs, true); err != nil {
				errs = append(errs, err)
				continue
			}
			owned = append(owned, rs)
		}
	}
	return owned, errors.Join(errs...)
}

// ownerRef is the controller reference a deployment's replica sets carry.
func ownerRef(d *api.Deployment) api.OwnerReference {
	return api.NewControllerRef(d, "apps/v1", "Deployment")
}

// setOwner adopts or releases rs.
func (r *rollout) setOwner(ctx context.Context, rs *api.ReplicaSet, adopt bool) error {
	next := api.Clone(rs)
	var refs []api.OwnerReference
	for _, ref := range next.OwnerReferences {
		if ref.UID != r.d.UID {
			refs = append(refs, ref)
		}
	}
	if adopt {
		refs = append(refs, ownerRef(r.d))
	}
	next.OwnerReferences = refs
	_, err := r.rsets.Update(ctx, next)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set owner of replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}

// checkPaused sets the Progressing condition to say the deployment was
// paused or resumed.
func (r *rollout) checkPaused() {
	if !hasProgressDeadline(r.d) {
		return
	}
	cur := getCondition(&r.base, api.DeploymentProgressing)
	paused := cur != nil && cur.Reason == ReasonPaused
	now := r.c.now()
	switch {
	case r.d.Spec.Paused && !paused:
		setCondition(&r.base, newCondition(api.DeploymentProgressing, api.ConditionUnknown, ReasonPaused, "Deployment is paused", now))
	case !r.d.Spec.Paused && paused:
		setCondition(&r.base, newCondition(api.DeploymentProgressing, api.ConditionUnknown, ReasonResumed, "Deployment is resumed", now))
	}
}

// findNew returns the oldest replica set whose template is d's.
func findNew(d *api.Deployment, rss []*api.ReplicaSet) *api.ReplicaSet {
	sorted := append([]*api.ReplicaSet(nil), rss...)
	byCreation(sorted)
	want := templateKey(&d.Spec.Template)
	for _, rs := range sorted {
		if string(templateKey(&rs.Spec.Template)) == string(want) {
			return rs
		}
	}
	return nil
}

func others(rss []*api.ReplicaSet, not *api.ReplicaSet) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, rs := range rss {
		if rs != not {
			out = append(out, rs)
		}
	}
	return out
}

// newAndOld splits rss into the new replica set (created if create and
// there is none) and the old ones, and brings the revision annotations
// of the new one and of d up to date.
func (r *rollout) newAndOld(ctx context.Context, rss []*api.ReplicaSet, create bool) (*api.ReplicaSet, []*api.ReplicaSet, error) {
	rss = r.current(rss)
	existing := findNew(r.d, rss)
	old := others(rss, existing)
	newRS, err := r.newReplicaSet(ctx, existing, old, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, old, nil
}

func (r *rollout) newReplicaSet(ctx context.Context, existing *api.ReplicaSet, old []*api.ReplicaSet, create bool) (*api.ReplicaSet, error) {
	d := r.d
	newRevision := maxRevision(old) + 1
	now := r.c.now()
	if existing != nil {
		next := api.Clone(existing)
		changed := setNewReplicaSetAnnotations(d, next, newRevision, true)
		if changed || next.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			next.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := r.rsets.Update(ctx, next)
			if err != nil {
				return nil, fmt.Errorf("update replica set %s: %w", existing.Name, err)
			}
			next = updated
			r.written[next.UID] = next
		}
		if err := r.setRevision(ctx, next.Annotations[RevisionAnnotation]); err != nil {
			return nil, err
		}
		if getCondition(&r.base, api.DeploymentProgressing) == nil && hasProgressDeadline(d) {
			setCondition(&r.base, newCondition(api.DeploymentProgressing, api.ConditionTrue, ReasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", next.Name), now))
		}
		return next, nil
	}
	if !create {
		return nil, nil
	}
	hash := TemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	template := cloneTemplate(&d.Spec.Template)
	template.Labels = withLabel(template.Labels, PodTemplateHashLabel, hash)
	sel := &api.LabelSelector{MatchLabels: withLabel(d.Spec.Selector.MatchLabels, PodTemplateHashLabel, hash),
		MatchExpressions: d.Spec.Selector.MatchExpressions}
	zero := int32(0)
	rs := &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          template.Labels,
			OwnerReferences: []api.OwnerReference{ownerRef(d)},
		},
		Spec: api.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: template},
	}
	n := newReplicas(d, append(append([]*api.ReplicaSet(nil), old...), rs), rs)
	rs.Spec.Replicas = &n
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	created, err := r.rsets.Create(ctx, rs)
	switch {
	case errdefs.IsAlreadyExists(err):
		// Ours from an earlier sync the cache has not shown yet, or a
		// hash collision.
		got, gerr := r.rsets.Get(ctx, rs.Name)
		if gerr != nil {
			return nil, gerr
		}
		if ref := api.ControllerOf(&got.ObjectMeta); ref != nil && ref.UID == d.UID && EqualIgnoreHash(&d.Spec.Template, &got.Spec.Template) {
			return got, r.setRevision(ctx, got.Annotations[RevisionAnnotation])
		}
		cc := int32(1)
		if d.Status.CollisionCount != nil {
			cc = *d.Status.CollisionCount + 1
		}
		r.base.CollisionCount = &cc
		if werr := r.writeStatus(ctx, r.base); werr != nil {
			return nil, werr
		}
		return nil, fmt.Errorf("replica set %s exists with another template; collision count now %d: %w", rs.Name, cc, errdefs.ErrConflict)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&r.base, newCondition(api.DeploymentProgressing, api.ConditionFalse, ReasonFailedRSCreate, msg, now))
			if werr := r.writeStatus(ctx, r.base); werr != nil {
				err = errors.Join(err, werr)
			}
		}
		r.c.events.Eventf(ref(d), api.EventTypeWarning, ReasonFailedRSCreate, "%s", msg)
		return nil, fmt.Errorf("create replica set %s: %w", rs.Name, err)
	}
	if n > 0 {
		r.c.events.Eventf(ref(d), api.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	if err := r.setRevision(ctx, created.Annotations[RevisionAnnotation]); err != nil {
		return nil, err
	}
	if hasProgressDeadline(d) {
		setCondition(&r.base, newCondition(api.DeploymentProgressing, api.ConditionTrue, ReasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", created.Name), now))
	}
	return created, nil
}

// cloneTemplate is a deep copy of t.
func cloneTemplate(t *api.PodTemplateSpec) api.PodTemplateSpec {
	var out api.PodTemplateSpec
	b, _ := json.Marshal(t)
	json.Unmarshal(b, &out) // a template always round-trips
	return out
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// setRevision writes the current revision onto the deployment's
// annotations (metadata: an update, not a status write).
func (r *rollout) setRevision(ctx context.Context, rev string) error {
	if rev == "" || r.d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	next := api.Clone(r.d)
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[RevisionAnnotation] = rev
	updated, err := client.For[*api.Deployment](r.c.cfg.Backend, r.d.Namespace).Update(ctx, next)
	if err != nil {
		return fmt.Errorf("set revision of deployment %s: %w", r.d.Name, err)
	}
	r.d = updated
	return nil
}

// newReplicas is how many replicas the new replica set should have now.
func newReplicas(d *api.Deployment, all []*api.ReplicaSet, newRS *api.ReplicaSet) int32 {
	if !isRollingUpdate(d) {
		return replicasOf(d)
	}
	current := sumReplicas(all)
	maxTotal := replicasOf(d) + maxSurge(d)
	if current >= maxTotal {
		return rsReplicas(newRS)
	}
	up := min(maxTotal-current, max(replicasOf(d)-rsReplicas(newRS), 0))
	return rsReplicas(newRS) + up
}

// scaleReplicaSet sets rs's replicas (and the replicas annotations and
// minReadySeconds) and records a ScalingReplicaSet Event. It reports
// whether the size changed and returns the replica set as written.
func (r *rollout) scaleReplicaSet(ctx context.Context, rs *api.ReplicaSet, n int32) (bool, *api.ReplicaSet, error) {
	d := r.d
	sizeChanged := rsReplicas(rs) != n
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, replicasOf(d), replicasOf(d)+maxSurge(d)) && rs.Spec.MinReadySeconds == d.Spec.MinReadySeconds {
		return false, rs, nil
	}
	from := rsReplicas(rs)
	next := api.Clone(rs)
	next.Spec.Replicas = &n
	setReplicasAnnotations(next, replicasOf(d), replicasOf(d)+maxSurge(d))
	next.Spec.MinReadySeconds = d.Spec.MinReadySeconds
	updated, err := r.rsets.Update(ctx, next) // with the cached resourceVersion: stale is a conflict
	if err != nil {
		return false, rs, fmt.Errorf("scale replica set %s to %d: %w", rs.Name, n, err)
	}
	r.written[updated.UID] = updated
	if sizeChanged {
		dir := "up"
		if n < from {
			dir = "down"
		}
		r.c.events.Eventf(ref(d), api.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", dir, rs.Name, from, n)
	}
	return sizeChanged, updated, nil
}

// isScalingEvent: an active replica set was sized for another replicas
// count than d's, so only the size changed.
func (r *rollout) isScalingEvent(ctx context.Context, rss []*api.ReplicaSet) (bool, error) {
	newRS, old, err := r.newAndOld(ctx, rss, false)
	if err != nil {
		return false, err
	}
	for _, rs := range active(append(old, newRS)) {
		if desired, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && desired != replicasOf(r.d) {
			return true, nil
		}
	}
	return false, nil
}

// scaleOnly resizes without rolling out (paused, or the replicas count
// changed), prunes history while paused, and writes the status.
func (r *rollout) scaleOnly(ctx context.Context, rss []*api.ReplicaSet) error {
	newRS, old, err := r.newAndOld(ctx, rss, false)
	if err != nil {
		return err
	}
	if err := r.scale(ctx, newRS, old); err != nil {
		return err
	}
	if r.d.Spec.Paused {
		if err := r.cleanup(ctx, old); err != nil {
			return err
		}
	}
	s := calculateStatus(r.d, &r.base, r.current(append(old, newRS)), newRS, r.c.now())
	return r.writeStatus(ctx, s)
}

// syncStatusOnly writes the status of a deployment being deleted.
func (r *rollout) syncStatusOnly(ctx context.Context, rss []*api.ReplicaSet) error {
	newRS, old, err := r.newAndOld(ctx, rss, false)
	if err != nil {
		return err
	}
	return r.writeStatus(ctx, calculateStatus(r.d, &r.base, append(old, newRS), newRS, r.c.now()))
}

// current replaces replica sets with the copies this sync wrote.
func (r *rollout) current(rss []*api.ReplicaSet) []*api.ReplicaSet {
	out := make([]*api.ReplicaSet, 0, len(rss))
	for _, rs := range rss {
		if rs == nil {
			continue
		}
		if w, ok := r.written[rs.UID]; ok {
			rs = w
		}
		out = append(out, rs)
	}
	return out
}

// syncRolloutStatus writes the status after a rollout step and, while
// the rollout is under way, looks again when its deadline passes.
func (r *rollout) syncRolloutStatus(ctx context.Context, all []*api.ReplicaSet, newRS *api.ReplicaSet) error {
	now := r.c.now()
	s := rolloutStatus(r.d, &r.stored, &r.base, all, newRS, now)
	if err := r.writeStatus(ctx, s); err != nil {
		return err
	}
	if after := recheckAfter(r.d, &s, now); after >= 0 {
		r.c.queue.AddAfter(key(r.d), after)
	}
	return nil
}

// writeStatus writes s unless it is what is stored.
func (r *rollout) writeStatus(ctx context.Context, s api.DeploymentStatus) error {
	if reflect.DeepEqual(r.stored, s) {
		return nil
	}
	next := api.Clone(r.d)
	next.Status = s
	updated, err := client.For[*api.Deployment](r.c.cfg.Backend, r.d.Namespace).UpdateStatus(ctx, next)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write status of deployment %s: %w", r.d.Name, err)
	}
	r.d, r.stored = updated, updated.Status
	return nil
}

// cleanup deletes the oldest replica sets beyond revisionHistoryLimit
// that have no replicas left.
func (r *rollout) cleanup(ctx context.Context, old []*api.ReplicaSet) error {
	limit := r.d.Spec.RevisionHistoryLimit
	if limit == nil {
		return nil
	}
	var alive []*api.ReplicaSet
	for _, rs := range old {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*limit)
	if diff <= 0 {
		return nil
	}
	byRevision(alive)
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		uid := rs.UID
		_, err := r.rsets.Delete(ctx, rs.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete old replica set %s: %w", rs.Name, err)
		}
		r.c.log.Debug("deleted old replica set", "deployment", key(r.d), "replicaset", rs.Name, "revision", strconv.FormatInt(Revision(rs), 10))
	}
	return nil
}
