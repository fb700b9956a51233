package statefulset

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
	"github.com/skiffhq/skiff/server/controller/internal/statuswrite"
	"github.com/skiffhq/skiff/server/controller/record"
)

// parallelWrites bounds the creates or deletes a Parallel set issues at
// once.
const parallelWrites = 16

// sync brings one set to its spec: make the missing claims of its
// pending pods, plan over the cache, create and delete, write the
// status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := owner.SplitKey(key)
	s, ok := c.sets.Get(ns, name)
	if !ok {
		return nil
	}
	pods := owner.Controlled(c.pods, s.Namespace, s.UID)
	adopted, err := c.adopt(ctx, s)
	pods = append(pods, adopted...)
	errs := []error{err}
	if s.DeletionTimestamp == nil {
		errs = append(errs, c.claimsOfPending(ctx, s, pods))
	}
	view := s
	var h *revisions
	if s.DeletionTimestamp == nil {
		if h, err = c.history(ctx, s); err != nil {
			// Nothing is created or deleted without the revisions; in a
			// namespace being deleted nothing need be.
			if errors.Is(err, errNamespaceClosing) {
				err = nil
			}
			return errors.Join(append(errs, err)...)
		}
		// The plan counts from the revision found current: the update
		// revision if the one the status names is gone.
		view = shallowWithCurrent(s, h.current.Name)
	}
	d := plan(view, pods, c.now())
	if h != nil {
		errs = append(errs, c.apply(ctx, view, d, h))
		errs = append(errs, c.trimHistory(ctx, s, h, pods))
	}
	if err := c.updateStatus(ctx, s, d.status); err != nil {
		errs = append(errs, err)
	}
	if d.notYetAvailable {
		c.queue.AddAfter(key, time.Duration(s.Spec.MinReadySeconds)*time.Second)
	}
	return errors.Join(errs...)
}

// shallowWithCurrent is s with status.currentRevision cur, sharing the
// rest with the cached s (which is never changed).
func shallowWithCurrent(s *api.StatefulSet, cur string) *api.StatefulSet {
	if s.Status.CurrentRevision == cur {
		return s
	}
	v := *s
	v.Status.CurrentRevision = cur
	return &v
}

// apply carries out d's creates and deletes, each pod from the template
// of the revision it is to have (templateFor).
func (c *Controller) apply(ctx context.Context, s *api.StatefulSet, d decision, h *revisions) error {
	n := len(d.create) + len(d.delete)
	if n == 0 {
		return nil
	}
	errc := make([]error, n)
	sem := make(chan struct{}, parallelWrites)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if i < len(d.create) {
				t, rev := templateFor(s, d.create[i], h)
				errc[i] = c.createPod(ctx, s, t, d.create[i], rev)
			} else {
				errc[i] = c.deletePod(ctx, s, d.delete[i-len(d.create)])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errc...)
}

// claimsOfPending makes the missing claims of s's pods that are still
// Pending, as Kubernetes does: a claim deleted after its pod was created
// (or while the cache was behind) would leave the pod unschedulable for
// good. A claim being deleted is waited for (claimGone queues the set).
// Running pods get theirs only when an older skiff's record stands for
// it (runsOnLegacyClaims).
func (c *Controller) claimsOfPending(ctx context.Context, s *api.StatefulSet, pods []*api.Pod) error {
	if len(s.Spec.VolumeClaimTemplates) == 0 {
		return nil
	}
	var errs []error
	for _, p := range pods {
		ord := ordinalOf(s, p)
		if ord < 0 || ord >= replicas(s) || p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase != "" && p.Status.Phase != api.PodPending && !c.runsOnLegacyClaims(ctx, s, ord) {
			continue
		}
		var wait *claimWait
		if err := c.ensureClaims(ctx, s, ord); err != nil && !errors.As(err, &wait) && !errors.Is(err, errNamespaceClosing) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runsOnLegacyClaims reports whether replica ordinal, already running,
// lacks a claim that an older skiff kept as a ConfigMap record: the claim
// is made now (naming the record's node), so an upgrade does not leave a
// running replica without its claim.
func (c *Controller) runsOnLegacyClaims(ctx context.Context, s *api.StatefulSet, ordinal int) bool {
	for _, name := range claimNames(s, ordinal) {
		if _, ok := c.claims.Get(s.Namespace, name); ok {
			continue
		}
		if r, err := c.legacyRecord(ctx, s, name); err == nil && r != nil {
			return true
		}
	}
	return false
}

// createPod creates replica ordinal from template t of revision rev,
// after its claims: a pod is not created while a claim of its is being
// deleted, for the data it would find is going.
func (c *Controller) createPod(ctx context.Context, s *api.StatefulSet, t *api.PodTemplateSpec, ordinal int, rev string) error {
	pod := newPodFrom(s, t, ordinal, rev)
	if err := c.ensureClaims(ctx, s, ordinal); err != nil {
		var wait *claimWait
		switch {
		case errors.As(err, &wait):
			c.events.Eventf(objectRef(s), api.EventTypeWarning, record.ReasonFailedCreate, "create Pod %s in StatefulSet %s failed error: %v", pod.Name, s.Name, err)
			return nil // claimGone queues the set again
		case errors.Is(err, errNamespaceClosing):
			return nil
		}
		return err // each failed claim is an Event already
	}
	pods := client.For[*api.Pod](c.cfg.Backend, s.Namespace)
	_, err := pods.Create(ctx, pod)
	if errdefs.IsAlreadyExists(err) {
		// The cache is behind (ours, being shown), or someone else has
		// the name: then say so, for the set cannot go on without it.
		cur, gerr := pods.Get(ctx, pod.Name)
		if gerr == nil {
			if ref := api.ControllerOf(&cur.ObjectMeta); ref != nil && ref.UID == s.UID {
				return nil
			}
			err = fmt.Errorf("pod %s exists and is not controlled by stateful set %s: %w", pod.Name, s.Name, errdefs.ErrAlreadyExists)
		}
	}
	if err != nil {
		if errdefs.IsForbidden(err) && namespaces.Closing(ctx, c.cfg.Backend, s.Namespace) {
			return nil
		}
		c.events.Eventf(objectRef(s), api.EventTypeWarning, record.ReasonFailedCreate, "create Pod %s in StatefulSet %s failed error: %v", pod.Name, s.Name, err)
		return fmt.Errorf("create pod %s of stateful set %s/%s: %w", pod.Name, s.Namespace, s.Name, err)
	}
	c.events.Eventf(objectRef(s), api.EventTypeNormal, record.ReasonSuccessfulCreate, "create Pod %s in StatefulSet %s successful", pod.Name, s.Name)
	return nil
}

// deletePod deletes one of s's pods, gracefully: the agent stops it, and
// only then is the name free for the replica to come back.
func (c *Controller) deletePod(ctx context.Context, s *api.StatefulSet, p *api.Pod) error {
	uid := p.UID
	_, err := client.For[*api.Pod](c.cfg.Backend, p.Namespace).Delete(ctx, p.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		c.events.Eventf(objectRef(s), api.EventTypeWarning, record.ReasonFailedDelete, "delete Pod %s in StatefulSet %s failed error: %v", p.Name, s.Name, err)
		return fmt.Errorf("delete pod %s of stateful set %s/%s: %w", p.Name, s.Namespace, s.Name, err)
	}
	c.events.Eventf(objectRef(s), api.EventTypeNormal, record.ReasonSuccessfulDelete, "delete Pod %s in StatefulSet %s successful", p.Name, s.Name)
	return nil
}

// updateStatus writes status unless s already has it.
func (c *Controller) updateStatus(ctx context.Context, s *api.StatefulSet, status api.StatefulSetStatus) error {
	if reflect.DeepEqual(s.Status, status) {
		return nil
	}
	return statuswrite.Write(ctx, c.cfg.Backend, s, func(next *api.StatefulSet) { next.Status = status })
}
