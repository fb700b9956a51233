package proxy

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName names the nftables table (family ip) that holds the node's
// service data path. Nothing else writes to it.
const TableName = "skiff-proxy"

// Names of the table's fixed chains and sets; see the package comment.
const (
	chainFilterPrerouting = "filter-prerouting"
	chainFilterOutput     = "filter-output"
	chainNoEndpoints      = "no-endpoints"
	chainReject           = "reject"
	chainNATPrerouting    = "nat-prerouting"
	chainNATOutput        = "nat-output"
	chainNATPostrouting   = "nat-postrouting"
	chainServices         = "services"

	mapServiceIPs       = "service-ips"
	mapServiceNodePorts = "service-nodeports"
	setNoEndpointIPs    = "no-endpoint-ips"
	setNoEndpointPorts  = "no-endpoint-nodeports"
	setHairpin          = "hairpin"

	svcPrefix = "svc-"
	epPrefix  = "ep-"
	affPrefix = "aff-"
)

// ruleset is the table's content as Sync models it: what it wants
// (built from a State) or what it read back from the kernel. Two
// rulesets are compared chain by chain and set by set to compute the
// batch that turns one into the other.
type ruleset struct {
	chains map[string]*chain
	sets   map[string]*set
}

// chain is one chain: a base chain when hook is set.
type chain struct {
	name  string
	hook  *hook
	rules []rule
	// sums are the rules' digests: what two chains are compared by (a
	// chain read back has only these).
	sums []string
	// uses names the sets the rules refer to, which cannot be
	// recreated while the rules are there.
	uses []string
}

// hook is what makes a base chain.
type hook struct {
	typ  nftables.ChainType
	num  *nftables.ChainHook
	prio *nftables.ChainPriority
}

func (h *hook) String() string {
	if h == nil {
		return ""
	}
	names := map[nftables.ChainHook]string{
		*nftables.ChainHookPrerouting:  "prerouting",
		*nftables.ChainHookOutput:      "output",
		*nftables.ChainHookPostrouting: "postrouting",
	}
	return fmt.Sprintf("type %s hook %s priority %d; policy accept;", h.typ, names[*h.num], *h.prio)
}

// rule is one rule: its text in nft syntax, which is also its identity
// (the kernel copy carries a digest of it as its comment), and the
// expressions, built when the rule is written.
type rule struct {
	text  string
	exprs func(c *nftables.Conn, t *nftables.Table) []expr.Any
}

// digest is the comment a rule is written with: a hash of its text, so
// that reading the table back tells whether each rule is still the one
// Sync wrote.
func (r rule) digest() string { return digest(r.text) }

func digest(text string) string {
	h := fnv.New64a()
	h.Write([]byte(text))
	return hex.EncodeToString(h.Sum(nil))
}

// digests is the identity of a chain's content, one digest per rule.
func (c *chain) digests() []string {
	out := make([]string, len(c.rules))
	for i, r := range c.rules {
		out[i] = r.digest()
	}
	return out
}

// set is one named set or map. Sync owns the elements of the fixed sets
// (elems non-nil); the affinity sets fill themselves from the data path
// and Sync leaves their elements alone.
type set struct {
	tmpl  nftables.Set
	elems map[string]element // by element.id()
}

// def is what identifies a set's definition; a set whose def changed is
// recreated. The key type is not part of it: google/nftables does not
// read the key type of a concatenated map back, so a set whose key type
// changes must get a new name.
func (s *set) def() string {
	return setDef(&s.tmpl)
}

func setDef(s *nftables.Set) string {
	return fmt.Sprintf("map=%v timeout=%v dynamic=%v", s.IsMap, s.Timeout, s.Dynamic)
}

// element is a set element, and for a verdict map its goto target.
type element struct {
	key  []byte
	goTo string
}

func (e element) id() string { return hex.EncodeToString(e.key) + ">" + e.goTo }

func (e element) nft() nftables.SetElement {
	el := nftables.SetElement{Key: e.key}
	if e.goTo != "" {
		el.VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.goTo}
	}
	return el
}

var (
	typeIPProtoPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	typeProtoPort   = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	typeIPIP        = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)
	typeIPPort      = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
)

// A ruleset is assembled from a fixed part (the base chains, the chains
// they jump to, the fixed sets, and the hairpin set, which services
// share) and one fragment per service, which owns its chains, its
// affinity sets and its elements of the fixed maps. A fragment is built
// only when its service changes; a Sync that changes one service diffs
// only the fixed part and that service's fragments.

// fragment is everything one service puts in the table.
type fragment struct {
	svc Service
	// addrs are the node addresses it was built for, for a
	// LoadBalancer; nil otherwise.
	addrs  []netip.Addr
	chains []*chain
	sets   []*set
	elems  map[string][]element // by fixed set name
}

// current reports whether f is what buildService would build for svc on
// a node with addrs.
func (f *fragment) current(svc Service, addrs []netip.Addr) bool {
	if svc.Type == LoadBalancer && !slices.Equal(f.addrs, addrs) {
		return false
	}
	return f.svc.equal(svc)
}

// hairpinElems returns the elements of the hairpin set: every endpoint
// address of services, twice.
func hairpinElems(services []Service) map[string]element {
	m := map[string]element{}
	for _, svc := range services {
		for _, p := range svc.Ports {
			for _, ep := range p.Endpoints {
				a := ep.Addr().As4()
				e := element{key: append(a[:], a[:]...)}
				m[e.id()] = e
			}
		}
	}
	return m
}

// fixed returns a ruleset of the fixed part only, the hairpin set
// holding hairpin (which it does not copy; nothing writes to it).
func fixed(hairpin map[string]element) *ruleset {
	rs := &ruleset{chains: map[string]*chain{}, sets: map[string]*set{}}
	for _, f := range []struct {
		name  string
		key   nftables.SetDatatype
		isMap bool
	}{
		{mapServiceIPs, typeIPProtoPort, true},
		{mapServiceNodePorts, typeProtoPort, true},
		{setNoEndpointIPs, typeIPProtoPort, false},
		{setNoEndpointPorts, typeProtoPort, false},
		{setHairpin, typeIPIP, false},
	} {
		s := &set{tmpl: nftables.Set{Name: f.name, KeyType: f.key, Concatenation: true, IsMap: f.isMap}, elems: map[string]element{}}
		if f.isMap {
			s.tmpl.DataType = nftables.TypeVerdict
		}
		rs.sets[f.name] = s
	}
	rs.sets[setHairpin].elems = hairpin
	rs.addFixedChains()
	return rs
}

// addFragment adds f to rs, which has the fixed part.
func (rs *ruleset) addFragment(f *fragment) {
	for _, c := range f.chains {
		rs.chains[c.name] = c
	}
	for _, s := range f.sets {
		rs.sets[s.tmpl.Name] = s
	}
	for name, elems := range f.elems {
		m := rs.sets[name].elems
		for _, e := range elems {
			m[e.id()] = e
		}
	}
}

// build returns the whole ruleset for st, which normalize has checked.
func build(st State) *ruleset {
	rs := fixed(hairpinElems(st.Services))
	for _, svc := range st.Services {
		rs.addFragment(buildService(svc, st.NodeAddresses))
	}
	return rs
}

// buildService returns the fragment of svc on a node with addrs.
func buildService(svc Service, addrs []netip.Addr) *fragment {
	f := &fragment{svc: svc, elems: map[string][]element{}}
	if svc.Type == LoadBalancer {
		f.addrs = addrs
	}
	add := func(set string, e element) { f.elems[set] = append(f.elems[set], e) }
	for _, p := range svc.Ports {
		proto := protoNumber(p.Protocol)
		frontends := []element{{key: ipProtoPortKey(svc.ClusterIP, proto, p.Port)}} // VIP and LoadBalancer addresses
		if svc.Type == LoadBalancer {
			for _, a := range addrs {
				frontends = append(frontends, element{key: ipProtoPortKey(a, proto, p.Port)})
			}
		}
		var nodePort *element
		if p.NodePort != 0 && svc.Type != ClusterIP {
			nodePort = &element{key: protoPortKey(proto, p.NodePort)}
		}
		if len(p.Endpoints) == 0 {
			for _, fe := range frontends {
				add(setNoEndpointIPs, fe)
			}
			if nodePort != nil {
				add(setNoEndpointPorts, *nodePort)
			}
			continue
		}
		svcChain := f.addServicePort(svc, p)
		for _, fe := range frontends {
			fe.goTo = svcChain
			add(mapServiceIPs, fe)
		}
		if nodePort != nil {
			nodePort.goTo = svcChain
			add(mapServiceNodePorts, *nodePort)
		}
	}
	return f
}

// addFixedChains adds the base chains and the chains they jump to.
func (rs *ruleset) addFixedChains() {
	filterPrio := nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest - 10)
	newOnly := rule{
		text:  "ct state new jump " + chainNoEndpoints,
		exprs: exprs(ctStateNew(), jump(chainNoEndpoints)),
	}
	rs.add(&chain{name: chainFilterPrerouting, hook: &hook{nftables.ChainTypeFilter, nftables.ChainHookPrerouting, filterPrio}, rules: []rule{newOnly}})
	rs.add(&chain{name: chainFilterOutput, hook: &hook{nftables.ChainTypeFilter, nftables.ChainHookOutput, filterPrio}, rules: []rule{newOnly}})
	rs.add(&chain{name: chainNoEndpoints, uses: []string{setNoEndpointIPs, setNoEndpointPorts}, rules: []rule{
		{
			text:  fmt.Sprintf("ip daddr . meta l4proto . th dport @%s goto %s", setNoEndpointIPs, chainReject),
			exprs: exprs(loadDaddrProtoPort(), lookup(setNoEndpointIPs), goTo(chainReject)),
		},
		{
			text:  fmt.Sprintf("fib daddr type local meta l4proto . th dport @%s goto %s", setNoEndpointPorts, chainReject),
			exprs: exprs(fibDaddrLocal(), loadProtoPort(), lookup(setNoEndpointPorts), goTo(chainReject)),
		},
	}})
	rs.add(&chain{name: chainReject, rules: []rule{
		{
			text: "meta l4proto tcp reject with tcp reset",
			exprs: exprs(metaL4Proto(1), cmpEq(1, []byte{unix.IPPROTO_TCP}),
				[]expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}),
		},
		{
			text:  "reject with icmp port-unreachable",
			exprs: exprs([]expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}}),
		},
	}})

	toServices := rule{text: "jump " + chainServices, exprs: exprs(jump(chainServices))}
	rs.add(&chain{name: chainNATPrerouting, hook: &hook{nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest}, rules: []rule{toServices}})
	rs.add(&chain{name: chainNATOutput, hook: &hook{nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest}, rules: []rule{toServices}})
	rs.add(&chain{name: chainServices, uses: []string{mapServiceIPs, mapServiceNodePorts}, rules: []rule{
		{
			// Node ports and load-balancer ports are on local
			// addresses: their connections are masqueraded, as
			// kube-proxy does, or an endpoint on another node would
			// answer the client directly and be ignored.
			text:  fmt.Sprintf("fib daddr type local ip daddr != 127.0.0.0/8 meta mark set meta mark | 0x%x", masqMark),
			exprs: exprs(fibDaddrLocal(), notLoopback(), setMasqMark()),
		},
		{
			text:  fmt.Sprintf("ip daddr . meta l4proto . th dport vmap @%s", mapServiceIPs),
			exprs: exprs(loadDaddrProtoPort(), vmap(mapServiceIPs)),
		},
		{
			text:  fmt.Sprintf("fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @%s", mapServiceNodePorts),
			exprs: exprs(fibDaddrLocal(), notLoopback(), loadProtoPort(), vmap(mapServiceNodePorts)),
		},
	}})
	rs.add(&chain{name: chainNATPostrouting, hook: &hook{nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource}, uses: []string{setHairpin}, rules: []rule{
		{
			text:  fmt.Sprintf("ct status dnat ip saddr . ip daddr @%s masquerade", setHairpin),
			exprs: exprs(ctStatusDNAT(), loadSaddrDaddr(), lookup(setHairpin), []expr.Any{&expr.Masq{}}),
		},
		{
			text:  fmt.Sprintf("ct status dnat meta mark & 0x%x != 0 masquerade", masqMark),
			exprs: exprs(ctStatusDNAT(), hasMasqMark(), []expr.Any{&expr.Masq{}}),
		},
	}})
}

func (rs *ruleset) add(c *chain) {
	c.sums = c.digests()
	rs.chains[c.name] = c
}

// addServicePort adds the chains (and affinity sets) of one port of svc,
// which has endpoints, and returns the name of the chain its frontends
// go to. Without affinity that chain picks an endpoint and translates to
// it in one rule; with affinity every endpoint gets a chain of its own,
// which records the client in the endpoint's affinity set.
func (f *fragment) addServicePort(svc Service, p Port) string {
	id := fmt.Sprintf("%s/%s/%d", svc.Key(), strings.ToLower(string(p.Protocol)), p.Port)
	svcChain := &chain{name: svcPrefix + id}
	if svc.AffinityTimeout == 0 {
		svcChain.rules = []rule{pickDNAT(p.Endpoints)}
		f.add(svcChain)
		return svcChain.name
	}
	var targets []string
	for _, ep := range p.Endpoints {
		epID := fmt.Sprintf("%s/%s/%d", id, ep.Addr(), ep.Port())
		epChain := &chain{name: epPrefix + epID}
		targets = append(targets, epChain.name)
		aff := affPrefix + epID
		f.sets = append(f.sets, &set{tmpl: nftables.Set{
			Name: aff, KeyType: nftables.TypeIPAddr,
			HasTimeout: true, Timeout: svc.AffinityTimeout.Round(time.Second), Dynamic: true,
		}})
		svcChain.uses = append(svcChain.uses, aff)
		epChain.uses = append(epChain.uses, aff)
		// A client seen within the timeout goes back to its endpoint.
		svcChain.rules = append(svcChain.rules, rule{
			text:  fmt.Sprintf("ip saddr @%s goto %s", aff, epChain.name),
			exprs: exprs(loadSaddr(), lookup(aff), goTo(epChain.name)),
		})
		epChain.rules = []rule{
			{
				text:  fmt.Sprintf("update @%s { ip saddr }", aff),
				exprs: exprs(loadSaddr(), []expr.Any{&expr.Dynset{SrcRegKey: 1, SetName: aff, Operation: unix.NFT_DYNSET_OP_UPDATE}}),
			},
			{text: fmt.Sprintf("dnat to %s", ep), exprs: exprs(dnat(ep))},
		}
		f.add(epChain)
	}
	svcChain.rules = append(svcChain.rules, pick(targets))
	f.add(svcChain)
	return svcChain.name
}

func (f *fragment) add(c *chain) {
	c.sums = c.digests()
	f.chains = append(f.chains, c)
}

// pickDNAT is the rule that translates a new connection to one of eps,
// chosen at random: numgen indexes an anonymous map of address . port.
func pickDNAT(eps []netip.AddrPort) rule {
	if len(eps) == 1 {
		return rule{text: fmt.Sprintf("dnat to %s", eps[0]), exprs: exprs(dnat(eps[0]))}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dnat to numgen random mod %d map { ", len(eps))
	for i, ep := range eps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d : %s . %d", i, ep.Addr(), ep.Port())
	}
	b.WriteString(" }")
	eps = slices.Clone(eps)
	return rule{text: b.String(), exprs: func(c *nftables.Conn, t *nftables.Table) []expr.Any {
		anon := &nftables.Set{
			Table: t, Anonymous: true, Constant: true, IsMap: true,
			KeyType: nftables.TypeInteger, DataType: typeIPPort,
			KeyByteOrder: binaryutil.NativeEndian,
		}
		elems := make([]nftables.SetElement, len(eps))
		for i, ep := range eps {
			ip := ep.Addr().As4()
			elems[i] = nftables.SetElement{
				Key: binaryutil.NativeEndian.PutUint32(uint32(i)),
				Val: append(ip[:], byte(ep.Port()>>8), byte(ep.Port()), 0, 0),
			}
		}
		_ = c.AddSet(anon, elems) // fails only for a non-constant anonymous set
		return []expr.Any{
			&expr.Numgen{Register: 1, Modulus: uint32(len(eps)), Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: anon.Name, SetID: anon.ID},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: reg32_1, Specified: true},
		}
	}}
}

// pick is the rule that sends a new connection to one of targets, chosen
// at random.
func pick(targets []string) rule {
	if len(targets) == 1 {
		return rule{text: "goto " + targets[0], exprs: exprs(goTo(targets[0]))}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "numgen random mod %d vmap { ", len(targets))
	for i, t := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d : goto %s", i, t)
	}
	b.WriteString(" }")
	targets = slices.Clone(targets)
	return rule{text: b.String(), exprs: func(c *nftables.Conn, t *nftables.Table) []expr.Any {
		anon := &nftables.Set{
			Table: t, Anonymous: true, Constant: true, IsMap: true,
			KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict,
			KeyByteOrder: binaryutil.NativeEndian,
		}
		elems := make([]nftables.SetElement, len(targets))
		for i, target := range targets {
			elems[i] = nftables.SetElement{
				Key:         binaryutil.NativeEndian.PutUint32(uint32(i)),
				VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: target},
			}
		}
		_ = c.AddSet(anon, elems) // fails only for a non-constant anonymous set
		return []expr.Any{
			&expr.Numgen{Register: 1, Modulus: uint32(len(targets)), Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: 1, SetName: anon.Name, SetID: anon.ID, IsDestRegSet: true},
		}
	}}
}

// String renders rs roughly as nft list table would, in a fixed order:
// sets by name, base chains, then the other chains by name. The golden
// files hold it.
func (rs *ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", TableName)
	for _, name := range sortedKeys(rs.sets) {
		s := rs.sets[name]
		kind := "set"
		typ := s.tmpl.KeyType.Name
		if s.tmpl.IsMap {
			kind = "map"
			typ += " : verdict"
		}
		fmt.Fprintf(&b, "\t%s %s {\n\t\ttype %s\n", kind, name, typ)
		if s.tmpl.Dynamic {
			fmt.Fprintf(&b, "\t\tflags dynamic,timeout\n\t\ttimeout %s\n", s.tmpl.Timeout)
		}
		if len(s.elems) > 0 {
			var elems []string
			for _, e := range s.elems {
				elems = append(elems, e.String(s.tmpl.KeyType))
			}
			slices.Sort(elems)
			fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(elems, ",\n\t\t\t     "))
		}
		b.WriteString("\t}\n")
	}
	names := sortedKeys(rs.chains)
	slices.SortStableFunc(names, func(a, b string) int {
		ha, hb := rs.chains[a].hook != nil, rs.chains[b].hook != nil
		switch {
		case ha && !hb:
			return -1
		case hb && !ha:
			return 1
		}
		return 0
	})
	for _, name := range names {
		c := rs.chains[name]
		fmt.Fprintf(&b, "\n\tchain %s {\n", name)
		if c.hook != nil {
			fmt.Fprintf(&b, "\t\t%s\n", c.hook)
		}
		for _, r := range c.rules {
			fmt.Fprintf(&b, "\t\t%s\n", r.text)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// String renders e in nft syntax for a set of key type typ.
func (e element) String(typ nftables.SetDatatype) string {
	k := e.key
	var parts []string
	for _, ft := range nftables.ConcatSetTypeElements(typ) {
		switch ft.Name {
		case nftables.TypeIPAddr.Name:
			a, _ := netip.AddrFromSlice(k[:4])
			parts = append(parts, a.String())
		case nftables.TypeInetProto.Name:
			parts = append(parts, map[byte]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp"}[k[0]])
		case nftables.TypeInetService.Name:
			parts = append(parts, fmt.Sprint(uint16(k[0])<<8|uint16(k[1])))
		}
		k = k[4:]
	}
	s := strings.Join(parts, " . ")
	if e.goTo != "" {
		s += " : goto " + e.goTo
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// protoNumber is p's IP protocol number.
func protoNumber(p Protocol) byte {
	if p == UDP {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

// ipProtoPortKey is the key of a ipv4_addr . inet_proto . inet_service
// element: each field padded to 4 bytes, the port in network order.
func ipProtoPortKey(a netip.Addr, proto byte, port uint16) []byte {
	ip := a.As4()
	return append(ip[:], protoPortKey(proto, port)...)
}

// protoPortKey is the key of an inet_proto . inet_service element.
func protoPortKey(proto byte, port uint16) []byte {
	return []byte{proto, 0, 0, 0, byte(port >> 8), byte(port), 0, 0}
}
