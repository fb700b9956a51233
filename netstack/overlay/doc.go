// Package overlay owns a node's routes to the other nodes' pod subnets:
// every route of rtnetlink protocol RouteProtocol (0x5a) in the main
// table, with the VXLAN backend the device DefaultDevice
// ("skiff.vxlan") with its address, FDB and neighbour entries, and with
// the WireGuard backend the device DefaultWireGuardDevice ("skiff.wg")
// with its address, key, port and peers (and the wireguard-go that runs
// it when the kernel has no WireGuard). It does not own the node's own
// pod subnet (the bridge skiff0 and its connected route belong to
// netstack/cni), pod egress masquerade (netstack/cni), service VIPs
// (netstack/proxy), the WireGuard key file beyond making it once, or
// where the node list and the other nodes' keys come from: the agent
// reads the Node objects and hands them over. IPv4 only.
//
// # What the agent gives
//
// On every change of the Node list, and every so often besides (the
// Overlay does not watch the kernel, so a periodic Sync is what puts back
// a route someone deleted), the agent calls Sync with a State:
//
//	State{
//		Local:   Node{Name, IP: InternalIP, PodCIDR},          // this node
//		Remotes: []Node{{Name, IP: InternalIP, PodCIDR, VTEPMAC, WireGuardKey}, …},
//	}
//
// Remotes are all other nodes that have an InternalIP and a pod CIDR;
// a node missing from the list has its routes removed. With VXLAN, each
// remote's VTEPMAC comes from its Node annotation VXLANMACAnnotation
// ("skiff.dev/vxlan-mac"), and each agent publishes its own value,
// LocalVTEPMAC(local) = MACFor(InternalIP), known before the first Sync
// (the MAC is derived from the node's address, so that a device that is
// recreated after a reboot or a Cleanup keeps it, and peers' FDB entries
// stay right). A remote without it is reported and skipped until it
// appears.
//
// With WireGuard, each remote's WireGuardKey comes from its Node
// annotation WireGuardKeyAnnotation ("skiff.dev/wireguard-public-key"),
// and each agent publishes its own, LocalPublicKey(): the public half of
// the private key in Config.WireGuardKeyFile, which is made (0600) on
// first use and kept, so that a node keeps its key across restarts and
// reboots and its peers stay right. A remote without a key, or with a
// bad one, is reported and skipped until it appears.
//
// # Layout
//
// For node h1 (192.168.1.11, pods 10.42.1.0/24) with peers h2
// (192.168.1.12, 10.42.2.0/24) and h3 (192.168.1.13, 10.42.3.0/24):
//
// host-gw (the default; all nodes on one L2 segment), one route per
// remote node, via its address on the interface whose subnet holds it:
//
//	$ ip route show proto 0x5a
//	10.42.2.0/24 via 192.168.1.12 dev eth0
//	10.42.3.0/24 via 192.168.1.13 dev eth0
//
// A remote whose address is on no subnet of a local interface (it is
// behind a router) cannot be a next hop: Sync reports it, naming the
// node and saying to use vxlan, and programs the others.
//
// vxlan (nodes that only reach each other by IP): one device, VNI 1,
// UDP port 8472 (flannel's and Linux's default), local address the node
// IP on the interface that holds it, no learning, MTU that interface's
// less 50; its address is the .0 of the node's pod subnet (its "VTEP
// address"), and per remote node one FDB entry, one neighbour entry and
// one onlink route:
//
//	$ ip -d link show skiff.vxlan
//	skiff.vxlan: mtu 1450 … link/ether 02:5a:c0:a8:01:0b
//	    vxlan id 1 local 192.168.1.11 dev eth0 dstport 8472 nolearning
//	$ ip addr show dev skiff.vxlan          10.42.1.0/32
//	$ bridge fdb show dev skiff.vxlan       (VTEP MAC → node IP: where to send the UDP)
//	02:5a:c0:a8:01:0c dst 192.168.1.12 self permanent
//	02:5a:c0:a8:01:0d dst 192.168.1.13 self permanent
//	$ ip neigh show dev skiff.vxlan         (VTEP address → VTEP MAC: no ARP over the tunnel)
//	10.42.2.0 lladdr 02:5a:c0:a8:01:0c PERMANENT
//	10.42.3.0 lladdr 02:5a:c0:a8:01:0d PERMANENT
//	$ ip route show proto 0x5a              (pod subnet → VTEP address)
//	10.42.2.0/24 via 10.42.2.0 dev skiff.vxlan onlink
//	10.42.3.0/24 via 10.42.3.0 dev skiff.vxlan onlink
//
// A pod packet for 10.42.2.7 takes the route to gateway 10.42.2.0 on
// skiff.vxlan, gets 02:5a:c0:a8:01:0c from the neighbour entry, and the
// FDB entry of that MAC sends it in UDP to 192.168.1.12:8472, where h2's
// device unwraps it and h2 forwards it to the pod on skiff0.
//
// wireguard (nodes joined over networks they do not trust, such as a
// home machine and a rented server over the internet): one device,
// listening on UDP 51820, with the node's private key and MTU the
// underlay's less 80; its address is the .0 of the node's pod subnet,
// as with vxlan, and per remote node one peer (its public key, its node
// IP as endpoint, its pod subnet as allowed IPs, a keepalive every 25 s
// so that a node behind NAT stays reachable) and one route into the
// device:
//
//	$ wg show skiff.wg
//	interface: skiff.wg
//	  public key: B9OAYoz+Et4Oi7YomN5CJ3dHQLkSPyHscG7AcGpDdlg=
//	  listening port: 51820
//	peer: MHa/M1Uh4guoY3coH68QdOk2L8qrcLF97mHzNIjy6gs=      (h2's annotation)
//	  endpoint: 192.168.1.12:51820
//	  allowed ips: 10.42.2.0/24
//	  latest handshake: 12 seconds ago
//	  persistent keepalive: every 25 seconds
//	peer: xjtUm2rEzJDaoD1oQLNTRmGzm+UzaqGbu71BEHZNGhQ=      (h3's)
//	  endpoint: 192.168.1.13:51820
//	  allowed ips: 10.42.3.0/24
//	  …
//	$ ip addr show dev skiff.wg             10.42.1.0/32, mtu 1420
//	$ ip route show proto 0x5a
//	10.42.2.0/24 dev skiff.wg scope link
//	10.42.3.0/24 dev skiff.wg scope link
//
// A pod packet for 10.42.2.7 goes into skiff.wg, whose peer with
// 10.42.2.0/24 among its allowed IPs encrypts it and sends it in UDP to
// that peer's endpoint; h2's device decrypts it, accepts it because its
// source is in h1's allowed IPs, and h2 forwards it to the pod. The
// allowed IPs (a pod subnet, which holds the remote's .0 device address
// too) are what a peer may send from as well as what goes to it.
//
// A peer's endpoint is the node IP only to begin with: WireGuard moves
// it to wherever authenticated packets of that peer come from, so that
// the rented server learns the address the home machine's NAT gives it,
// and a Sync leaves such an endpoint alone while the peer is connected
// (a handshake within the last 180 s), putting the node IP back only
// once it is not. At least one of two nodes must be reachable at its
// node IP and port by the other: two nodes both behind NAT do not meet.
//
// The kernel's WireGuard is used when it has one (a kernel device,
// `ip -d link` says "wireguard"). Otherwise Sync starts the userspace
// wireguard-go (Config.WireGuardUserspace), as wg-quick does: in the
// namespace being programmed and in a session of its own, it makes a
// TUN device of the name and the control socket
// /var/run/wireguard/skiff.wg.sock, through which the device is set up.
// It keeps running when the agent exits, and the next Sync adopts it as
// it is; deleting the device ends it. Neither available is an error
// that says to load the module or install wireguard-go.
//
// # Syncs
//
// An Overlay keeps no state of its own: every Sync lists what the kernel
// holds (routes of RouteProtocol; the device, its addresses, FDB and
// neighbour entries or WireGuard key, port and peers) and writes only
// the difference, so the first Sync after an agent restart changes
// nothing and disturbs no connection, a Sync with nothing changed
// writes nothing (Result.Changes == 0), and anything of skiff's that
// someone deleted or changed is put back. All
// routes of RouteProtocol are taken to be skiff's: one that is not wanted
// is deleted. A wanted route replaces whatever main-table route has the
// same destination and metric. A Sync deletes the tunnel devices of the
// other backends left from earlier ones (a VXLAN or WireGuard device
// under skiff.vxlan, skiff.wg or Config.Device), and never a device of
// another kind, which it reports; a VXLAN device whose VNI, port, local
// address or underlay differ from the config is recreated, a WireGuard
// device is set right in place (key, port, peers).
//
// Cleanup deletes all routes of RouteProtocol and the VXLAN and
// WireGuard devices (whichever backend is configured), but not the key
// file: for a node that leaves the cluster or is uninstalled, not for an
// agent that stops, since the pods it leaves running still need their
// routes.
//
// # What else the node needs
//
//   - IP forwarding on (netstack/cni turns it on for the bridge).
//   - Pod-to-pod traffic kept unmasqueraded: netstack/cni Config
//     NoMasquerade must hold the cluster's pod CIDR (10.42.0.0/16).
//   - With VXLAN, a pod MTU (netstack/cni Config.MTU) no larger than the
//     device's (1450 on a 1500 underlay), and UDP 8472 open between nodes.
//   - With WireGuard, a pod MTU no larger than the device's (1420 on a
//     1500 underlay; TunnelOverhead gives the 80), UDP 51820 open towards
//     every node that others reach at its node IP, and either the
//     kernel's WireGuard or wireguard-go installed. An agent run by
//     systemd needs KillMode=process, so that a restart does not stop
//     wireguard-go with it.
package overlay
