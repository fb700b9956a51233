package cni

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Pods reach beyond the node with the node's address: one nftables rule
// per node masquerades what leaves the pod subnet, in a table of its own,
// instead of the bridge plugin's ipMasq, which makes and removes an
// iptables chain per pod under the xtables lock. For 10.42.3.0/24 with
// NoMasquerade 10.42.0.0/16 the table reads (nft list table ip skiff-cni):
//
//	table ip skiff-cni {
//		chain postrouting {
//			type nat hook postrouting priority srcnat; policy accept;
//			ip saddr 10.42.3.0/24 ip daddr != 10.42.3.0/24 ip daddr != 224.0.0.0/4 ip daddr != 10.42.0.0/16 masquerade comment "skiff: pod egress"
//		}
//	}
//
// An IPv6 pod subnet gets the same in table ip6 skiff-cni, with ff00::/8
// for multicast. The rule outlives the agent: pods keep running across its
// restarts, so nothing removes it on shutdown.

const (
	// MasqTable names the nftables table (family ip, or ip6 for an IPv6
	// pod subnet) that holds the node's masquerade rule. netstack/proxy
	// owns the table "skiff-proxy".
	MasqTable = "skiff-cni"
	// masqChain is the table's only chain.
	masqChain = "postrouting"
	// masqComment is the rule's comment, shown by nft.
	masqComment = "skiff: pod egress"
)

// masquerade is the node's masquerade rule: traffic from src to any
// destination outside except is masqueraded.
type masquerade struct {
	src    netip.Prefix
	except []netip.Prefix // the pod subnet, multicast, then NoMasquerade
}

// newMasquerade returns the rule for pod subnet s. The entries of
// noMasq of the other address family do not apply to s and are left out.
func newMasquerade(s podSubnet, noMasq []netip.Prefix) masquerade {
	multicast := netip.MustParsePrefix("224.0.0.0/4")
	if s.prefix.Addr().Is6() {
		multicast = netip.MustParsePrefix("ff00::/8")
	}
	except := []netip.Prefix{s.prefix, multicast}
	for _, p := range noMasq {
		if p.Addr().Is6() == s.prefix.Addr().Is6() && !slices.Contains(except, p) {
			except = append(except, p)
		}
	}
	return masquerade{src: s.prefix, except: except}
}

// String renders r in nft syntax, for logs.
func (r masquerade) String() string {
	ip := "ip"
	if r.src.Addr().Is6() {
		ip = "ip6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s saddr %s", ip, r.src)
	for _, p := range r.except {
		fmt.Fprintf(&b, " %s daddr != %s", ip, p)
	}
	b.WriteString(" masquerade")
	return b.String()
}

// table is the table of r's family; otherTable the one of the other
// family, left from an earlier pod subnet of that family.
func (r masquerade) table() *nftables.Table {
	if r.src.Addr().Is6() {
		return &nftables.Table{Name: MasqTable, Family: nftables.TableFamilyIPv6}
	}
	return &nftables.Table{Name: MasqTable, Family: nftables.TableFamilyIPv4}
}

func (r masquerade) otherTable() *nftables.Table {
	if r.src.Addr().Is6() {
		return &nftables.Table{Name: MasqTable, Family: nftables.TableFamilyIPv4}
	}
	return &nftables.Table{Name: MasqTable, Family: nftables.TableFamilyIPv6}
}

// masqueradeChain is the nat postrouting base chain of t, at priority srcnat.
func masqueradeChain(t *nftables.Table) *nftables.Chain {
	return &nftables.Chain{
		Name:     masqChain,
		Table:    t,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	}
}

// exprs are r's expressions, in the shape the kernel returns them in, so
// that a rule read back compares equal with reflect.DeepEqual.
func (r masquerade) exprs() []expr.Any {
	saddr, daddr, size := uint32(12), uint32(16), uint32(4) // IPv4 header
	if r.src.Addr().Is6() {
		saddr, daddr, size = 8, 24, 16
	}
	var out []expr.Any
	match := func(offset uint32, p netip.Prefix, op expr.CmpOp) {
		out = append(out, &expr.Payload{
			OperationType: expr.PayloadLoad,
			DestRegister:  1,
			Base:          expr.PayloadBaseNetworkHeader,
			Offset:        offset,
			Len:           size,
		})
		if p.Bits() < p.Addr().BitLen() {
			mask := netip.PrefixFrom(allOnes(p.Addr()), p.Bits()).Masked().Addr()
			out = append(out, &expr.Bitwise{
				SourceRegister: 1,
				DestRegister:   1,
				Len:            size,
				Mask:           mask.AsSlice(),
				Xor:            make([]byte, size),
			})
		}
		out = append(out, &expr.Cmp{Op: op, Register: 1, Data: p.Addr().AsSlice()})
	}
	match(saddr, r.src, expr.CmpOpEq)
	for _, p := range r.except {
		match(daddr, p, expr.CmpOpNeq)
	}
	return append(out, &expr.Masq{})
}

// allOnes returns 255.255.255.255 or ffff:…:ffff, as a's family.
func allOnes(a netip.Addr) netip.Addr {
	b := bytes.Repeat([]byte{0xff}, a.BitLen()/8)
	all, _ := netip.AddrFromSlice(b)
	return all
}

// ruleUserData is the rule's comment in nft's TLV encoding.
func ruleUserData() []byte {
	return userdata.AppendString(nil, userdata.TypeComment, masqComment)
}

// programMasquerade makes table MasqTable of r's family, in the network
// namespace of the calling process, hold r and nothing else, and removes
// the other family's MasqTable. It reads the table first and writes
// nothing when it is already so; otherwise it replaces both tables in one
// atomic batch. It reports whether it wrote.
func programMasquerade(r masquerade) (wrote bool, err error) {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return false, fmt.Errorf("nftables: open netlink: %w", err)
	}
	defer c.CloseLasting()
	if masqueradeInPlace(c, r) {
		return false, nil
	}

	// Adding a table that exists is a no-op, so add-then-delete removes
	// the table whether or not it is there, and the batch never fails on
	// a missing one. The kernel applies the batch as a whole.
	for _, t := range []*nftables.Table{r.table(), r.otherTable()} {
		c.AddTable(t)
		c.DelTable(t)
	}
	t := c.AddTable(r.table())
	ch := c.AddChain(masqueradeChain(t))
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r.exprs(), UserData: ruleUserData()})
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("nftables: replace table %s %s: %w", familyName(t.Family), MasqTable, err)
	}
	return true, nil
}

// masqueradeInPlace reports whether the tables already are as
// programMasquerade makes them. A failed read (a missing table or chain
// reads as ENOENT) counts as no: the write that follows reports what is
// really wrong.
func masqueradeInPlace(c *nftables.Conn, r masquerade) bool {
	if _, err := c.ListTableOfFamily(MasqTable, r.otherTable().Family); err == nil {
		return false
	}
	t := r.table()
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return false
	}
	var ours []*nftables.Chain
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == MasqTable {
			ours = append(ours, ch)
		}
	}
	if len(ours) != 1 || !sameChain(ours[0], masqueradeChain(t)) {
		return false
	}
	rules, err := c.GetRules(t, ours[0])
	if err != nil || len(rules) != 1 {
		return false
	}
	return reflect.DeepEqual(rules[0].Exprs, r.exprs()) && bytes.Equal(rules[0].UserData, ruleUserData())
}

// sameChain compares what masqueradeChain sets: name, type, hook,
// priority, and an accepting policy.
func sameChain(got, want *nftables.Chain) bool {
	return got.Name == want.Name && got.Type == want.Type &&
		got.Hooknum != nil && *got.Hooknum == *want.Hooknum &&
		got.Priority != nil && *got.Priority == *want.Priority &&
		(got.Policy == nil || *got.Policy == nftables.ChainPolicyAccept)
}

// familyName is nft's name of an address family.
func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	default:
		return fmt.Sprintf("family(%d)", f)
	}
}

// parseNoMasquerade parses Config.NoMasquerade: network addresses of
// plain IPv4 or IPv6 prefixes, none of them /0.
func parseNoMasquerade(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		p, err := netip.ParsePrefix(e)
		switch {
		case err != nil:
			return nil, fmt.Errorf("cni config: NoMasquerade entry %q: not a CIDR such as 10.42.0.0/16: %w", e, errdefs.ErrInvalid)
		case p.Addr().Zone() != "" || p.Addr().Is4In6():
			return nil, fmt.Errorf("cni config: NoMasquerade entry %q: must be plain IPv4 or IPv6: %w", e, errdefs.ErrInvalid)
		case p.Masked() != p:
			return nil, fmt.Errorf("cni config: NoMasquerade entry %q: host bits set, use %s: %w", e, p.Masked(), errdefs.ErrInvalid)
		case p.Bits() == 0:
			return nil, fmt.Errorf("cni config: NoMasquerade entry %q: would exempt every destination; list the networks pods reach without NAT, such as the cluster's pod CIDR: %w", e, errdefs.ErrInvalid)
		}
		out = append(out, p)
	}
	return out, nil
}
