package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

func TestNewMasquerade(t *testing.T) {
	noMasq := []netip.Prefix{
		netip.MustParsePrefix("10.42.0.0/16"),
		netip.MustParsePrefix("fd00:42::/48"),
		netip.MustParsePrefix("10.42.3.0/24"), // the pod subnet again
		netip.MustParsePrefix("192.0.2.7/32"),
	}
	tests := []struct {
		cidr string
		want string
	}{
		{"10.42.3.0/24", "ip saddr 10.42.3.0/24 ip daddr != 10.42.3.0/24 ip daddr != 224.0.0.0/4 ip daddr != 10.42.0.0/16 ip daddr != 192.0.2.7/32 masquerade"},
		{"fd00:42:3::/64", "ip6 saddr fd00:42:3::/64 ip6 daddr != fd00:42:3::/64 ip6 daddr != ff00::/8 ip6 daddr != fd00:42::/48 masquerade"},
	}
	for _, tt := range tests {
		s, err := parsePodCIDR(tt.cidr)
		if err != nil {
			t.Fatal(err)
		}
		r := newMasquerade(s, noMasq)
		if got := r.String(); got != tt.want {
			t.Errorf("newMasquerade(%s).String():\n got %s\nwant %s", tt.cidr, got, tt.want)
		}
		// The expressions say the same as String, read the way nft does.
		if got := describeExprs(r.table().Family, r.exprs()); got != tt.want {
			t.Errorf("newMasquerade(%s).exprs():\n got %s\nwant %s", tt.cidr, got, tt.want)
		}
	}
}

func TestParseNoMasquerade(t *testing.T) {
	tests := []struct {
		entry   string
		wantErr string // substring; empty: no error
	}{
		{entry: "10.42.0.0/16"},
		{entry: "fd00:42::/48"},
		{entry: "192.0.2.7/32"},
		{entry: "10.42.0.1/16", wantErr: `NoMasquerade entry "10.42.0.1/16": host bits set, use 10.42.0.0/16`},
		{entry: "10.42.0.0", wantErr: `NoMasquerade entry "10.42.0.0": not a CIDR`},
		{entry: "", wantErr: `NoMasquerade entry "": not a CIDR`},
		{entry: "::ffff:10.42.0.0/112", wantErr: "must be plain IPv4 or IPv6"},
		{entry: "0.0.0.0/0", wantErr: "would exempt every destination"},
	}
	for _, tt := range tests {
		_, err := parseNoMasquerade([]string{tt.entry})
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("parseNoMasquerade(%q): %v", tt.entry, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalid(err) {
			t.Errorf("parseNoMasquerade(%q): error %v, want an invalid error containing %q", tt.entry, err, tt.wantErr)
		}
	}
}

func TestBridgeMasquerades(t *testing.T) {
	s, _ := parsePodCIDR("10.42.3.0/24")
	conf, err := renderConfList(Config{NetNSDir: "/n", StateDir: "/s"}.withDefaults(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		conf []byte
		want bool
	}{
		{"current", conf, false},
		{"before nftables", oldConfList(t, conf), true},
	} {
		list, err := libcni.NetworkConfFromBytes(tt.conf)
		if err != nil {
			t.Fatal(err)
		}
		if got := bridgeMasquerades(list); got != tt.want {
			t.Errorf("bridgeMasquerades(%s conflist) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestSetPodCIDRMasquerade: SetPodCIDR programs the one rule, leaves it
// alone when it is right, and rewrites it for another subnet or after a
// hand edit; a restarted Manager keeps it.
func TestSetPodCIDRMasquerade(t *testing.T) {
	m := newNodeManager(t, "skt-masq", "10.88.20.0/24", func(c *Config) {
		c.NoMasquerade = []string{"10.88.0.0/16", "fd00:88::/48"}
	})
	const ip4 = nftables.TableFamilyIPv4
	want := "ip saddr 10.88.20.0/24 ip daddr != 10.88.20.0/24 ip daddr != 224.0.0.0/4 ip daddr != 10.88.0.0/16 masquerade"
	checkMasquerade(t, "after SetPodCIDR", ip4, want)
	checkNFTListGolden(t, "ip", "masquerade-ipv4.nft")
	handle := nftTableHandle(t, "ip")

	if err := m.SetPodCIDR("10.88.20.0/24"); err != nil {
		t.Fatal(err)
	}
	checkMasquerade(t, "after a second SetPodCIDR", ip4, want)
	if h := nftTableHandle(t, "ip"); h != handle {
		t.Errorf("a second SetPodCIDR with the same cidr replaced the table (handle %d, was %d), want it untouched", h, handle)
	}
	if wrote, err := programMasquerade(newMasquerade(m.subnet, m.noMasq)); err != nil || wrote {
		t.Errorf("programMasquerade of the rule in place: wrote %v, %v; want nothing written", wrote, err)
	}

	if err := m.SetPodCIDR("10.88.21.0/24"); err != nil {
		t.Fatal(err)
	}
	want = "ip saddr 10.88.21.0/24 ip daddr != 10.88.21.0/24 ip daddr != 224.0.0.0/4 ip daddr != 10.88.0.0/16 masquerade"
	checkMasquerade(t, "after SetPodCIDR with another cidr", ip4, want)
	if h := nftTableHandle(t, "ip"); h == handle && h != 0 {
		t.Errorf("SetPodCIDR with another cidr kept table handle %d, want a new table", h)
	}

	// Hand edits are undone by the next SetPodCIDR.
	for _, edit := range []struct {
		name string
		nft  []string
	}{
		{"table deleted", []string{"delete", "table", "ip", MasqTable}},
		{"chain flushed", []string{"flush", "chain", "ip", MasqTable, masqChain}},
		{"rule added", []string{"add", "rule", "ip", MasqTable, masqChain, "ip", "saddr", "10.99.0.0/16", "masquerade"}},
		{"chain added", []string{"add", "chain", "ip", MasqTable, "extra"}},
	} {
		if !nftRun(t, edit.nft...) {
			continue
		}
		if edit.name == "table deleted" {
			if _, err := listMasqueradeRules(ip4); err == nil {
				t.Fatalf("%s: table still there", edit.name)
			}
		}
		if err := m.SetPodCIDR("10.88.21.0/24"); err != nil {
			t.Fatalf("%s: SetPodCIDR: %v", edit.name, err)
		}
		checkMasquerade(t, edit.name+", then SetPodCIDR", ip4, want)
	}

	// A restarted agent finds the rule in place and leaves it.
	handle = nftTableHandle(t, "ip")
	restarted, err := New(m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.SetPodCIDR("10.88.21.0/24"); err != nil {
		t.Fatal(err)
	}
	checkMasquerade(t, "after a restart", ip4, want)
	if h := nftTableHandle(t, "ip"); h != handle {
		t.Errorf("SetPodCIDR after a restart replaced the table (handle %d, was %d), want it untouched", h, handle)
	}
}

// TestSetPodCIDRMasqueradeIPv6: an IPv6 subnet is masqueraded in an ip6
// table, and a change of family leaves no table of the other behind.
func TestSetPodCIDRMasqueradeIPv6(t *testing.T) {
	if _, err := os.Stat(ipv6Forward); err != nil {
		t.Skipf("no IPv6 in the node netns: %v", err)
	}
	m := newNodeManager(t, "skt-masq6", "10.88.23.0/24", func(c *Config) {
		c.NoMasquerade = []string{"10.88.0.0/16", "fd00:88::/48"}
	})
	if err := m.SetPodCIDR("fd00:88:23::/64"); err != nil {
		t.Fatal(err)
	}
	checkMasquerade(t, "ipv6 subnet", nftables.TableFamilyIPv6,
		"ip6 saddr fd00:88:23::/64 ip6 daddr != fd00:88:23::/64 ip6 daddr != ff00::/8 ip6 daddr != fd00:88::/48 masquerade")
	checkNFTListGolden(t, "ip6", "masquerade-ipv6.nft")
	if rules, err := listMasqueradeRules(nftables.TableFamilyIPv4); err == nil {
		t.Errorf("ipv6 subnet: table ip %s still there with %d rules, want it gone", MasqTable, len(rules))
	}

	if err := m.SetPodCIDR("10.88.23.0/24"); err != nil {
		t.Fatal(err)
	}
	checkMasquerade(t, "back to ipv4", nftables.TableFamilyIPv4,
		"ip saddr 10.88.23.0/24 ip daddr != 10.88.23.0/24 ip daddr != 224.0.0.0/4 ip daddr != 10.88.0.0/16 masquerade")
	if rules, err := listMasqueradeRules(nftables.TableFamilyIPv6); err == nil {
		t.Errorf("back to ipv4: table ip6 %s still there with %d rules, want it gone", MasqTable, len(rules))
	}
}

// TestPodEgressMasqueraded: a peer beyond the node sees a pod's
// connections come from the node's address, and from the pod's own for a
// NoMasquerade network (which then has to route the pod subnet back).
func TestPodEgressMasqueraded(t *testing.T) {
	const (
		nodeSide = "203.0.113.1"
		peerAddr = "203.0.113.2"
	)
	m := newNodeManager(t, "skt-egress", "10.88.22.0/24")
	outside := outsideNetNS(t, nodeSide, peerAddr)
	serveRemoteAddr(t, outside, net.JoinHostPort(peerAddr, "8090"))
	sb := setupPod(t, m, "pod-egress")
	defer m.Teardown(t.Context(), "pod-egress")

	got, err := dialGreeting(sb.NetNSPath, net.JoinHostPort(peerAddr, "8090"))
	if err != nil || got != nodeSide {
		t.Errorf("peer beyond the node saw the pod's connection from %q, %v; want the node's %s", got, err, nodeSide)
	}
	// Pod to pod stays unNATed (the pod subnet is exempt): the pod dials
	// itself through its own address.
	serveRemoteAddr(t, sb.NetNSPath, ":8091")
	if got, err := dialGreeting(sb.NetNSPath, net.JoinHostPort(sb.IP.String(), "8091")); err != nil || got != sb.IP.String() {
		t.Errorf("pod dialling its own address seen from %q, %v; want %s", got, err, sb.IP)
	}

	// The agent restarted with the peer's network exempt.
	cfg := m.cfg
	cfg.NoMasquerade = []string{"203.0.113.0/24"}
	exempt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := exempt.SetPodCIDR("10.88.22.0/24"); err != nil {
		t.Fatal(err)
	}
	err = ns.WithNetNSPath(outside, func(ns.NetNS) error {
		_, dst, _ := net.ParseCIDR("10.88.22.0/24")
		return netlink.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP(nodeSide)})
	})
	if err != nil {
		t.Fatalf("route the pod subnet back from the peer: %v", err)
	}
	got, err = dialGreeting(sb.NetNSPath, net.JoinHostPort(peerAddr, "8090"))
	if err != nil || got != sb.IP.String() {
		t.Errorf("peer in a NoMasquerade network saw the pod's connection from %q, %v; want the pod's %s", got, err, sb.IP)
	}
}

// TestTeardownPodOfOldConfList: pods set up with a conflist of before the
// nftables masquerade (bridge ipMasq on) still lose their per-pod iptables
// chain on Teardown, also when their netns is gone.
func TestTeardownPodOfOldConfList(t *testing.T) {
	m := newNodeManager(t, "skt-old", "10.88.24.0/24")
	ctx := t.Context()
	old, err := libcni.NetworkConfFromBytes(oldConfList(t, m.ConfList()))
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	current := m.list
	m.list = old
	m.mu.Unlock()
	for _, uid := range []string{"old-kept", "old-lost"} {
		setupPod(t, m, uid)
		if rules := natRulesOf(t, uid); !strings.Contains(strings.Join(rules, "\n"), "MASQUERADE") {
			t.Fatalf("%s set up with ipMasq on: iptables rules %q, want its MASQUERADE chain", uid, rules)
		}
	}
	m.mu.Lock()
	m.list = current // as after an upgrade: DEL must use the cached conflist
	m.mu.Unlock()
	if err := unpinNetNS(m.netnsPath("old-lost")); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []string{"old-kept", "old-lost"} {
		if err := m.Teardown(ctx, uid); err != nil {
			t.Errorf("Teardown(%s): %v", uid, err)
		}
		if rules := natRulesOf(t, uid); len(rules) > 0 {
			t.Errorf("after Teardown(%s): iptables rules left: %q", uid, rules)
		}
	}
}

// oldConfList returns conf with the bridge's ipMasq on, as skiff wrote it
// before the nftables masquerade.
func oldConfList(t testing.TB, conf []byte) []byte {
	t.Helper()
	old := bytes.Replace(conf, []byte(`"ipMasq": false`), []byte(`"ipMasq": true`), 1)
	if bytes.Equal(old, conf) {
		t.Fatalf("conflist has no \"ipMasq\": false:\n%s", conf)
	}
	return old
}

// listMasqueradeRules reads the rules of MasqTable's chain of family f
// with the nftables library; an error when there is no such chain.
func listMasqueradeRules(f nftables.TableFamily) ([]*nftables.Rule, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	table := &nftables.Table{Name: MasqTable, Family: f}
	ch, err := c.ListChain(table, masqChain)
	if err != nil {
		return nil, err
	}
	if ch.Type != nftables.ChainTypeNAT || ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookPostrouting ||
		ch.Priority == nil || *ch.Priority != 100 {
		return nil, fmt.Errorf("chain %s: type %s, hook %v, priority %v; want nat, postrouting, srcnat (100)",
			masqChain, ch.Type, ch.Hooknum, ch.Priority)
	}
	return c.GetRules(table, ch)
}

// checkMasquerade checks, with the nftables library and with nft -j when
// nft is installed, that MasqTable of family f holds one chain with one
// rule that reads want.
func checkMasquerade(t *testing.T, when string, f nftables.TableFamily, want string) {
	t.Helper()
	rules, err := listMasqueradeRules(f)
	if err != nil {
		t.Errorf("%s: read table %s %s: %v", when, familyName(f), MasqTable, err)
		return
	}
	if len(rules) != 1 {
		var got []string
		for _, r := range rules {
			got = append(got, describeExprs(f, r.Exprs))
		}
		t.Errorf("%s: %d rules %q, want one: %s", when, len(rules), got, want)
		return
	}
	if got := describeExprs(f, rules[0].Exprs); got != want {
		t.Errorf("%s: rule read with the nftables library:\n got %s\nwant %s", when, got, want)
	}
	if got, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment); got != masqComment {
		t.Errorf("%s: rule comment %q, want %q", when, got, masqComment)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Logf("%s: nft not installed, not cross-checking with nft -j", when)
		return
	}
	j, err := nftJSON(familyName(f))
	if err != nil {
		t.Errorf("%s: %v", when, err)
		return
	}
	if len(j.chains) != 1 || j.chains[0] != "postrouting nat postrouting 100 accept" {
		t.Errorf("%s: nft -j chains %q, want [postrouting nat postrouting 100 accept]", when, j.chains)
	}
	if len(j.rules) != 1 || j.rules[0] != want+` comment "`+masqComment+`"` {
		t.Errorf("%s: nft -j rules:\n got %q\nwant [%s comment %q]", when, j.rules, want, masqComment)
	}
}

// describeExprs renders a rule's expressions in nft's syntax, for the
// subset the masquerade rule uses.
func describeExprs(f nftables.TableFamily, exprs []expr.Any) string {
	ip, fields := "ip", map[uint32]string{12: "saddr", 16: "daddr"}
	if f == nftables.TableFamilyIPv6 {
		ip, fields = "ip6", map[uint32]string{8: "saddr", 24: "daddr"}
	}
	var parts []string
	field, ones := "?", 0
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Payload:
			field, ones = fields[e.Offset], int(e.Len)*8
			if e.Base != expr.PayloadBaseNetworkHeader || field == "" {
				field = fmt.Sprintf("payload(%d,%d,%d)", e.Base, e.Offset, e.Len)
			}
		case *expr.Bitwise:
			ones = 0
			for _, b := range e.Mask {
				ones += bits.OnesCount8(b)
			}
		case *expr.Cmp:
			op := map[expr.CmpOp]string{expr.CmpOpEq: "", expr.CmpOpNeq: "!= "}[e.Op]
			a, _ := netip.AddrFromSlice(e.Data)
			val := a.String()
			if a.IsValid() {
				val = netip.PrefixFrom(a, ones).String()
			}
			parts = append(parts, fmt.Sprintf("%s %s %s%s", ip, field, op, val))
		case *expr.Masq:
			parts = append(parts, "masquerade")
		default:
			parts = append(parts, fmt.Sprintf("%T", e))
		}
	}
	return strings.Join(parts, " ")
}

// nftTable is what nft -j says of MasqTable.
type nftTable struct {
	handle int
	chains []string // "name type hook prio policy"
	rules  []string // in nft syntax, /32 and /128 written as prefixes
}

// nftJSON reads MasqTable of family (ip, ip6) with nft -j.
func nftJSON(family string) (nftTable, error) {
	out, err := exec.Command("nft", "-j", "list", "table", family, MasqTable).Output()
	if err != nil {
		return nftTable{}, fmt.Errorf("nft -j list table %s %s: %v", family, MasqTable, err)
	}
	var doc struct {
		Nftables []struct {
			Table *struct {
				Handle int `json:"handle"`
			} `json:"table"`
			Chain *struct {
				Name   string `json:"name"`
				Type   string `json:"type"`
				Hook   string `json:"hook"`
				Prio   int    `json:"prio"`
				Policy string `json:"policy"`
			} `json:"chain"`
			Rule *struct {
				Comment string            `json:"comment"`
				Expr    []json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nftTable{}, fmt.Errorf("decode nft -j output: %v\n%s", err, out)
	}
	var tab nftTable
	for _, o := range doc.Nftables {
		switch {
		case o.Table != nil:
			tab.handle = o.Table.Handle
		case o.Chain != nil:
			c := o.Chain
			tab.chains = append(tab.chains, fmt.Sprintf("%s %s %s %d %s", c.Name, c.Type, c.Hook, c.Prio, c.Policy))
		case o.Rule != nil:
			var parts []string
			for _, raw := range o.Rule.Expr {
				parts = append(parts, describeNFTJSONExpr(raw))
			}
			if o.Rule.Comment != "" {
				parts = append(parts, fmt.Sprintf("comment %q", o.Rule.Comment))
			}
			tab.rules = append(tab.rules, strings.Join(parts, " "))
		}
	}
	return tab, nil
}

// describeNFTJSONExpr renders one expression of nft's JSON in nft syntax.
func describeNFTJSONExpr(raw json.RawMessage) string {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return string(raw)
	}
	if _, ok := keys["masquerade"]; ok && len(keys) == 1 {
		return "masquerade" // {"masquerade": null}
	}
	var e struct {
		Match *struct {
			Op   string `json:"op"`
			Left struct {
				Payload struct {
					Protocol string `json:"protocol"`
					Field    string `json:"field"`
				} `json:"payload"`
			} `json:"left"`
			Right json.RawMessage `json:"right"`
		} `json:"match"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return string(raw)
	}
	if e.Match != nil {
		op := ""
		if e.Match.Op == "!=" {
			op = "!= "
		}
		var right string
		var prefix struct {
			Prefix struct {
				Addr string `json:"addr"`
				Len  int    `json:"len"`
			} `json:"prefix"`
		}
		if json.Unmarshal(e.Match.Right, &right) == nil {
			if a, err := netip.ParseAddr(right); err == nil {
				right = netip.PrefixFrom(a, a.BitLen()).String()
			}
		} else if json.Unmarshal(e.Match.Right, &prefix) == nil {
			right = fmt.Sprintf("%s/%d", prefix.Prefix.Addr, prefix.Prefix.Len)
		}
		return fmt.Sprintf("%s %s %s%s", e.Match.Left.Payload.Protocol, e.Match.Left.Payload.Field, op, right)
	}
	return string(raw)
}

// nftTableHandle returns MasqTable's handle in family, which changes when
// the table is made anew; 0 when nft is not installed.
func nftTableHandle(t *testing.T, family string) int {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		return 0
	}
	j, err := nftJSON(family)
	if err != nil {
		t.Fatal(err)
	}
	return j.handle
}

// nftRun runs nft with args in the node netns, as an operator would by
// hand; false (and logged) when nft is not installed.
func nftRun(t *testing.T, args ...string) bool {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Logf("nft not installed, skipping nft %s", strings.Join(args, " "))
		return false
	}
	if out, err := exec.Command("nft", args...).CombinedOutput(); err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return true
}

// checkNFTListGolden compares nft list table family MasqTable with
// testdata/golden (rewritten with -update); skipped without nft.
func checkNFTListGolden(t *testing.T, family, golden string) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		return
	}
	got, err := exec.Command("nft", "list", "table", family, MasqTable).Output()
	if err != nil {
		t.Fatalf("nft list table %s %s: %v", family, MasqTable, err)
	}
	path := filepath.Join("testdata", golden)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestSetPodCIDRMasquerade -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("nft list table %s %s:\n%s\nwant (%s):\n%s", family, MasqTable, got, path, want)
	}
}

// outsideNetNS pins a namespace that plays a host beyond the node: a veth
// skt-out0 (nodeSide/24) in the node netns to eth0 (peer/24) inside it.
// It returns the pin path; the namespace goes at the end of the test.
func outsideNetNS(t *testing.T, nodeSide, peer string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outside")
	if err := pinNetNS(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteLink("skt-out0"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := unpinNetNS(path); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "skt-out0"}, PeerName: "skt-out1"}); err != nil {
		t.Fatalf("add veth skt-out0: %v", err)
	}
	nsh, err := ns.GetNS(path)
	if err != nil {
		t.Fatal(err)
	}
	defer nsh.Close()
	if err := addrUp("skt-out0", "skt-out0", nodeSide+"/24"); err != nil {
		t.Fatal(err)
	}
	peerEnd, err := netlinksafe.LinkByName("skt-out1")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peerEnd, int(nsh.Fd())); err != nil {
		t.Fatalf("move skt-out1 into %s: %v", path, err)
	}
	err = nsh.Do(func(ns.NetNS) error {
		if lo, err := netlinksafe.LinkByName("lo"); err != nil || netlink.LinkSetUp(lo) != nil {
			return fmt.Errorf("set lo up: %v", err)
		}
		return addrUp("skt-out1", "eth0", peer+"/24")
	})
	if err != nil {
		t.Fatalf("outside netns: %v", err)
	}
	return path
}

// addrUp renames link name to newName, adds cidr to it and sets it up.
func addrUp(name, newName, cidr string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return err
	}
	if newName != name {
		if err := netlink.LinkSetName(l, newName); err != nil {
			return fmt.Errorf("rename %s to %s: %w", name, newName, err)
		}
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("add %s to %s: %w", cidr, newName, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", newName, err)
	}
	return nil
}

// serveRemoteAddr answers every connection in the namespace at path
// with the address it came from.
func serveRemoteAddr(t testing.TB, path, addr string) {
	t.Helper()
	serveAnswer(t, path, addr, func(c net.Conn) string {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		return host
	})
}
