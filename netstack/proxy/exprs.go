package proxy

import (
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The expression builders below are the netlink form of the rule texts in
// ruleset.go. Concatenations (a . b . c) load each field into consecutive
// 32-bit registers, starting at register 1, as nft does: register 1 is
// the 32-bit register 8, so the second field goes to 9 and the third to
// 10, each zero-padded to 4 bytes by the kernel.

// exprs joins expression lists into a rule's expression builder.
func exprs(parts ...[]expr.Any) func(*nftables.Conn, *nftables.Table) []expr.Any {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	return func(*nftables.Conn, *nftables.Table) []expr.Any { return all }
}

const (
	ipv4Saddr = 12 // offset of the source address in the IPv4 header
	ipv4Daddr = 16
	reg32_1   = 9 // NFT_REG32_01: the second field of a concatenation
	reg32_2   = 10
)

func payload(base expr.PayloadBase, offset, length, reg uint32) *expr.Payload {
	return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg, Base: base, Offset: offset, Len: length}
}

// loadSaddr: ip saddr → register 1.
func loadSaddr() []expr.Any {
	return []expr.Any{payload(expr.PayloadBaseNetworkHeader, ipv4Saddr, 4, 1)}
}

// loadSaddrDaddr: ip saddr . ip daddr. (One 8-byte load would do, but
// nft would then list it as a raw payload.)
func loadSaddrDaddr() []expr.Any {
	return []expr.Any{
		payload(expr.PayloadBaseNetworkHeader, ipv4Saddr, 4, 1),
		payload(expr.PayloadBaseNetworkHeader, ipv4Daddr, 4, reg32_1),
	}
}

// loadDaddrProtoPort: ip daddr . meta l4proto . th dport.
func loadDaddrProtoPort() []expr.Any {
	return []expr.Any{
		payload(expr.PayloadBaseNetworkHeader, ipv4Daddr, 4, 1),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_1},
		payload(expr.PayloadBaseTransportHeader, 2, 2, reg32_2),
	}
}

// loadProtoPort: meta l4proto . th dport.
func loadProtoPort() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		payload(expr.PayloadBaseTransportHeader, 2, 2, reg32_1),
	}
}

func metaL4Proto(reg uint32) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}}
}

func cmpEq(reg uint32, data []byte) []expr.Any {
	return []expr.Any{&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data}}
}

// lookup: the key in register 1 is in set name.
func lookup(name string) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: 1, SetName: name}}
}

// vmap: the verdict for the key in register 1 from map name.
func vmap(name string) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: 1, SetName: name, IsDestRegSet: true}}
}

func jump(chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}
}

func goTo(chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}}
}

// ctStateNew: ct state new.
func ctStateNew() []expr.Any {
	return ctBits(expr.CtKeySTATE, expr.CtStateBitNEW)
}

// ctStatusDNAT: ct status dnat.
func ctStatusDNAT() []expr.Any {
	return ctBits(expr.CtKeySTATUS, ipsDstNAT)
}

func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// fibDaddrLocal: fib daddr type local — the destination is one of the
// node's own addresses, whichever interface it is on.
func fibDaddrLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// masqMark is the packet mark bit that asks postrouting to masquerade a
// connection: one that came to a node port or a load-balancer port of
// this node (from outside, or from another node), so that its replies,
// from an endpoint that may be on another node, come back through here
// to be translated. Kubernetes' kube-proxy uses 0x4000 for the same.
const masqMark = 0x4000

// setMasqMark: meta mark set meta mark | masqMark.
func setMasqMark() []expr.Any {
	bit := binaryutil.NativeEndian.PutUint32(masqMark)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(masqMark)), Xor: bit},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// hasMasqMark: meta mark & masqMark != 0.
func hasMasqMark() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(masqMark), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// notLoopback: ip daddr != 127.0.0.0/8. A NodePort on 127.0.0.1 would
// need route_localnet; like kube-proxy's nftables mode, skiff does not
// offer it.
func notLoopback() []expr.Any {
	return []expr.Any{
		payload(expr.PayloadBaseNetworkHeader, ipv4Daddr, 4, 1),
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127, 0, 0, 0}},
	}
}

// dnat: dnat to ep.
func dnat(ep netip.AddrPort) []expr.Any {
	ip := ep.Addr().As4()
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: ip[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(ep.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

// ipsDstNAT is IPS_DST_NAT, the conntrack status bit of a connection
// whose destination is translated.
const ipsDstNAT = 1 << 5
