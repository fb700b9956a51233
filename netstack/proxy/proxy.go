package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

// Config configures a Proxy.
type Config struct {
	// NetNS is an open file descriptor of the network namespace to
	// program; 0 means the namespace of the calling process (the agent
	// runs in the host's). The Proxy does not close it.
	NetNS int
	// Log receives one line per Sync that writes; nil discards.
	Log *slog.Logger
}

// Validate reports a bad Config.
func (c Config) Validate() error {
	if c.NetNS < 0 {
		return fmt.Errorf("proxy config: NetNS %d: want an open fd or 0 for the current namespace", c.NetNS)
	}
	return nil
}

// Proxy programs the service data path of one node. Its methods may be
// called from several goroutines; they run one at a time.
type Proxy struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// frags (by service key) and hairpin are what the kernel held after
	// the last successful Sync, at ruleset generation lastGen; frags is
	// nil when that is unknown (before the first Sync, after a failed
	// write, after Cleanup).
	frags   map[string]*fragment
	hairpin map[string]element
	lastGen uint32
}

// New returns a Proxy for cfg. It touches nothing until Sync or Cleanup.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxy{cfg: cfg, log: log.With("component", "proxy")}, nil
}

// Result says what one Sync did.
type Result struct {
	// ReadBack is true when Sync read the table back from the kernel
	// because the ruleset changed since its last write (someone else
	// wrote, or this is the first Sync).
	ReadBack bool
	// Changes counts the chains, sets and elements written; 0 means the
	// kernel already held the desired state and nothing was sent.
	Changes int
	// Rebuilt is true when the table was recreated from scratch (it was
	// missing or could not be read).
	Rebuilt bool
	// FlushedFlows counts the conntrack entries of UDP flows to
	// removed endpoints that Sync deleted (see conntrack.go).
	FlushedFlows uint
}

// Sync makes the table hold exactly what st asks for, in one atomic
// batch. Services that fail validation (or claim a VIP, LoadBalancer or
// node port another service holds) are left out and reported in the
// returned error, which is then errdefs.ErrInvalid or ErrConflict; the
// others are programmed all the same. A kernel failure leaves the table
// as it was before the call, and the next Sync starts over from what it
// reads back.
//
// Sync is cheap when nothing changed: one netlink round trip that
// finds the ruleset generation unchanged since its last write.
func (p *Proxy) Sync(st State) (Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	norm, inputErr := st.normalize()
	res, err := p.apply(norm)
	if err != nil {
		return res, errors.Join(err, inputErr)
	}
	return res, inputErr
}

func (p *Proxy) apply(st State) (Result, error) {
	var res Result
	// Fragments of unchanged services are reused as they are.
	frags := make(map[string]*fragment, len(st.Services))
	var changed []string // built anew, or gone
	for _, svc := range st.Services {
		if old := p.frags[svc.Key()]; old != nil && old.current(svc, st.NodeAddresses) {
			frags[svc.Key()] = old
			continue
		}
		frags[svc.Key()] = buildService(svc, st.NodeAddresses)
		changed = append(changed, svc.Key())
	}
	for key := range p.frags {
		if _, ok := frags[key]; !ok {
			changed = append(changed, key)
		}
	}

	nl, err := dialNetfilter(p.cfg.NetNS)
	if err != nil {
		return res, err
	}
	defer nl.Close()
	gen, err := generation(nl)
	if err != nil {
		return res, err
	}
	res.ReadBack = p.frags == nil || gen != p.lastGen
	if !res.ReadBack && len(changed) == 0 {
		return res, nil
	}

	c, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(p.cfg.NetNS), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return res, fmt.Errorf("nftables: open netlink: %w", err)
	}
	defer c.CloseLasting()

	hairpin := hairpinElems(st.Services)
	var cur, want *ruleset
	if res.ReadBack {
		// The whole table, as the kernel has it, against all of st.
		cur, err = readTable(c, nl)
		if err != nil {
			p.log.Warn("read table back; recreating it", "table", TableName, "err", err)
			cur = nil
		}
		want = fixed(hairpin)
		for _, f := range frags {
			want.addFragment(f)
		}
	} else {
		// Only what changed: the fixed part and the fragments of the
		// changed services, before and after.
		cur, want = fixed(p.hairpin), fixed(hairpin)
		for _, key := range changed {
			if f := p.frags[key]; f != nil {
				cur.addFragment(f)
			}
			if f := frags[key]; f != nil {
				want.addFragment(f)
			}
		}
	}

	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	if cur == nil {
		// Adding a table that exists is a no-op, so add-then-delete
		// removes whatever is left of it and never fails on a
		// missing one; all in the same batch as the refill.
		c.AddTable(t)
		c.DelTable(t)
		c.AddTable(t)
		cur = &ruleset{chains: map[string]*chain{}, sets: map[string]*set{}}
		res.Rebuilt = true
	}
	res.Changes = writeDiff(c, t, cur, want)
	if res.Changes == 0 && !res.Rebuilt {
		p.frags, p.hairpin, p.lastGen = frags, hairpin, gen
		return res, nil
	}
	if err := c.Flush(); err != nil {
		p.frags = nil
		return res, fmt.Errorf("nftables: write table ip %s (%d changes): %w", TableName, res.Changes, err)
	}
	// A write by someone else between the flush and this read would be
	// missed until the generation moves again; the window is one round
	// trip.
	gen, err = generation(nl)
	if err != nil {
		p.frags = nil
		return res, err
	}
	var stale []staleUDP
	for _, key := range changed {
		if old := p.frags[key]; old != nil {
			stale = append(stale, staleUDPEndpoints(old, frags[key])...)
		}
	}
	p.frags, p.hairpin, p.lastGen = frags, hairpin, gen
	// The table is right whatever happens here; a failure only leaves
	// UDP clients on a gone endpoint until their flow times out.
	if n, err := flushConntrack(p.cfg.NetNS, stale); err != nil {
		p.log.Warn("flush UDP flows of removed endpoints", "endpoints", len(stale), "err", err)
	} else if n > 0 {
		res.FlushedFlows = n
	}
	p.log.Debug("synced", "table", TableName, "changes", res.Changes, "services", len(changed), "readBack", res.ReadBack, "rebuilt", res.Rebuilt)
	return res, nil
}

// writeDiff queues on c the messages that turn table t from cur into
// want, in an order the kernel accepts within one transaction, and
// returns how many objects it touched:
//
//  1. add new chains, empty, so that anything may jump to them;
//  2. flush changed chains and chains to delete, which drops their
//     references to chains and sets;
//  3. delete stale set elements, which drops theirs;
//  4. delete stale chains and sets (and sets whose definition changed);
//  5. add new (and redefined) sets;
//  6. add the rules of new and changed chains;
//  7. add new set elements.
//
// A chain is changed when its rule digests differ, or when it uses a set
// that is recreated. Affinity sets that stay keep their elements: a
// client keeps its endpoint across Syncs.
func writeDiff(c *nftables.Conn, t *nftables.Table, cur, want *ruleset) int {
	n := 0
	redefined := map[string]bool{}
	for name, ws := range want.sets {
		if cs, ok := cur.sets[name]; ok && cs.def() != ws.def() {
			redefined[name] = true
		}
	}
	var added, changed []*chain
	for _, name := range sortedKeys(want.chains) {
		wc := want.chains[name]
		cc, ok := cur.chains[name]
		switch {
		case !ok:
			added = append(added, wc)
		case cc.hook.String() != wc.hook.String():
			// A base chain with another hook: only a new skiff
			// version does that. Delete and re-add.
			c.DelChain(&nftables.Chain{Name: name, Table: t})
			added = append(added, wc)
			n++
		case !slices.Equal(cc.sums, wc.sums) || slices.ContainsFunc(wc.uses, func(s string) bool { return redefined[s] }):
			changed = append(changed, wc)
		}
	}
	// 1.
	for _, wc := range added {
		c.AddChain(wc.nft(t))
		n++
	}
	// 2.
	for _, wc := range changed {
		c.FlushChain(&nftables.Chain{Name: wc.name, Table: t})
		n++
	}
	var stale []string
	for _, name := range sortedKeys(cur.chains) {
		if _, ok := want.chains[name]; !ok {
			c.FlushChain(&nftables.Chain{Name: name, Table: t})
			stale = append(stale, name)
		}
	}
	// 3.
	for _, name := range sortedKeys(want.sets) {
		cs, ok := cur.sets[name]
		ws := want.sets[name]
		if !ok || redefined[name] || ws.elems == nil {
			continue
		}
		var del []nftables.SetElement
		for _, id := range sortedKeys(cs.elems) {
			if _, ok := ws.elems[id]; !ok {
				del = append(del, cs.elems[id].nft())
			}
		}
		if len(del) > 0 {
			tmpl := ws.tmpl
			tmpl.Table = t
			for chunk := range slices.Chunk(del, elementsPerMessage) {
				_ = c.SetDeleteElements(&tmpl, chunk) // fails only for anonymous sets
			}
			n += len(del)
		}
	}
	// 4.
	for _, name := range stale {
		c.DelChain(&nftables.Chain{Name: name, Table: t})
		n++
	}
	for _, name := range sortedKeys(cur.sets) {
		if _, ok := want.sets[name]; !ok || redefined[name] {
			c.DelSet(&nftables.Set{Name: name, Table: t})
			n++
		}
	}
	// 5.
	for _, name := range sortedKeys(want.sets) {
		if _, ok := cur.sets[name]; ok && !redefined[name] {
			continue
		}
		tmpl := want.sets[name].tmpl
		tmpl.Table = t
		_ = c.AddSet(&tmpl, nil) // fails only for non-constant anonymous sets
		n++
	}
	// 6.
	for _, wc := range slices.Concat(added, changed) {
		ch := &nftables.Chain{Name: wc.name, Table: t}
		for _, r := range wc.rules {
			c.AddRule(&nftables.Rule{
				Table: t, Chain: ch, Exprs: r.exprs(c, t),
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.digest()),
			})
		}
	}
	// 7.
	for _, name := range sortedKeys(want.sets) {
		ws := want.sets[name]
		if ws.elems == nil {
			continue
		}
		var have map[string]element
		if cs, ok := cur.sets[name]; ok && !redefined[name] {
			have = cs.elems
		}
		var add []nftables.SetElement
		for _, id := range sortedKeys(ws.elems) {
			if _, ok := have[id]; !ok {
				add = append(add, ws.elems[id].nft())
			}
		}
		if len(add) > 0 {
			tmpl := ws.tmpl
			tmpl.Table = t
			for chunk := range slices.Chunk(add, elementsPerMessage) {
				_ = c.SetAddElements(&tmpl, chunk)
			}
			n += len(add)
		}
	}
	return n
}

// elementsPerMessage bounds the elements of one netlink message: they
// travel in one attribute, whose length is 16 bits. An element of
// service-ips with its goto target takes about 100 bytes; chain names
// are at most ~170.
const elementsPerMessage = 128

// nft is the chain to add for c in table t.
func (c *chain) nft(t *nftables.Table) *nftables.Chain {
	ch := &nftables.Chain{Name: c.name, Table: t}
	if c.hook != nil {
		accept := nftables.ChainPolicyAccept
		ch.Type, ch.Hooknum, ch.Priority, ch.Policy = c.hook.typ, c.hook.num, c.hook.prio, &accept
	}
	return ch
}

// Cleanup removes the table, in the namespace of the Proxy, whatever is in
// it. The agent calls it at startup, before the first Sync, only when it
// wants to start from nothing, and at shutdown when the node leaves the
// cluster; a plain restart should not, since Sync picks up the table as
// it is and established connections keep their NAT either way.
func (p *Proxy) Cleanup() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frags = nil
	c, err := nftables.New(nftables.WithNetNSFd(p.cfg.NetNS))
	if err != nil {
		return fmt.Errorf("nftables: open netlink: %w", err)
	}
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table ip %s: %w", TableName, err)
	}
	return nil
}
