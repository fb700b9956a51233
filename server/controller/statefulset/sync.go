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

// sync brings one set to its spec: record the nodes of its claims, plan
// over the cache, create and delete, write the status.
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
	if len(s.Spec.VolumeClaimTemplates) > 0 {
		// Before anything else: a replica about to be recreated must
		// find its node recorded.
		for _, p := range pods {
			ord := ordinalOf(s, p)
			if ord < 0 || p.Spec.NodeName == "" {
				continue
			}
			claims := claimNames(s, ord)
			for _, cl := range claims {
				c.claims.seen(s.Namespace, cl, p.Spec.NodeName)
			}
			if err := c.claims.save(ctx, s, claims); err != nil {
				errs = append(errs, fmt.Errorf("record the node of pod %s's claims: %w", p.Name, err))
			}
		}
	}
	current := c.templates.observe(s)
	d := plan(s, pods, c.now())
	if s.DeletionTimestamp == nil {
		errs = append(errs, c.apply(ctx, s, d, current))
	}
	if err := c.updateStatus(ctx, s, d.status); err != nil {
		errs = append(errs, err)
	}
	if d.notYetAvailable {
		c.queue.AddAfter(key, time.Duration(s.Spec.MinReadySeconds)*time.Second)
	}
	return errors.Join(errs...)
}

// apply carries out d's creates and deletes; current is the template of
// the current revision, if known.
func (c *Controller) apply(ctx context.Context, s *api.StatefulSet, d decision, current *api.PodTemplateSpec) error {
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
				t, rev := templateFor(s, d.create[i], current)
				errc[i] = c.createPod(ctx, s, t, d.create[i], rev)
			} else {
				errc[i] = c.deletePod(ctx, s, d.delete[i-len(d.create)])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errc...)
}

// createPod creates replica ordinal from template t of revision rev,
// pinned to the node that holds its claims' volumes if they have one.
func (c *Controller) createPod(ctx context.Context, s *api.StatefulSet, t *api.PodTemplateSpec, ordinal int, rev string) error {
	node := ""
	if len(s.Spec.VolumeClaimTemplates) > 0 {
		var err error
		if node, err = c.claims.nodeFor(ctx, s.Namespace, claimNames(s, ordinal)); err != nil {
			return err // never start a replica away from its data
		}
	}
	pod := newPodFrom(s, t, ordinal, rev, node)
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
	where := ""
	if node != "" {
		where = " on node " + node + " (its volumes' node)"
	}
	c.events.Eventf(objectRef(s), api.EventTypeNormal, record.ReasonSuccessfulCreate, "create Pod %s in StatefulSet %s successful%s", pod.Name, s.Name, where)
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
