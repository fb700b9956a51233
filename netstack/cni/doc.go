// Package cni owns the network of pod sandboxes on a node. skiff runs pods
// without a pause container: for each pod this package creates a network
// namespace, pins it at a fixed path (NetNSDir/<pod uid>) and networks it
// through libcni with the node's conflist (bridge + host-local IPAM + portmap,
// loopback brought up with netlink). Every container of the pod then joins
// the namespace by that path.
//
// It owns: the generated conflist, the pinned namespaces under NetNSDir, the
// host-local allocations and libcni's result cache under StateDir, the
// clean-up of all three after crashes (CleanupOrphans), and the node's
// masquerade rule for pod egress, the nftables table MasqTable ("ip
// skiff-cni", or "ip6 skiff-cni" for an IPv6 pod subnet; see
// masquerade.go). It does not own the containers, cross-node routes
// (netstack/overlay) or service VIPs (netstack/proxy, table "skiff-proxy").
//
// Host-side work (the bridge, veth host ends, portmap's iptables rules, the
// masquerade table, sysctls) happens in the network namespace of the
// calling process: the agent runs in the host namespace, and each agent
// of a multi-node test in its own (`ip netns exec`). The plugin binaries are
// exec'd from the calling goroutine's OS thread and inherit that thread's
// namespace (see TestExecInheritsThreadNetNS), but sysctls and netlink reads
// run on whatever thread Go picks, so run the whole process in the node's
// namespace rather than only one locked thread.
//
// State layout:
//
//	NetNSDir/<uid>                      bind mount of the pod's netns (nsfs)
//	StateDir/ipam/skiff/<ip>            host-local allocation: "<uid>\r\neth0"
//	StateDir/cache/results/skiff-<uid>-eth0  libcni cached result, config and
//	                                    port mappings (used by DEL and Get)
//
// Both directories belong on tmpfs (/run): after a reboot there are no
// namespaces, veths, iptables or nftables rules left, so there must be no
// state either. The masquerade table is not state: SetPodCIDR rewrites it
// from the pod subnet and Config.NoMasquerade, and nothing removes it when
// the agent stops, since the pods keep running.
package cni
