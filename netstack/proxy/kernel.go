package proxy

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Reading the table back. google/nftables lists rules one chain at a
// time, which for 11,000 chains is 11,000 round trips; the kernel dumps
// all rules of a table in one, so that dump and the ruleset generation
// (NFT_MSG_GETGEN, not in google/nftables) are asked here on a netlink
// socket of our own.

// bufferSize is the send and receive buffer of the netlink sockets. One
// Sync from empty with 1,000 services × 10 endpoints is a batch of a few
// MB and draws one ack per message; the default 208 KiB buffers fail such
// a batch with EMSGSIZE or lose acks with ENOBUFS. Memory is only
// charged for what is queued.
const bufferSize = 64 << 20

// bigBuffers raises the socket's buffers past the sysctl limits, which
// needs CAP_NET_ADMIN, as programming nftables does anyway.
func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, bufferSize); e != nil && serr == nil {
				serr = fmt.Errorf("setsockopt %d: %w", opt, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// dialNetfilter opens a NETLINK_NETFILTER socket in netns (0: the
// caller's).
func dialNetfilter(netns int) (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("nftables: open netlink: %w", err)
	}
	if err := bigBuffers(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("nftables: netlink buffers: %w", err)
	}
	return c, nil
}

// nfgenmsg is the header of every nftables message: family, version 0,
// resource id 0.
func nfgenmsg(family nftables.TableFamily) []byte {
	return []byte{byte(family), unix.NFNETLINK_V0, 0, 0}
}

// generation returns the ruleset generation of the namespace, which the
// kernel bumps on every committed batch, whoever sends it.
func generation(c *netlink.Conn) (uint32, error) {
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		Data: nfgenmsg(unix.AF_UNSPEC),
	})
	if err != nil {
		return 0, fmt.Errorf("nftables: get generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, fmt.Errorf("nftables: decode generation: %w", err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, fmt.Errorf("nftables: generation: no NFTA_GEN_ID in the answer")
}

// ruleDigests dumps every rule of table TableName and returns, per chain,
// the comments of its rules in order ("" for a rule without one).
func ruleDigests(c *netlink.Conn) (map[string][]string, error) {
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(TableName + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: append(nfgenmsg(nftables.TableFamilyIPv4), attrs...),
	})
	if err != nil {
		return nil, fmt.Errorf("nftables: dump rules of %s: %w", TableName, err)
	}
	out := map[string][]string{}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return nil, fmt.Errorf("nftables: decode rule: %w", err)
		}
		var table, chain, comment string
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_RULE_TABLE:
				table = ad.String()
			case unix.NFTA_RULE_CHAIN:
				chain = ad.String()
			case unix.NFTA_RULE_USERDATA:
				comment, _ = userdata.GetString(ad.Bytes(), userdata.TypeComment)
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("nftables: decode rule: %w", err)
		}
		if table == TableName {
			out[chain] = append(out[chain], comment)
		}
	}
	return out, nil
}

// readTable reads table TableName back into a ruleset: chains with their
// rules' digests, sets with their definitions, and the elements of the
// fixed sets (not those of the affinity sets, which the data path
// fills). It returns nil when the table is not there.
func readTable(c *nftables.Conn, nl *netlink.Conn) (*ruleset, error) {
	t, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	if err != nil {
		// ENOENT; any other failure is reported by the rewrite
		// that follows.
		return nil, nil
	}
	rs := &ruleset{chains: map[string]*chain{}, sets: map[string]*set{}}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != TableName {
			continue
		}
		rc := &chain{name: ch.Name, sums: []string{}}
		if ch.Hooknum != nil {
			rc.hook = &hook{typ: ch.Type, num: ch.Hooknum, prio: ch.Priority}
			if ch.Policy != nil && *ch.Policy != nftables.ChainPolicyAccept {
				rc.hook.typ += " (policy drop)" // never what build wants
			}
		}
		rs.chains[ch.Name] = rc
	}
	sums, err := ruleDigests(nl)
	if err != nil {
		return nil, err
	}
	for name, s := range sums {
		if rc, ok := rs.chains[name]; ok {
			rc.sums = s
		}
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("nftables: list sets of %s: %w", TableName, err)
	}
	for _, s := range sets {
		if s.Anonymous {
			continue
		}
		rset := &set{tmpl: *s}
		if slices.Contains(fixedSets, s.Name) {
			elems, err := c.GetSetElements(s)
			if err != nil {
				return nil, fmt.Errorf("nftables: list elements of %s: %w", s.Name, err)
			}
			rset.elems = map[string]element{}
			for _, e := range elems {
				re := element{key: e.Key}
				if s.IsMap {
					re.goTo = verdictChain(e.Val)
				}
				rset.elems[re.id()] = re
			}
		}
		rs.sets[s.Name] = rset
	}
	return rs, nil
}

// fixedSets are the sets whose elements Sync owns.
var fixedSets = []string{mapServiceIPs, mapServiceNodePorts, setNoEndpointIPs, setNoEndpointPorts, setHairpin}

// verdictChain returns the chain of a goto or jump verdict as
// GetSetElements returns it (the nested NFTA_DATA_VERDICT attributes),
// or "?" for any other verdict.
func verdictChain(b []byte) string {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return "?"
	}
	ad.ByteOrder = binary.BigEndian
	var code int32
	var chain string
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			code = int32(ad.Uint32())
		case unix.NFTA_VERDICT_CHAIN:
			chain = ad.String()
		}
	}
	if ad.Err() != nil || code != unix.NFT_GOTO || chain == "" {
		return "?"
	}
	return chain
}
