// Package nodeipam gives every node its slice of the pod network: a /24
// (by default) of the cluster's pod CIDR, written once to the node's
// spec.podCIDR. It owns nothing else of a node.
package nodeipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// Config says which network to cut up.
type Config struct {
	Backend client.Backend
	// Informers is the shared informer set to read from (the server's);
	// nil makes one of the controller's own over Backend.
	Informers *client.Informers
	// ClusterCIDR is the pod network, e.g. 10.42.0.0/16.
	ClusterCIDR string
	// NodeMaskSize is the prefix length of each node's subnet (default 24).
	NodeMaskSize int
	Log          *slog.Logger
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("nodeipam: a backend is required")
	}
	p, err := netip.ParsePrefix(c.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("nodeipam: cluster CIDR %q: %v", c.ClusterCIDR, err)
	}
	size := c.NodeMaskSize
	if size == 0 {
		size = 24
	}
	if size <= p.Bits() || size > p.Addr().BitLen()-2 {
		return fmt.Errorf("nodeipam: node mask /%d does not fit in cluster CIDR %s", size, c.ClusterCIDR)
	}
	return nil
}

// Controller assigns pod subnets to nodes that have none.
type Controller struct {
	cfg     Config
	cluster netip.Prefix
	log     *slog.Logger
	nodes   *client.Informer[*api.Node]
	queue   *client.Queue[string]
	// assigned holds subnets written that the informer may not show yet,
	// by node name; only the one worker touches it.
	assigned map[string]netip.Prefix
}

// New checks cfg.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.NodeMaskSize == 0 {
		cfg.NodeMaskSize = 24
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p, _ := netip.ParsePrefix(cfg.ClusterCIDR)
	if cfg.Informers == nil {
		cfg.Informers = client.NewInformers(cfg.Backend, cfg.Log)
	}
	c := &Controller{cfg: cfg, cluster: p.Masked(), log: cfg.Log, queue: client.NewQueue[string](nil), assigned: map[string]netip.Prefix{}}
	c.nodes = client.Shared[*api.Node](cfg.Informers, "", api.ListOptions{})
	c.nodes.AddHandler(client.HandlerFuncs[*api.Node]{
		AddFunc:    func(n *api.Node) { c.queue.Add(n.Name) },
		UpdateFunc: func(_, n *api.Node) { c.queue.Add(n.Name) },
	})
	return c, nil
}

// Run assigns subnets until ctx ends. One worker: assignments never race.
func (c *Controller) Run(ctx context.Context) error {
	go func() { <-ctx.Done(); c.queue.ShutDown() }()
	errc := make(chan error, 1)
	go func() { errc <- c.nodes.Run(ctx) }()
	if !c.nodes.WaitForSync(ctx) {
		return <-errc
	}
	for {
		name, ok := c.queue.Get()
		if !ok {
			break
		}
		if err := c.sync(ctx, name); err != nil && ctx.Err() == nil {
			c.log.Warn("assign pod subnet", "node", name, "err", err)
			c.queue.AddRateLimited(name)
		} else {
			c.queue.Forget(name)
		}
		c.queue.Done(name)
	}
	return <-errc
}

func (c *Controller) sync(ctx context.Context, name string) error {
	n, ok := c.nodes.Get("", name)
	if !ok || n.Spec.PodCIDR != "" {
		return nil
	}
	used := map[netip.Prefix]bool{}
	for _, o := range c.nodes.List() {
		if p, err := netip.ParsePrefix(o.Spec.PodCIDR); err == nil {
			used[p.Masked()] = true
		}
	}
	for node, p := range c.assigned {
		// Used this time in any case: the list above may predate the
		// informer's copy that now shows it.
		used[p] = true
		if o, ok := c.nodes.Get("", node); !ok || o.Spec.PodCIDR != "" {
			delete(c.assigned, node) // seen, or the node is gone
		}
	}
	subnet, err := c.free(used)
	if err != nil {
		return err
	}
	nodes := client.For[*api.Node](c.cfg.Backend, "")
	return client.RetryOnConflict(ctx, func() error {
		fresh, err := nodes.Get(ctx, name)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil || fresh.Spec.PodCIDR != "" {
			return err
		}
		fresh.Spec.PodCIDR, fresh.Spec.PodCIDRs = subnet.String(), []string{subnet.String()}
		if _, err := nodes.Update(ctx, fresh); err != nil {
			return err
		}
		c.log.Info("assigned pod subnet", "node", name, "podCIDR", subnet)
		c.assigned[name] = subnet
		return nil
	})
}

// free returns the lowest subnet not in used.
func (c *Controller) free(used map[netip.Prefix]bool) (netip.Prefix, error) {
	count := 1 << (c.cfg.NodeMaskSize - c.cluster.Bits())
	base := new(big.Int).SetBytes(c.cluster.Addr().AsSlice())
	step := new(big.Int).Lsh(big.NewInt(1), uint(c.cluster.Addr().BitLen()-c.cfg.NodeMaskSize))
	for i := range count {
		v := new(big.Int).Add(base, new(big.Int).Mul(step, big.NewInt(int64(i))))
		b := v.FillBytes(make([]byte, c.cluster.Addr().BitLen()/8))
		addr, _ := netip.AddrFromSlice(b)
		p := netip.PrefixFrom(addr, c.cfg.NodeMaskSize)
		if !used[p] {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d left in %s for a new node", c.cfg.NodeMaskSize, c.cluster)
}
