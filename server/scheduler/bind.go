package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// DefaultBinder binds a pod by writing spec.nodeName, and only while the
// pod is unbound: the update carries the resourceVersion the scheduler
// saw, and on a conflict it reads the pod again and binds only if it is
// still the same pod (uid) with no node.
type DefaultBinder struct {
	b client.Backend
}

var _ BindPlugin = (*DefaultBinder)(nil)

// NewDefaultBinder returns a binder writing through b.
func NewDefaultBinder(b client.Backend) *DefaultBinder {
	return &DefaultBinder{b: b}
}

// Name of the plugin.
func (*DefaultBinder) Name() string { return "DefaultBinder" }

// ErrAlreadyBound is the bind error of a pod someone else bound first.
var ErrAlreadyBound = errors.New("pod is already bound")

// Bind writes the binding.
func (d *DefaultBinder) Bind(ctx context.Context, _ *CycleState, pod *PodInfo, node string) *Status {
	return AsStatus(d.bind(ctx, pod.Pod, node))
}

const maxBindAttempts = 4

func (d *DefaultBinder) bind(ctx context.Context, cur *api.Pod, node string) error {
	for attempt := 0; ; attempt++ {
		// A shallow copy is enough: the backend does not change what it
		// is given (the registry clones it; HTTP encodes it), and only
		// spec.nodeName differs.
		p := *cur
		p.Spec.NodeName = node
		_, err := d.b.Update(ctx, "pods", p.Namespace, &p, "")
		if err == nil {
			return nil
		}
		if !errdefs.IsConflict(err) || attempt+1 >= maxBindAttempts {
			return fmt.Errorf("bind pod %s/%s to node %s: %w", cur.Namespace, cur.Name, node, err)
		}
		obj, err := d.b.Get(ctx, "pods", cur.Namespace, cur.Name)
		if err != nil {
			return fmt.Errorf("bind pod %s/%s to node %s: %w", cur.Namespace, cur.Name, node, err)
		}
		fresh, ok := obj.(*api.Pod)
		switch {
		case !ok || fresh.UID != cur.UID:
			return fmt.Errorf("bind pod %s/%s: it was replaced: %w", cur.Namespace, cur.Name, errdefs.ErrNotFound)
		case fresh.Spec.NodeName == node:
			return nil
		case fresh.Spec.NodeName != "":
			return fmt.Errorf("bind pod %s/%s to node %s: it went to node %s: %w", cur.Namespace, cur.Name, node, fresh.Spec.NodeName, ErrAlreadyBound)
		case fresh.DeletionTimestamp != nil:
			return fmt.Errorf("bind pod %s/%s: it is being deleted: %w", cur.Namespace, cur.Name, errdefs.ErrNotFound)
		}
		cur = fresh
	}
}
