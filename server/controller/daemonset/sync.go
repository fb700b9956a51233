package daemonset

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/internal/namespaces"
	"github.com/skiffhq/skiff/server/controller/internal/owner"
	"github.com/skiffhq/skiff/server/controller/internal/slowstart"
	"github.com/skiffhq/skiff/server/controller/internal/statuswrite"
	"github.com/skiffhq/skiff/server/controller/record"
)

// sync brings one daemon set to its spec: plan over the cache, then (if
// earlier writes have shown up) create and delete, then write status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := owner.SplitKey(key)
	ds, ok := c.dsets.Get(ns, name)
	if !ok {
		c.exp.Forget(key)
		return nil
	}
	pods := owner.Controlled(c.pods, ds.Namespace, ds.UID)
	adopted, adoptErr := c.adopt(ctx, ds)
	pods = append(pods, adopted...)
	hash := templateHash(ds)
	var current *api.ControllerRevision
	var history []*api.ControllerRevision
	if ds.DeletionTimestamp == nil {
		var err error
		if current, history, err = c.history(ctx, ds, hash); err != nil {
			// Nothing is created or deleted without the history; in a
			// namespace being deleted nothing need be.
			if errors.Is(err, errNamespaceClosing) {
				err = nil
			}
			return errors.Join(adoptErr, err)
		}
	}
	d := plan(ds, hash, c.nodes.List(), pods, c.now())
	manageErr := adoptErr
	if ds.DeletionTimestamp == nil && c.exp.Satisfied(key) {
		manageErr = errors.Join(adoptErr, c.manage(ctx, key, ds, hash, d), c.trimHistory(ctx, ds, current, history, pods))
	}
	if err := c.updateStatus(ctx, ds, d.status); err != nil {
		return errors.Join(manageErr, err)
	}
	if d.notYetAvailable {
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// manage carries out the deletes of d or, if there are none, its
// creates: at most BurstReplicas per sync. Doing one kind per sync lets
// the expectations be a count of creates or a set of deletes, never both.
func (c *Controller) manage(ctx context.Context, key string, ds *api.DaemonSet, hash string, d decision) error {
	force := make(map[string]bool, len(d.forceDelete))
	for _, p := range d.forceDelete {
		force[podKey(p)] = true
	}
	deletes := append(append([]*api.Pod(nil), d.delete...), d.forceDelete...)
	if len(deletes) > 0 {
		deletes = deletes[:min(len(deletes), c.cfg.BurstReplicas)]
		keys := make([]string, len(deletes))
		for i, p := range deletes {
			keys[i] = podKey(p)
		}
		c.exp.ExpectDeletions(key, keys)
		errs := make([]error, len(deletes))
		sem := make(chan struct{}, parallelDeletes)
		var wg sync.WaitGroup
		for i, p := range deletes {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				errs[i] = c.deletePodOf(ctx, key, ds, p, force[podKey(p)])
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	creates := d.create[:min(len(d.create), c.cfg.BurstReplicas)]
	if len(creates) == 0 {
		return nil
	}
	// Expect them all before the first create: the informer may show a
	// new pod before its create returns.
	c.exp.ExpectCreations(key, len(creates))
	var next atomic.Int64
	ok, err := slowstart.Run(len(creates), 1, func() error {
		return c.createPod(ctx, ds, creates[next.Add(1)-1], hash)
	})
	for range len(creates) - ok {
		c.exp.CreationObserved(key) // failed or not tried: will never show
	}
	return err
}

// parallelDeletes bounds the deletes one sync issues at once.
const parallelDeletes = 16

// createPod creates ds's pod for node.
func (c *Controller) createPod(ctx context.Context, ds *api.DaemonSet, node, hash string) error {
	created, err := client.For[*api.Pod](c.cfg.Backend, ds.Namespace).Create(ctx, newPod(ds, node, hash))
	if err != nil {
		if errdefs.IsForbidden(err) && namespaces.Closing(ctx, c.cfg.Backend, ds.Namespace) {
			return nil
		}
		c.events.Eventf(objectRef(ds), api.EventTypeWarning, record.ReasonFailedCreate, "Error creating: %v", err)
		return fmt.Errorf("create pod for daemon set %s on node %s: %w", dsKey(ds), node, err)
	}
	c.events.Eventf(objectRef(ds), api.EventTypeNormal, record.ReasonSuccessfulCreate, "Created pod: %s", created.Name)
	return nil
}

// deletePodOf deletes one of ds's pods; force skips the grace period (its
// node is gone, no agent will finish it). One already gone is no error.
func (c *Controller) deletePodOf(ctx context.Context, key string, ds *api.DaemonSet, p *api.Pod, force bool) error {
	uid := p.UID
	opts := api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}}
	if force {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	_, err := client.For[*api.Pod](c.cfg.Backend, p.Namespace).Delete(ctx, p.Name, opts)
	if err != nil {
		c.exp.DeletionObserved(key, podKey(p)) // the informer will not show it
		if errdefs.IsNotFound(err) {
			return nil
		}
		c.events.Eventf(objectRef(ds), api.EventTypeWarning, record.ReasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s of daemon set %s: %w", podKey(p), key, err)
	}
	c.events.Eventf(objectRef(ds), api.EventTypeNormal, record.ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
	return nil
}

// updateStatus writes status unless ds already has it.
func (c *Controller) updateStatus(ctx context.Context, ds *api.DaemonSet, status api.DaemonSetStatus) error {
	if reflect.DeepEqual(ds.Status, status) {
		return nil
	}
	return statuswrite.Write(ctx, c.cfg.Backend, ds, func(next *api.DaemonSet) { next.Status = status })
}
