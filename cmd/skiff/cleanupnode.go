package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/netstack/overlay"
	"github.com/skiffhq/skiff/netstack/proxy"
)

// newCleanupNodeCommand: `skiff cleanup-node`, for a machine that leaves
// the cluster. A stopped agent leaves its network state in the kernel on
// purpose (its pods keep running and reachable across a restart); this
// removes it once the machine is done with skiff.
func newCleanupNodeCommand(io streams) *cobra.Command {
	var agentPort int
	var clusterDNS, device, dataDir string
	cmd := &cobra.Command{
		Use:   "cleanup-node",
		Short: "Remove this node's service rules, routes, tunnel and DNS address (agent stopped)",
		Long: `Remove what skiff's node agent keeps in this machine's kernel across its
restarts: the service rules (nftables table ip skiff-proxy), the routes to
other nodes' pods and the overlay's tunnel device (skiff.vxlan, skiff.wg),
and the cluster DNS address. Run it with the agent stopped and the node's
pods gone (delete the node's pods, or the node, first), when the machine
leaves the cluster; it refuses while the agent answers on its port.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(agentPort)), time.Second); err == nil {
				conn.Close()
				return fmt.Errorf("port %d answers: the node agent still runs (or another program has its port): stop it first", agentPort)
			}
			// The settings the agent last had from its server, if any.
			kept := filepath.Join(dataDir, agentNetworkFile)
			var saved savedNetwork
			if data, err := os.ReadFile(kept); err == nil && json.Unmarshal(data, &saved) == nil &&
				!cmd.Flags().Changed("cluster-dns") && saved.Network.ClusterDNS != "" {
				clusterDNS = saved.Network.ClusterDNS
			}
			var errs []error
			p, err := proxy.New(proxy.Config{})
			if err == nil {
				err = p.Cleanup()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("service rules: %w", err))
			} else {
				fmt.Fprintf(io.out, "removed the service rules (table ip %s)\n", proxy.TableName)
			}
			o, err := overlay.New(overlay.Config{Device: device})
			if err == nil {
				err = o.Cleanup()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("routes to other nodes: %w", err))
			} else {
				fmt.Fprintln(io.out, "removed the routes to other nodes' pods and the overlay's tunnel devices")
			}
			if clusterDNS != "none" {
				if err := removeDNSAddress(clusterDNS); err != nil {
					errs = append(errs, err)
				} else {
					fmt.Fprintf(io.out, "removed the cluster DNS address %s\n", clusterDNS)
				}
			}
			if err := os.Remove(kept); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().IntVar(&agentPort, "agent-port", 10250, "the agent's port, to check that it is stopped")
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/skiff", "the agent's data directory (for the network settings it kept, then removed)")
	cmd.Flags().StringVar(&device, "overlay-device", "", "the overlay's tunnel device, if the node had --overlay-device")
	cmd.Flags().StringVar(&clusterDNS, "cluster-dns", "10.43.0.10", `the cluster DNS address the node served ("none": skip; default the one its server last gave)`)
	return cmd
}

// removeDNSAddress undoes ensureDNSAddress: the interface dnsLink, or
// the address on lo where the kernel had no dummy interfaces.
func removeDNSAddress(addr string) error {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("--cluster-dns %q is not an IPv4 address", addr)
	}
	if link, err := netlink.LinkByName(dnsLink); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			return fmt.Errorf("cluster DNS: delete interface %s: %w", dnsLink, err)
		}
		return nil
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("cluster DNS: %w", err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := netlink.AddrDel(lo, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("cluster DNS: remove %s from lo: %w", addr, err)
	}
	return nil
}
