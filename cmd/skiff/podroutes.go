package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/skiffhq/skiff/netstack/overlay"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// routesResync is how often the routes to other nodes' pods are checked
// even when no node changed, so routes someone deleted come back.
const routesResync = 30 * time.Second

// podRoutes is this node's part of the overlay: the backend, what the
// node tells the others through its Node annotations (its VTEP MAC or
// WireGuard key), and the MTU its pods get (the underlay's less the
// tunnel's headers; 0 for host-gw, which adds none).
type podRoutes struct {
	o           *overlay.Overlay
	backend     overlay.Backend
	annotations map[string]string
	podMTU      int
}

// newPodRoutes prepares the overlay of cfg.Overlay; it touches no route
// until run. A WireGuard node's private key is kept in
// <data-dir>/agent/wireguard.key (made on the first start).
func newPodRoutes(cfg NodeConfig, dataDir string, log *slog.Logger) (*podRoutes, error) {
	backend := overlay.Backend(cfg.Overlay)
	o, err := overlay.New(overlay.Config{Backend: backend, Device: cfg.OverlayDevice, WireGuardPort: cfg.WireGuardPort, Log: log,
		WireGuardKeyFile: filepath.Join(dataDir, "agent", "wireguard.key")})
	if err != nil {
		return nil, err
	}
	r := &podRoutes{o: o, backend: backend, annotations: map[string]string{}}
	switch backend {
	case overlay.VXLAN:
		ip, err := netip.ParseAddr(cfg.NodeIP)
		if err != nil {
			return nil, fmt.Errorf("overlay vxlan: node IP %q: %w", cfg.NodeIP, err)
		}
		r.annotations[overlay.VXLANMACAnnotation] = overlay.MACFor(ip).String()
	case overlay.WireGuard:
		key, err := o.LocalPublicKey() // makes the key file (and its directory) on the first start
		if err != nil {
			return nil, err
		}
		r.annotations[overlay.WireGuardKeyAnnotation] = key
	}
	if over := overlay.TunnelOverhead(backend); over > 0 {
		ip, _ := netip.ParseAddr(cfg.NodeIP)
		r.podMTU = overlay.UnderlayMTU(ip) - over
	}
	return r, nil
}

// run keeps this node's routes to every other node's pod subnet from an
// informer of the nodes until ctx ends: once per change and every
// routesResync. The routes stay when it stops: running pods need them
// across an agent restart.
func (r *podRoutes) run(ctx context.Context, inf *client.Informers, self string, log *slog.Logger) error {
	nodes := client.Shared[*api.Node](inf, "", api.ListOptions{})
	kick := make(chan struct{}, 1)
	client.KickOnChange(ctx, nodes, kick)
	go nodes.Run(ctx)
	if !nodes.WaitForSync(ctx) {
		return nil
	}
	tick := time.NewTicker(routesResync)
	defer tick.Stop()
	var lastErr string
	for {
		if st, ok := routeState(nodes.List(), self); ok {
			res, err := r.o.Sync(st)
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
			on := overlay.Node{Name: n.Name, IP: ip, PodCIDR: cidr,
				WireGuardKey: n.Annotations[overlay.WireGuardKeyAnnotation]}
			// A bad or missing MAC is left empty: the overlay reports the
			// node and routes the others.
			on.VTEPMAC, _ = net.ParseMAC(n.Annotations[overlay.VXLANMACAnnotation])
			return on, true
		}
	}
	return overlay.Node{}, false
}
