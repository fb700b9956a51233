package garbagecollector

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// finalizeNamespace empties a namespace being deleted: it deletes every
// object in it, of every namespaced kind, and once nothing is left (pods
// on nodes take their grace period) removes api.FinalizerNamespace, so the
// store removes the namespace. It marks the namespace Terminating first
// (when the registry has not). The registry refuses new objects in a
// namespace being deleted, so the emptying ends.
func (gc *GC) finalizeNamespace(ctx context.Context, it item, ns *api.Namespace) (requeue bool, err error) {
	if ns.Status.Phase != api.NamespaceTerminating {
		next := api.Clone(ns)
		next.Status.Phase = api.NamespaceTerminating
		if _, err := gc.cfg.Backend.Update(ctx, "namespaces", "", next, "status"); err != nil && !errdefs.IsNotFound(err) {
			return false, fmt.Errorf("mark namespace %s terminating: %w", it.Name, err)
		}
	}
	remaining := 0
	for _, k := range api.Kinds() {
		if !k.Namespaced {
			continue
		}
		list, err := client.ListAll(ctx, gc.cfg.Backend, k.Resource, it.Name, api.ListOptions{})
		if err != nil {
			return false, fmt.Errorf("list %s in namespace %s: %w", k.Resource, it.Name, err)
		}
		var doomed []item
		for _, o := range list.Items {
			remaining++
			if o.GetObjectMeta().DeletionTimestamp == nil {
				if oi, ok := itemOf(o); ok {
					doomed = append(doomed, oi)
				}
			}
		}
		err = parallel(ctx, doomed, func(oi item) error {
			uid := oi.UID
			_, err := gc.cfg.Backend.Delete(ctx, oi.Resource, oi.Namespace, oi.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &uid}})
			if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
				return fmt.Errorf("delete %s %s/%s: %w", oi.Kind, oi.Namespace, oi.Name, err)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	if remaining > 0 {
		gc.log.Debug("namespace still holds objects", "namespace", it.Name, "objects", remaining)
		return true, nil
	}
	return false, gc.removeFinalizer(ctx, it, api.FinalizerNamespace)
}
