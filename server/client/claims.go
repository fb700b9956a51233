package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
)

// ClaimElsewhereError: the claim's local volume is on another node.
type ClaimElsewhereError struct{ Node string }

func (e *ClaimElsewhereError) Error() string { return "its volume is on node " + e.Node }

// ErrClaimGone: the claim was deleted, is being deleted, or was made
// again (another UID) since it was read.
var ErrClaimGone = errors.New("the claim is being deleted or was replaced")

// BindClaim records node as the node holding claim c's local-path
// volume (api.AnnotationSelectedNode) if it names none, then marks it
// Bound (access modes, capacity = the request) if it is not yet. It
// starts from c as given (a cached copy) and reads the claim again after
// a conflict, so two binders racing write once; one that finds another
// node gets a *ClaimElsewhereError. It returns the claim as stored.
func BindClaim(ctx context.Context, b Backend, c *api.PersistentVolumeClaim, node string) (*api.PersistentVolumeClaim, error) {
	claims := For[*api.PersistentVolumeClaim](b, c.Namespace)
	uid := c.UID
	first := true
	err := RetryOnConflict(ctx, func() error {
		if !first {
			fresh, err := claims.Get(ctx, c.Name)
			if err != nil {
				return err
			}
			c = fresh
		}
		first = false
		switch sel := c.Annotations[api.AnnotationSelectedNode]; {
		case c.UID != uid, c.DeletionTimestamp != nil:
			return ErrClaimGone
		case sel == "":
			next := api.Clone(c)
			if next.Annotations == nil {
				next.Annotations = map[string]string{}
			}
			next.Annotations[api.AnnotationSelectedNode] = node
			out, err := claims.Update(ctx, next)
			if err != nil {
				return err
			}
			c = out
		case sel != node:
			return &ClaimElsewhereError{Node: sel}
		}
		if c.Status.Phase == api.ClaimBound {
			return nil
		}
		next := api.Clone(c)
		next.Status.Phase = api.ClaimBound
		next.Status.AccessModes = next.Spec.AccessModes
		next.Status.Capacity = next.Spec.Resources.Requests
		out, err := claims.UpdateStatus(ctx, next)
		if err == nil {
			c = out
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bind persistentvolumeclaim %s/%s to node %s: %w", c.Namespace, c.Name, node, err)
	}
	return c, nil
}
