package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// process looks at one object as it is now in the store. requeue asks for
// another look after Config.Resync: something it waits for is not done.
func (gc *GC) process(ctx context.Context, it item) (requeue bool, err error) {
	obj, err := gc.cfg.Backend.Get(ctx, it.Resource, it.Namespace, it.Name)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m := obj.GetObjectMeta()
	if m.UID != it.UID {
		return false, nil // recreated: the new one gets its own events
	}
	if m.DeletionTimestamp != nil {
		switch {
		case it.Kind == "Namespace":
			if ns, ok := obj.(*api.Namespace); ok {
				return gc.finalizeNamespace(ctx, it, ns)
			}
			return false, nil
		case hasFinalizer(m, api.FinalizerOrphan):
			return false, gc.orphanDependents(ctx, it, obj)
		case hasFinalizer(m, api.FinalizerForeground):
			return gc.deleteDependents(ctx, it, obj)
		}
		return false, nil // on its way out already
	}
	if len(m.OwnerReferences) == 0 {
		return false, nil
	}
	return false, gc.checkOwners(ctx, it, obj)
}

// ownerState is what became of an owner.
type ownerState int

const (
	ownerSolid   ownerState = iota // exists (or cannot be judged): keep the dependent
	ownerGone                      // absent, or replaced by another of the same name
	ownerWaiting                   // being deleted in the foreground: waits for its dependents
)

// ownerOf reads the owner ref points at, live. A dependent in namespace
// ns can only have owners in ns or cluster-scoped ones; a reference that
// cannot be resolved (an unknown kind, a namespaced owner of a
// cluster-scoped object) counts as solid: nothing is deleted on a guess.
func (gc *GC) ownerOf(ctx context.Context, ns string, ref api.OwnerReference) (ownerState, error) {
	k, ok := api.LookupKind(ref.Kind)
	if !ok || (k.Namespaced && ns == "") {
		gc.log.Debug("owner reference cannot be resolved", "kind", ref.Kind, "name", ref.Name, "namespace", ns)
		return ownerSolid, nil
	}
	if !k.Namespaced {
		ns = ""
	}
	o, err := gc.cfg.Backend.Get(ctx, k.Resource, ns, ref.Name)
	switch {
	case errdefs.IsNotFound(err):
		return ownerGone, nil
	case err != nil:
		return ownerSolid, fmt.Errorf("read owner %s %q: %w", ref.Kind, ref.Name, err)
	}
	m := o.GetObjectMeta()
	switch {
	case m.UID != ref.UID:
		return ownerGone, nil
	case m.DeletionTimestamp != nil && hasFinalizer(m, api.FinalizerForeground):
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// checkOwners deletes obj if all its owners are gone (in the foreground
// if one of them waits for it and it has dependents of its own), or drops
// its references to gone and waiting owners if another owner remains.
func (gc *GC) checkOwners(ctx context.Context, it item, obj api.Object) error {
	m := obj.GetObjectMeta()
	solid, waiting := 0, 0
	var drop []string
	for _, ref := range m.OwnerReferences {
		st, err := gc.ownerOf(ctx, m.Namespace, ref)
		if err != nil {
			return err
		}
		switch st {
		case ownerSolid:
			solid++
		case ownerWaiting:
			waiting++
			drop = append(drop, ref.UID)
		case ownerGone:
			drop = append(drop, ref.UID)
		}
	}
	switch {
	case len(drop) == 0:
		return nil
	case solid > 0:
		return gc.dropOwnerRefs(ctx, it, drop)
	case waiting > 0 && len(gc.cachedDependents(m.UID)) > 0:
		return gc.deleteObject(ctx, it, true)
	default:
		return gc.deleteObject(ctx, it, false)
	}
}

// deleteObject deletes the object it names (that very one, by UID). In
// the foreground, it first gets api.FinalizerForeground so that its own
// dependents go before it does.
func (gc *GC) deleteObject(ctx context.Context, it item, foreground bool) error {
	if foreground {
		done := false
		err := gc.mutate(ctx, it, func(m *api.ObjectMeta) bool {
			if m.DeletionTimestamp != nil {
				done = true // already on its way
				return false
			}
			if hasFinalizer(m, api.FinalizerForeground) {
				return false
			}
			m.Finalizers = append(m.Finalizers, api.FinalizerForeground)
			return true
		})
		if err != nil || done {
			return err
		}
	}
	uid := it.UID
	_, err := gc.cfg.Backend.Delete(ctx, it.Resource, it.Namespace, it.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
	if errdefs.IsNotFound(err) || errdefs.IsConflict(err) {
		return nil // gone, or replaced by another of the same name
	}
	if err != nil {
		return fmt.Errorf("delete %s %s/%s: %w", it.Kind, it.Namespace, it.Name, err)
	}
	gc.log.Debug("deleted dependent", "kind", it.Kind, "namespace", it.Namespace, "name", it.Name, "foreground", foreground)
	return nil
}

// mutate changes the object it names with fn (which reports whether it
// changed anything) and writes it, again on a conflict. A gone or
// replaced object is no error.
func (gc *GC) mutate(ctx context.Context, it item, fn func(*api.ObjectMeta) bool) error {
	return client.RetryOnConflict(ctx, func() error {
		cur, err := gc.cfg.Backend.Get(ctx, it.Resource, it.Namespace, it.Name)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		m := cur.GetObjectMeta()
		if m.UID != it.UID || !fn(m) {
			return nil
		}
		_, err = gc.cfg.Backend.Update(ctx, it.Resource, it.Namespace, cur, "")
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// dropOwnerRefs removes the owner references to uids.
func (gc *GC) dropOwnerRefs(ctx context.Context, it item, uids []string) error {
	err := gc.mutate(ctx, it, func(m *api.ObjectMeta) bool {
		refs := slices.DeleteFunc(slices.Clone(m.OwnerReferences), func(r api.OwnerReference) bool { return slices.Contains(uids, r.UID) })
		if len(refs) == len(m.OwnerReferences) {
			return false
		}
		if len(refs) == 0 {
			refs = nil
		}
		m.OwnerReferences = refs
		return true
	})
	if err != nil {
		return fmt.Errorf("remove owner references from %s %s/%s: %w", it.Kind, it.Namespace, it.Name, err)
	}
	return nil
}

// removeFinalizer removes f from the object it names; the store removes
// an object being deleted once its last finalizer is gone.
func (gc *GC) removeFinalizer(ctx context.Context, it item, f string) error {
	err := gc.mutate(ctx, it, func(m *api.ObjectMeta) bool {
		if !hasFinalizer(m, f) {
			return false
		}
		m.Finalizers = slices.DeleteFunc(slices.Clone(m.Finalizers), func(s string) bool { return s == f })
		if len(m.Finalizers) == 0 {
			m.Finalizers = nil
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("remove finalizer %s from %s %s/%s: %w", f, it.Kind, it.Namespace, it.Name, err)
	}
	gc.log.Debug("removed finalizer", "finalizer", f, "kind", it.Kind, "namespace", it.Namespace, "name", it.Name)
	return nil
}

// blocks reports whether d's reference to owner uid holds the owner's
// foreground deletion.
func blocks(d api.Object, uid string) bool {
	return slices.ContainsFunc(d.GetObjectMeta().OwnerReferences, func(r api.OwnerReference) bool {
		return r.UID == uid && isTrue(r.BlockOwnerDeletion)
	})
}

// deleteDependents carries out a foreground deletion: every dependent is
// queued to be judged (and, its other owners permitting, deleted); the
// finalizer goes once no dependent with blockOwnerDeletion is left. The
// caches say who to wait for; before the finalizer goes, a live list
// makes sure none is missing from them.
func (gc *GC) deleteDependents(ctx context.Context, it item, owner api.Object) (bool, error) {
	uid := owner.GetObjectMeta().UID
	blocking := 0
	for _, d := range gc.cachedDependents(uid) {
		if blocks(d, uid) {
			blocking++
		}
		if d.GetObjectMeta().DeletionTimestamp == nil {
			gc.enqueue(d)
		}
	}
	if blocking > 0 {
		return true, nil
	}
	live, err := gc.liveDependents(ctx, owner)
	if err != nil {
		return false, err
	}
	for _, d := range live {
		if blocks(d, uid) {
			blocking++
			if d.GetObjectMeta().DeletionTimestamp == nil {
				gc.enqueue(d)
			}
		}
	}
	if blocking > 0 {
		return true, nil
	}
	return false, gc.removeFinalizer(ctx, it, api.FinalizerForeground)
}

// orphanDependents carries out an orphan deletion: the references to the
// owner are removed from every dependent, found in the caches and by a
// live list (a dependent missed here would be deleted as an orphan
// later), and then the finalizer.
func (gc *GC) orphanDependents(ctx context.Context, it item, owner api.Object) error {
	uid := owner.GetObjectMeta().UID
	live, err := gc.liveDependents(ctx, owner)
	if err != nil {
		return err
	}
	seen := map[item]bool{}
	var deps []item
	for _, d := range append(gc.cachedDependents(uid), live...) {
		if di, ok := itemOf(d); ok && !seen[di] {
			seen[di] = true
			deps = append(deps, di)
		}
	}
	if err := parallel(ctx, deps, func(di item) error { return gc.dropOwnerRefs(ctx, di, []string{uid}) }); err != nil {
		return err
	}
	return gc.removeFinalizer(ctx, it, api.FinalizerOrphan)
}

// liveDependents lists, from the store, the objects with an owner
// reference to owner: in its namespace, or everywhere for a
// cluster-scoped owner.
func (gc *GC) liveDependents(ctx context.Context, owner api.Object) ([]api.Object, error) {
	m := owner.GetObjectMeta()
	var out []api.Object
	for _, c := range gc.order {
		k := c.kind()
		if m.Namespace != "" && !k.Namespaced {
			continue // a cluster-scoped object has no namespaced owner
		}
		list, err := client.ListAll(ctx, gc.cfg.Backend, k.Resource, m.Namespace, api.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.Resource, err)
		}
		for _, o := range list.Items {
			if slices.ContainsFunc(o.GetObjectMeta().OwnerReferences, func(r api.OwnerReference) bool { return r.UID == m.UID }) {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// parallelism bounds the writes one collection issues at once: enough
// for the store to batch them, not so many that other writers starve.
const parallelism = 16

// parallel runs fn on every item, a few at a time, and joins the errors.
func parallel(ctx context.Context, items []item, fn func(item) error) error {
	var g errgroup.Group
	g.SetLimit(parallelism)
	errs := make([]error, len(items))
	for i, it := range items {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { errs[i] = fn(it); return nil })
	}
	g.Wait()
	return errors.Join(errs...)
}
