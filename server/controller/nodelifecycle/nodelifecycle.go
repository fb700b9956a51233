// Package nodelifecycle watches nodes' leases and acts when one stops
// being renewed: the node's Ready condition becomes Unknown, it is
// tainted unreachable (NoSchedule and NoExecute), its pods lose their
// Ready condition at once (so services stop sending them traffic) and,
// after a toleration time, are deleted so their controllers replace them
// elsewhere. A deleted pod on an unreachable node stays Terminating: its
// containers may still run there, and only the node's agent (when it
// comes back and stops them) or the node's deletion ends it — so a
// replica never runs twice. When the lease is renewed again the taints
// go. Pods bound to a node that no longer exists are deleted at once.
//
// Leases live in the server's memory (server/nodelease), so after a
// server restart every lease is missing: a node without one counts as
// renewed when the controller started, and is judged only a lease period
// later.
package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/nodelease"
)

// The taint keys, as Kubernetes names them.
const (
	TaintUnreachable = "node.kubernetes.io/unreachable"
	// TaintNotReady (NoSchedule) marks a node that renews its lease but
	// reports itself not Ready (its container runtime is down, say): no
	// new pods go there; its pods stay, as its agent still looks after
	// them.
	TaintNotReady = "node.kubernetes.io/not-ready"
)

// Defaults: small clusters want faster failover than Kubernetes' 40 s
// and 5 min.
const (
	DefaultNotReadyAfter = 20 * time.Second
	DefaultEvictAfter    = 60 * time.Second
)

// Config tunes the controller.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	Leases    *nodelease.Table
	// NotReadyAfter is how long a node may go without renewing its lease
	// before it is NotReady and tainted (default 20 s).
	NotReadyAfter time.Duration
	// EvictAfter is how long pods stay on a NotReady node before they are
	// deleted, unless they tolerate the unreachable taint for another time
	// (default 60 s).
	EvictAfter time.Duration
	// Period is how often leases are checked (default 1 s).
	Period time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Validate says what is missing.
func (c Config) Validate() error {
	var errs []error
	if c.Backend == nil {
		errs = append(errs, errors.New("nodelifecycle: a backend is required"))
	}
	if c.Leases == nil {
		errs = append(errs, errors.New("nodelifecycle: the lease table is required"))
	}
	if c.NotReadyAfter < 0 || c.EvictAfter < 0 || c.Period < 0 {
		errs = append(errs, errors.New("nodelifecycle: durations may not be negative"))
	}
	return errors.Join(errs...)
}

// Controller is the node lifecycle controller.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	nodes   *client.Informer[*api.Node]
	pods    *client.Informer[*api.Pod]
	// marked holds the pods whose Ready condition was cleared, by UID, so
	// that it is written once per outage.
	marked map[string]bool
}

const indexNode = "node"

// New checks cfg and builds the controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.NotReadyAfter == 0 {
		cfg.NotReadyAfter = DefaultNotReadyAfter
	}
	if cfg.EvictAfter == 0 {
		cfg.EvictAfter = DefaultEvictAfter
	}
	if cfg.Period == 0 {
		cfg.Period = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Informers == nil {
		cfg.Informers = client.NewInformers(cfg.Backend, cfg.Log)
	}
	c := &Controller{cfg: cfg, log: cfg.Log, marked: map[string]bool{}}
	c.nodes = client.Shared[*api.Node](cfg.Informers, "", api.ListOptions{})
	c.pods = client.Shared[*api.Pod](cfg.Informers, "", api.ListOptions{})
	c.pods.AddIndex(indexNode, func(p *api.Pod) []string { return []string{p.Spec.NodeName} })
	// A deleted node's lease goes with it.
	c.nodes.AddHandler(client.HandlerFuncs[*api.Node]{DeleteFunc: func(n *api.Node) { cfg.Leases.Forget(n.Name) }})
	return c, nil
}

// Run checks every node each period until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.started = c.cfg.Now()
	go c.nodes.Run(ctx)
	go c.pods.Run(ctx)
	if !c.nodes.WaitForSync(ctx) || !c.pods.WaitForSync(ctx) {
		return nil
	}
	t := time.NewTicker(c.cfg.Period)
	defer t.Stop()
	for {
		c.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check looks at every node and pod once (Run calls it each period).
func (c *Controller) Check(ctx context.Context) {
	now := c.cfg.Now()
	names := map[string]bool{}
	for _, n := range c.nodes.List() {
		names[n.Name] = true
		if err := c.checkNode(ctx, n, now); err != nil && ctx.Err() == nil {
			c.log.Warn("node lifecycle", "node", n.Name, "err", err)
		}
	}
	// Pods bound to a node that is gone can never be stopped by it.
	for _, p := range c.pods.List() {
		if p.Spec.NodeName == "" || names[p.Spec.NodeName] {
			continue
		}
		zero := int64(0)
		_, err := c.cfg.Backend.Delete(ctx, "pods", p.Namespace, p.Name, api.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &api.Preconditions{UID: &p.UID}})
		if err == nil {
			c.log.Info("deleted pod of a deleted node", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
		} else if !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) && ctx.Err() == nil {
			c.log.Warn("delete pod of a deleted node", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}

// lastRenewal is when the node last said it was alive; a node with no
// lease yet (this server just started) counts from the controller's
// start.
func (c *Controller) lastRenewal(node string) time.Time {
	if l, ok := c.cfg.Leases.Get(node); ok && l.RenewTime.After(c.started) {
		return l.RenewTime
	}
	return c.started
}

func (c *Controller) checkNode(ctx context.Context, n *api.Node, now time.Time) error {
	silent := now.Sub(c.lastRenewal(n.Name))
	tainted := findTaint(n.Spec.Taints, TaintUnreachable, api.TaintEffectNoExecute)
	if silent <= c.cfg.NotReadyAfter {
		for _, p := range c.pods.ByIndex(indexNode, n.Name) {
			delete(c.marked, p.UID)
		}
		if tainted != nil {
			return c.untaint(ctx, n)
		}
		return c.checkReady(ctx, n)
	}
	if tainted == nil {
		if err := c.taint(ctx, n, now, silent); err != nil {
			return err
		}
		return nil // evictions count from the taint's time, as the informer will show it
	}
	since := tainted.TimeAdded.Time
	for _, p := range c.pods.ByIndex(indexNode, n.Name) {
		if p.DeletionTimestamp != nil || p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
			continue
		}
		if !c.marked[p.UID] {
			if err := c.markNotReady(ctx, p); err != nil {
				c.log.Warn("mark pod not ready", "pod", p.Namespace+"/"+p.Name, "err", err)
			} else {
				c.marked[p.UID] = true
			}
		}
		wait, forever := tolerated(p, c.cfg.EvictAfter)
		if forever || now.Sub(since) < wait {
			continue
		}
		_, err := c.cfg.Backend.Delete(ctx, "pods", p.Namespace, p.Name, api.DeleteOptions{Preconditions: &api.Preconditions{UID: &p.UID}})
		switch {
		case err == nil:
			c.log.Info("evicted pod from an unreachable node", "pod", p.Namespace+"/"+p.Name, "node", n.Name, "unreachable", now.Sub(since).Round(time.Second))
			c.event(ctx, p, "NodeLost", fmt.Sprintf("Evicted: node %s has been unreachable for %s", n.Name, now.Sub(since).Round(time.Second)))
		case errdefs.IsNotFound(err), errdefs.IsConflict(err):
		default:
			return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

// tolerated is how long p stays on an unreachable node: its own
// toleration of the taint, else the default; forever if it tolerates it
// without a limit.
func tolerated(p *api.Pod, def time.Duration) (time.Duration, bool) {
	for _, t := range p.Spec.Tolerations {
		if !tolerates(t, TaintUnreachable, api.TaintEffectNoExecute) {
			continue
		}
		if t.TolerationSeconds == nil {
			return 0, true
		}
		return time.Duration(max(*t.TolerationSeconds, 0)) * time.Second, false
	}
	return def, false
}

func tolerates(t api.Toleration, key string, effect api.TaintEffect) bool {
	if t.Effect != "" && t.Effect != effect {
		return false
	}
	if t.Operator == api.TolerationOpExists {
		return t.Key == "" || t.Key == key
	}
	return t.Key == key
}

func findTaint(ts []api.Taint, key string, effect api.TaintEffect) *api.Taint {
	for i := range ts {
		if ts[i].Key == key && ts[i].Effect == effect {
			return &ts[i]
		}
	}
	return nil
}

// taint marks the node unreachable: Ready Unknown, and the NoSchedule
// and NoExecute taints.
func (c *Controller) taint(ctx context.Context, n *api.Node, now time.Time, silent time.Duration) error {
	nodes := client.For[*api.Node](c.cfg.Backend, "")
	t := api.NewTime(now)
	err := client.RetryOnConflict(ctx, func() error {
		fresh, err := nodes.Get(ctx, n.Name)
		if err != nil {
			return err
		}
		if findTaint(fresh.Spec.Taints, TaintUnreachable, api.TaintEffectNoExecute) != nil {
			return nil
		}
		fresh.Spec.Taints = append(withoutTaint(fresh.Spec.Taints, TaintUnreachable),
			api.Taint{Key: TaintUnreachable, Effect: api.TaintEffectNoSchedule},
			api.Taint{Key: TaintUnreachable, Effect: api.TaintEffectNoExecute, TimeAdded: &t})
		fresh, err = nodes.Update(ctx, fresh)
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("skiff agent stopped renewing its lease %s ago", silent.Round(time.Second))
		for i := range fresh.Status.Conditions {
			cd := &fresh.Status.Conditions[i]
			if cd.Type == api.NodeReady && cd.Status != api.ConditionUnknown {
				cd.Status, cd.Reason, cd.Message, cd.LastTransitionTime = api.ConditionUnknown, "NodeStatusUnknown", msg, t
			}
		}
		_, err = nodes.UpdateStatus(ctx, fresh)
		return err
	})
	if err != nil {
		return fmt.Errorf("taint unreachable node: %w", err)
	}
	c.log.Warn("node unreachable", "node", n.Name, "silent", silent.Round(time.Second))
	return nil
}

// untaint takes the unreachable taints off a node that renews again; its
// agent writes Ready itself.
func (c *Controller) untaint(ctx context.Context, n *api.Node) error {
	nodes := client.For[*api.Node](c.cfg.Backend, "")
	err := client.RetryOnConflict(ctx, func() error {
		fresh, err := nodes.Get(ctx, n.Name)
		if err != nil {
			return err
		}
		kept := withoutTaint(fresh.Spec.Taints, TaintUnreachable)
		if len(kept) == len(fresh.Spec.Taints) {
			return nil
		}
		fresh.Spec.Taints = kept
		_, err = nodes.Update(ctx, fresh)
		return err
	})
	if err != nil {
		return fmt.Errorf("untaint node: %w", err)
	}
	c.log.Info("node reachable again", "node", n.Name)
	return nil
}

// checkReady keeps the not-ready taint on a live node exactly while it
// reports itself not Ready (Ready False).
func (c *Controller) checkReady(ctx context.Context, n *api.Node) error {
	// Only an explicit False: Unknown is what this controller writes for
	// an unreachable node, which its agent turns back to True within a
	// status period of coming back.
	ready := true
	for _, cd := range n.Status.Conditions {
		if cd.Type == api.NodeReady {
			ready = cd.Status != api.ConditionFalse
		}
	}
	has := findTaint(n.Spec.Taints, TaintNotReady, api.TaintEffectNoSchedule) != nil
	if ready != has {
		return nil
	}
	nodes := client.For[*api.Node](c.cfg.Backend, "")
	err := client.RetryOnConflict(ctx, func() error {
		fresh, err := nodes.Get(ctx, n.Name)
		if err != nil {
			return err
		}
		kept := withoutTaint(fresh.Spec.Taints, TaintNotReady)
		if !ready {
			kept = append(kept, api.Taint{Key: TaintNotReady, Effect: api.TaintEffectNoSchedule})
		} else if len(kept) == len(fresh.Spec.Taints) {
			return nil
		}
		fresh.Spec.Taints = kept
		_, err = nodes.Update(ctx, fresh)
		return err
	})
	if err != nil {
		return fmt.Errorf("not-ready taint of node %s: %w", n.Name, err)
	}
	c.log.Info("node readiness changed", "node", n.Name, "ready", ready)
	return nil
}

func withoutTaint(ts []api.Taint, key string) []api.Taint {
	var out []api.Taint
	for _, t := range ts {
		if t.Key != key {
			out = append(out, t)
		}
	}
	return out
}

// markNotReady clears a pod's Ready condition: its node cannot say.
func (c *Controller) markNotReady(ctx context.Context, p *api.Pod) error {
	pods := client.For[*api.Pod](c.cfg.Backend, p.Namespace)
	now := api.NewTime(c.cfg.Now())
	return client.RetryOnConflict(ctx, func() error {
		fresh, err := pods.Get(ctx, p.Name)
		if err != nil || fresh.UID != p.UID {
			return nil // gone
		}
		changed := false
		for i := range fresh.Status.Conditions {
			cd := &fresh.Status.Conditions[i]
			if (cd.Type == api.PodReady || cd.Type == api.ContainersReady) && cd.Status == api.ConditionTrue {
				cd.Status, cd.Reason, cd.LastTransitionTime = api.ConditionFalse, "NodeNotReady", now
				changed = true
			}
		}
		if !changed {
			return nil
		}
		_, err = pods.UpdateStatus(ctx, fresh)
		return err
	})
}

// event records one Event about a pod (evictions are rare: no
// coalescing needed).
func (c *Controller) event(ctx context.Context, p *api.Pod, reason, msg string) {
	now := api.NewTime(c.cfg.Now())
	ev := &api.Event{
		ObjectMeta:     api.ObjectMeta{Name: fmt.Sprintf("%s.%x", p.Name, now.UnixNano()), Namespace: p.Namespace},
		InvolvedObject: api.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		Reason:         reason, Message: msg, Type: api.EventTypeWarning, Count: 1,
		Source:         api.EventSource{Component: "node-lifecycle-controller"},
		FirstTimestamp: now, LastTimestamp: now,
	}
	if _, err := c.cfg.Backend.Create(ctx, "events", p.Namespace, ev); err != nil {
		c.log.Debug("write event", "pod", p.Namespace+"/"+p.Name, "err", err)
	}
}
