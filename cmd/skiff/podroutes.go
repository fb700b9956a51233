package main

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/skiffhq/skiff/netstack/overlay"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// routesResync is how often the routes to other nodes' pods are checked
// even when no node changed, so routes someone deleted come back.
const routesResync = 30 * time.Second

// runPodRoutes keeps this node's routes to every other node's pod subnet
// (netstack/overlay, host-gw: all nodes on one L2 segment) from an
// informer of the nodes until ctx ends: once per change and every
// routesResync. The routes stay when it stops: running pods need them
// across an agent restart.
func runPodRoutes(ctx context.Context, b client.Backend, self string, log *slog.Logger) error {
	o, err := overlay.New(overlay.Config{Backend: overlay.HostGW, Log: log})
	if err != nil {
		return err
	}
	nodes := client.NewInformer[*api.Node](b, "", api.ListOptions{}, log)
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	nodes.AddHandler(client.HandlerFuncs[*api.Node]{
		AddFunc: func(*api.Node) { poke() }, UpdateFunc: func(_, _ *api.Node) { poke() }, DeleteFunc: func(*api.Node) { poke() }})
	go nodes.Run(ctx)
	if !nodes.WaitForSync(ctx) {
		return nil
	}
	tick := time.NewTicker(routesResync)
	defer tick.Stop()
	var lastErr string
	for {
		if st, ok := routeState(nodes.List(), self); ok {
			res, err := o.Sync(st)
			switch {
			case err != nil && err.Error() != lastErr:
				log.Warn("routes to other nodes' pods", "err", err) // per node; the others are programmed
			case err == nil && res.Changes > 0:
				log.Info("routes to other nodes' pods", "nodes", len(st.Remotes), "changes", res.Changes)
			}
			lastErr = ""
			if err != nil {
				lastErr = err.Error()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-tick.C:
		}
	}
}

// routeState is the overlay's input: this node and every other node
// that has an InternalIP and a pod subnet. false while this node has no
// subnet yet.
func routeState(nodes []*api.Node, self string) (overlay.State, bool) {
	var st overlay.State
	found := false
	for _, n := range nodes {
		on, ok := overlayNode(n)
		switch {
		case n.Name == self:
			st.Local, found = on, ok
		case ok:
			st.Remotes = append(st.Remotes, on)
		}
	}
	return st, found
}

func overlayNode(n *api.Node) (overlay.Node, bool) {
	cidr, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil {
		return overlay.Node{}, false
	}
	for _, a := range n.Status.Addresses {
		if a.Type != api.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
			return overlay.Node{Name: n.Name, IP: ip, PodCIDR: cidr}, true
		}
	}
	return overlay.Node{}, false
}
