package replicaset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/namespaces"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/podstate"
	"github.com/skiffhq/skiff/server/controller/internal/slowstart"
	"github.com/skiffhq/skiff/server/controller/internal/statuswrite"
	"github.com/skiffhq/skiff/server/controller/record"
)

// sync brings one replica set to its spec: claim pods, create or delete
// the difference (unless earlier creates and deletes are still on their
// way to the informer), and write the status if it changed.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := owner.SplitKey(key)
	rs, ok := c.rsets.Get(ns, name)
	if !ok {
		c.exp.Forget(key)
		return nil
	}
	settled := c.exp.Satisfied(key)
	sel, err := api.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Validation refuses such a selector; nothing to do but say so.
		c.log.Warn("replica set has an invalid selector", "replicaset", key, "err", err)
		return nil
	}
	pods, err := c.claimPods(ctx, rs, sel)
	if err != nil {
		return err
	}
	var manageErr error
	if settled && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, key, rs, pods)
	}
	status := calculateStatus(rs, pods, manageErr, c.now())
	if err := c.updateStatus(ctx, rs, status); err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr == nil && rs.Spec.MinReadySeconds > 0 &&
		status.ReadyReplicas == replicas(rs) && status.AvailableReplicas != replicas(rs) {
		c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// replicas is the desired count (default 1).
func replicas(rs *api.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// claimPods returns the active pods rs controls once it has adopted the
// orphans its selector matches and released its pods that no longer
// match. A replica set being deleted neither adopts nor releases.
func (c *Controller) claimPods(ctx context.Context, rs *api.ReplicaSet, sel api.Selector) ([]*api.Pod, error) {
	var owned, adopt, release []*api.Pod
	for _, p := range c.pods.ByIndex(owner.ByNamespace, rs.Namespace) {
		if !isActive(p) {
			continue
		}
		ref := api.ControllerOf(&p.ObjectMeta)
		switch {
		case ref != nil && ref.UID != rs.UID:
			// Another controller's.
		case ref != nil && sel.Matches(p.Labels):
			owned = append(owned, p)
		case ref != nil:
			if rs.DeletionTimestamp == nil {
				release = append(release, p)
			}
		case rs.DeletionTimestamp == nil && !sel.Empty() && sel.Matches(p.Labels):
			adopt = append(adopt, p)
		}
	}
	// The cache may be behind: Claim adopts only for a replica set that
	// still exists, is this one, and is not being deleted.
	adopted, err := owner.Claim[*api.ReplicaSet](ctx, c.cfg.Backend, "replica set", ownerRef(rs), rs.Namespace, release, adopt,
		func(p *api.Pod, adopted bool) {
			if adopted {
				c.log.Debug("adopted pod", "replicaset", rsKey(rs), "pod", podKey(p))
			} else {
				c.log.Debug("released pod", "replicaset", rsKey(rs), "pod", podKey(p))
			}
		})
	return append(owned, adopted...), err
}

// manageReplicas creates or deletes pods to reach the desired count, at
// most BurstReplicas per sync.
func (c *Controller) manageReplicas(ctx context.Context, key string, rs *api.ReplicaSet, pods []*api.Pod) error {
	diff := len(pods) - int(replicas(rs))
	switch {
	case diff < 0:
		n := min(-diff, c.cfg.BurstReplicas)
		// Expect them all before the first create: the informer may show
		// a new pod before its create returns.
		c.exp.ExpectCreations(key, n)
		ok, err := slowstart.Run(n, 1, func() error { return c.createPod(ctx, key, rs) })
		for range n - ok {
			c.exp.CreationObserved(key) // these will never show up
		}
		return err
	case diff > 0:
		n := min(diff, c.cfg.BurstReplicas)
		victims := podsToDelete(pods, n)
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = podKey(p)
		}
		c.exp.ExpectDeletions(key, keys)
		errs := make([]error, len(victims))
		var wg sync.WaitGroup
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.deletePodOf(ctx, key, rs, p)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// createPod creates one pod from rs's template.
func (c *Controller) createPod(ctx context.Context, key string, rs *api.ReplicaSet) error {
	created, err := client.For[*api.Pod](c.cfg.Backend, rs.Namespace).Create(ctx, podFromTemplate(rs))
	if err != nil {
		if errdefs.IsForbidden(err) && namespaces.Closing(ctx, c.cfg.Backend, rs.Namespace) {
			// Nothing will ever be created here again, and that is no
			// failure of the template. Count it as done.
			c.exp.CreationObserved(key)
			return nil
		}
		c.events.Eventf(ref(rs), api.EventTypeWarning, record.ReasonFailedCreate, "Error creating: %v", err)
		return fmt.Errorf("create pod for replica set %s: %w", key, err)
	}
	c.events.Eventf(ref(rs), api.EventTypeNormal, record.ReasonSuccessfulCreate, "Created pod: %s", created.Name)
	return nil
}

// deletePodOf deletes one of rs's pods; one already gone is no error.
func (c *Controller) deletePodOf(ctx context.Context, key string, rs *api.ReplicaSet, p *api.Pod) error {
	uid := p.UID
	_, err := client.For[*api.Pod](c.cfg.Backend, p.Namespace).Delete(ctx, p.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
	if err != nil {
		// The informer will not show this deletion.
		c.exp.DeletionObserved(key, podKey(p))
		if errdefs.IsNotFound(err) {
			return nil
		}
		c.events.Eventf(ref(rs), api.EventTypeWarning, record.ReasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s of replica set %s: %w", podKey(p), key, err)
	}
	c.events.Eventf(ref(rs), api.EventTypeNormal, record.ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
	return nil
}

// calculateStatus is rs's status for its active, owned pods at now.
func calculateStatus(rs *api.ReplicaSet, pods []*api.Pod, manageErr error, now time.Time) api.ReplicaSetStatus {
	s := api.ReplicaSetStatus{
		Replicas:           int32(len(pods)),
		ObservedGeneration: rs.Generation,
	}
	for _, p := range pods {
		if fullyLabeled(p, rs.Spec.Template.Labels) {
			s.FullyLabeledReplicas++
		}
		if podstate.Ready(p) {
			s.ReadyReplicas++
			if podstate.Available(p, rs.Spec.MinReadySeconds, now, podstate.AfterEnd) {
				s.AvailableReplicas++
			}
		}
	}
	var failure *api.ReplicaSetCondition
	for _, cond := range rs.Status.Conditions {
		if cond.Type == api.ReplicaSetReplicaFailure {
			failure = &cond
			continue
		}
		s.Conditions = append(s.Conditions, cond)
	}
	switch {
	case manageErr != nil && failure == nil:
		reason := record.ReasonFailedCreate
		if len(pods) > int(replicas(rs)) {
			reason = record.ReasonFailedDelete
		}
		s.Conditions = append(s.Conditions, api.ReplicaSetCondition{
			Type: api.ReplicaSetReplicaFailure, Status: api.ConditionTrue,
			LastTransitionTime: api.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr != nil:
		s.Conditions = append(s.Conditions, *failure) // unchanged: no write per failed sync
	}
	return s
}

// updateStatus writes status unless rs already has it.
func (c *Controller) updateStatus(ctx context.Context, rs *api.ReplicaSet, status api.ReplicaSetStatus) error {
	if reflect.DeepEqual(rs.Status, status) {
		return nil
	}
	return statuswrite.Write(ctx, c.cfg.Backend, rs, func(next *api.ReplicaSet) { next.Status = status })
}
