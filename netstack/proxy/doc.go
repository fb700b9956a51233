// Package proxy owns a node's service data path: the nftables table
// "ip skiff-proxy" (TableName), which turns connections to service VIPs,
// node ports and LoadBalancer ports into connections to ready endpoints.
// It takes the node's whole desired state at each Sync (State: services
// with their ready endpoints, and the node's addresses), as the agent
// reads it from its informers, and makes the table match. It does not
// own pod egress masquerade (netstack/cni, table "ip skiff-cni"), routes
// between nodes (netstack/overlay) or DNS (netstack/dns). IPv4 only: a
// service with an IPv6 VIP or endpoint is reported and left out.
//
// # Rule layout
//
// For a TCP service default/web at 10.43.0.5:80 with NodePort 30080 and
// endpoints 10.42.1.7:8080 and 10.42.2.9:8080, and a UDP service with
// ClientIP affinity, the table reads (trimmed; nft list table ip
// skiff-proxy, each rule carrying a digest comment, see below):
//
//	filter-prerouting  filter hook prerouting priority dstnat-10 ─┐
//	filter-output      filter hook output     priority dstnat-10 ─┤ ct state new
//	                                                              ▼
//	no-endpoints    ip daddr . l4proto . dport @no-endpoint-ips ──────┐
//	                fib daddr local, l4proto . dport @no-endpoint-nodeports ─┤
//	                                                                  ▼
//	reject          tcp: reject with tcp reset; else icmp port-unreachable
//
//	nat-prerouting  nat hook prerouting priority dstnat ─┐
//	nat-output      nat hook output     priority dstnat ─┤ jump
//	                                                     ▼
//	services        ip daddr . l4proto . dport vmap @service-ips
//	                  { 10.43.0.5 . tcp . 80 : goto svc-default/web/tcp/80,
//	                    <node addr> . tcp . <port> : goto …  (LoadBalancer) }
//	                fib daddr type local, ip daddr != 127.0.0.0/8,
//	                l4proto . dport vmap @service-nodeports
//	                  { tcp . 30080 : goto svc-default/web/tcp/80 }
//	                                                     │ goto
//	                                                     ▼
//	svc-default/web/tcp/80      (no affinity: one rule)
//	    dnat to numgen random mod 2 map { 0 : 10.42.1.7 . 8080, 1 : 10.42.2.9 . 8080 }
//
//	svc-kube/dns/udp/53         (ClientIP affinity: a chain per endpoint)
//	    ip saddr @aff-…/10.42.1.7/53 goto ep-…/10.42.1.7/53
//	    ip saddr @aff-…/10.42.2.9/53 goto ep-…/10.42.2.9/53
//	    numgen random mod 2 vmap { 0 : goto ep-…/10.42.1.7/53, 1 : goto ep-…/10.42.2.9/53 }
//	ep-kube/dns/udp/53/10.42.1.7/53
//	    update @aff-kube/dns/udp/53/10.42.1.7/53 { ip saddr }   (set: timeout = affinity)
//	    dnat to 10.42.1.7:53
//
//	nat-postrouting nat hook postrouting priority srcnat
//	    ct status dnat ip saddr . ip daddr @hairpin masquerade
//	                                      (hairpin: { ep . ep } for every endpoint address)
//
// Why this shape:
//   - One lookup per packet finds the service, however many services
//     there are: the frontends (VIP, LoadBalancer address, node port) are
//     elements of two verdict maps, not one rule each.
//   - NodePorts match every local address with fib, so a node that gets a
//     new address needs no Sync; loopback is left out, as kube-proxy's
//     nftables mode does (it would need route_localnet). LoadBalancer
//     ports match only State.NodeAddresses, one element per address.
//   - A service port with endpoints is one chain and one rule: numgen
//     picks an index per new connection, an anonymous map turns it into
//     address . port, and dnat takes both. Only NAT chains see a
//     connection's first packet, so the choice is per connection, and
//     conntrack keeps it.
//   - ClientIP affinity needs to remember, per endpoint, who went there:
//     each endpoint gets a chain that refreshes the client in a dynamic
//     set with the affinity timeout, and the service chain checks those
//     sets before picking. An endpoint that goes takes its set along.
//   - A service port without endpoints is in no-endpoint-ips /
//     no-endpoint-nodeports instead, and a new connection to it is
//     refused (TCP reset, ICMP port unreachable for UDP) before NAT, at
//     prerouting and output, rather than routed to nowhere.
//   - Hairpin: a pod that reaches its own service is translated to
//     itself, and would see a packet from its own address; postrouting
//     masquerades exactly those (source == destination after DNAT: one
//     lookup of saddr . daddr in a set of "ep . ep") to the node, so the
//     reply goes back through conntrack. No packet mark bits are used.
//
// # Atomic, incremental Syncs
//
// Every Sync sends one netlink batch, which the kernel commits as one
// transaction: a packet sees the table before or after, never partway.
// The batch is not a full rewrite but the difference between what the
// kernel holds and what is wanted, ordered so that the kernel accepts it
// within the transaction (add new chains empty; flush changed and stale
// chains; delete stale elements, then stale chains and sets; add new sets,
// rules, elements — see writeDiff). Affinity sets of endpoints that stay
// are not touched, so clients keep their endpoints across Syncs, and one
// endpoint change among 1,000 services is a handful of objects.
//
// What the kernel holds is known without asking it: the Proxy remembers
// what it wrote, per service, and the ruleset generation (NFT_MSG_GETGEN,
// bumped on every commit in the namespace) right after. A Sync whose
// generation is unchanged trusts that memory and diffs only the services
// whose input changed; a Sync that finds nothing changed costs one
// round trip. When the generation moved (someone else wrote to nftables,
// or this is a new Proxy, say after an agent restart), Sync reads the
// table back — chains, one dump of all rules, sets, and the elements of
// the fixed maps — and diffs all of it. Each rule is written with a
// comment holding a hash of its text, so the read-back tells whether
// every rule is still the one written: rules someone deleted, added or
// flushed are put back; a deleted table is rebuilt (in one batch: delete
// whatever is left, then create).
//
// Cleanup deletes the table. Established connections keep their NAT
// (conntrack holds it) through a table replace, a Cleanup, or an agent
// restart.
package proxy
