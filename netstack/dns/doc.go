// Package dns is the cluster DNS server: it answers for the cluster zone
// (skiff.local by default) from an in-memory index of services and
// endpoints, and forwards every other name to the node's upstream
// resolvers. The agent runs one per node on the cluster DNS address
// (10.43.0.10:53), over UDP and TCP.
//
// Names served, for a service <svc> in namespace <ns> (TTL 5 s):
//
//	<svc>.<ns>.svc.<zone>                  A/AAAA  the clusterIPs; for a headless
//	                                               service (clusterIP None) the
//	                                               ready endpoint IPs
//	<host>.<svc>.<ns>.svc.<zone>           A/AAAA  one endpoint of a headless
//	                                               service: its hostname (a
//	                                               StatefulSet pod's
//	                                               spec.hostname), or its IP
//	                                               with dashes (10-42-0-7)
//	_<port>._<proto>.<svc>.<ns>.svc.<zone> SRV     a named port: target the
//	                                               service name, or each
//	                                               endpoint's <host> name for a
//	                                               headless service (A/AAAA of
//	                                               the targets in the additional
//	                                               section)
//	<svc>.<ns>.svc.<zone>                  SRV     every port of the service, as
//	                                               above
//	<zone>                                 SOA
//
// A name in the zone that is none of these is NXDOMAIN, and a name that
// only has names below it (<ns>.svc.<zone>, _tcp.<svc>.<ns>.svc.<zone>) or
// lacks the asked type is NODATA; both carry the zone's SOA in the
// authority section, with a negative TTL of 5 s, so that a pod's resolver
// walking its search path ("<ns>.svc.<zone> svc.<zone> <zone>", ndots 5)
// moves on quickly and does not remember a name that is about to exist.
// Names are matched case-insensitively and answered in the case asked.
// Only class IN (and ANY, in the zone) is served: other classes are
// REFUSED, zone transfers are REFUSED, other opcodes NOTIMP. Until the
// source has delivered its first full list, names in the zone are
// SERVFAIL, so that clients retry rather than cache an NXDOMAIN.
//
// The index (index.go) maps each lowercased FQDN to its precomputed
// records, and counts the names below each empty non-terminal. It is
// rebuilt one service at a time: a change to a service or its endpoints
// replaces exactly the names that service owns, so a query is one map
// lookup under a read lock and no query reads the store. A Source feeds
// the index; InformerSource is the one backed by server/client informers
// of Services and Endpoints, and dnstest.Source is a hand-driven fake.
//
// Forwarding (forward.go) sends other names to the nameservers of the
// node's resolv.conf, skipping loopback stubs such as systemd-resolved's
// 127.0.0.53 (which a pod could not reach): then the resolved's real
// upstreams file, then public fallbacks. Upstreams are tried in order, each
// with a timeout, over UDP with a retry over TCP when the answer is
// truncated (over TCP directly when the client asked over TCP). The file
// is re-read when it changes. Positive and negative forwarded answers are
// cached for at most 30 s (cache.go).
//
// The package does not own the cluster DNS address itself (the agent puts
// 10.43.0.10 on a local interface or redirects it), nor pods' resolv.conf
// (runtime/agent writes it).
package dns
