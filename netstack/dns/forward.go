package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// forwarder sends queries outside the zone to the node's upstream
// resolvers.
type forwarder struct {
	cfg   ForwardConfig
	log   *slog.Logger
	udp   *dns.Client
	tcp   *dns.Client
	cache *cache // nil: no cache

	mu        sync.RWMutex
	upstreams []string
	stamps    [2]fileStamp // ResolvConf, StubResolvConf when last read
	// self is the server's own address (host:port): never an upstream,
	// or one query would come back to it without end (a node whose
	// resolv.conf names the cluster DNS address).
	self string
}

// setSelf tells the forwarder the server's address and picks the
// upstreams again without it.
func (f *forwarder) setSelf(addr string) {
	f.mu.Lock()
	f.self = addr
	f.mu.Unlock()
	f.reload()
}

// fileStamp tells whether a file changed since it was read.
type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
}

func newForwarder(cfg ForwardConfig, log *slog.Logger) *forwarder {
	f := &forwarder{
		cfg: cfg,
		log: log,
		// UDPSize is only the read buffer: a query without EDNS0 still
		// gets at most 512 bytes, or TC, from the upstream.
		udp: &dns.Client{Net: "udp", Timeout: cfg.Timeout, UDPSize: dns.MaxMsgSize},
		tcp: &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
	}
	if cfg.CacheSize > 0 {
		f.cache = newCache(cfg.CacheSize, cfg.CacheMaxTTL)
	}
	f.reload()
	return f
}

// Upstreams returns the servers queries go to, in order.
func (f *forwarder) Upstreams() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Clone(f.upstreams)
}

// reloadIfChanged re-reads the resolver files when either changed.
func (f *forwarder) reloadIfChanged() {
	if len(f.cfg.Upstreams) > 0 {
		return
	}
	now := [2]fileStamp{stampOf(f.cfg.ResolvConf), stampOf(f.cfg.StubResolvConf)}
	f.mu.RLock()
	same := now == f.stamps
	f.mu.RUnlock()
	if !same {
		f.reload()
	}
}

// reload picks the upstreams: configured ones; else the non-loopback
// nameservers of ResolvConf; else those of StubResolvConf (systemd-
// resolved's upstreams behind its 127.0.0.53 stub); else Fallback.
func (f *forwarder) reload() {
	stamps := [2]fileStamp{stampOf(f.cfg.ResolvConf), stampOf(f.cfg.StubResolvConf)}
	ups, from := f.cfg.Upstreams, "config"
	if len(ups) == 0 {
		ups, from = nameservers(f.cfg.ResolvConf, f.log), f.cfg.ResolvConf
	}
	if len(ups) == 0 {
		ups, from = nameservers(f.cfg.StubResolvConf, f.log), f.cfg.StubResolvConf
	}
	if len(ups) == 0 {
		ups, from = f.cfg.Fallback, "fallback"
	}
	f.mu.RLock()
	self := f.self
	f.mu.RUnlock()
	var addrs []string
	for _, u := range ups {
		a, err := upstreamAddr(u)
		if err != nil {
			f.log.Warn("skip upstream", "upstream", u, "err", err)
			continue
		}
		if a == self {
			f.log.Warn("skip upstream: it is this server", "upstream", u)
			continue
		}
		addrs = append(addrs, a)
	}
	f.mu.Lock()
	changed := !slices.Equal(addrs, f.upstreams)
	f.upstreams, f.stamps = addrs, stamps
	f.mu.Unlock()
	if changed {
		f.log.Info("dns upstreams", "upstreams", addrs, "from", from)
		if f.cache != nil {
			f.cache.clear()
		}
	}
}

// nameservers reads a resolv.conf's usable nameservers: loopback ones
// (a stub such as 127.0.0.53) and the unspecified address are skipped,
// as kubelet and CoreDNS do.
func nameservers(path string, log *slog.Logger) []string {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("read resolv.conf", "path", path, "err", err)
		}
		return nil
	}
	var out []string
	for _, s := range cc.Servers {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.IsLoopback() || ip.IsUnspecified() {
			continue
		}
		out = append(out, net.JoinHostPort(ip.String(), cc.Port))
	}
	return out
}

// errNoUpstream: every upstream failed.
var errNoUpstream = errors.New("no upstream answered")

// forward answers req from the cache or the upstreams: each in order,
// one attempt of cfg.Timeout each; over UDP, retried over TCP when the
// answer is truncated, or over TCP only when overTCP. A SERVFAIL or
// REFUSED moves on to the next upstream, as a stub resolver does, and is
// returned if none does better.
func (f *forwarder) forward(ctx context.Context, req *dns.Msg, overTCP bool) (*dns.Msg, error) {
	key := cacheKeyOf(req)
	if f.cache != nil {
		if m := f.cache.get(key, time.Now()); m != nil {
			m.Id = req.Id
			askedAs(m, req.Question[0].Name)
			return m, nil
		}
	}
	out := req.Copy()
	out.Id = dns.Id() // our own ID towards the upstream, not the client's
	var last *dns.Msg
	var errs []error
	for _, up := range f.Upstreams() {
		r, err := f.exchange(ctx, out, up, overTCP)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", up, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		r.Id = req.Id
		if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
			last = r
			continue
		}
		if f.cache != nil {
			f.cache.put(key, r, time.Now())
		}
		return r, nil
	}
	if last != nil {
		return last, nil
	}
	if len(errs) == 0 {
		return nil, errNoUpstream
	}
	return nil, fmt.Errorf("%w: %w", errNoUpstream, errors.Join(errs...))
}

func (f *forwarder) exchange(ctx context.Context, m *dns.Msg, up string, overTCP bool) (*dns.Msg, error) {
	if !overTCP {
		r, _, err := f.udp.ExchangeContext(ctx, m, up)
		if err != nil || !r.Truncated {
			return r, err
		}
	}
	r, _, err := f.tcp.ExchangeContext(ctx, m, up)
	return r, err
}

// askedAs makes a cached answer echo the asker's spelling of the name
// (the key is case-blind): the question, and the records owned by that
// name. A resolver that randomizes the case of its queries (DNS 0x20)
// drops an answer whose question is spelled otherwise.
func askedAs(m *dns.Msg, name string) {
	m.Question[0].Name = name
	for _, s := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range s {
			if h := rr.Header(); strings.EqualFold(h.Name, name) {
				h.Name = name
			}
		}
	}
}
