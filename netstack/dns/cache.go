package dns

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// cache keeps forwarded answers (NOERROR and NXDOMAIN, not truncated)
// for the smallest TTL in them, at most maxTTL. When full, an arbitrary
// entry makes room: the cache is small and short-lived, and a random
// eviction keeps it free of bookkeeping.
type cache struct {
	size   int
	maxTTL time.Duration

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	msg     *dns.Msg // never modified; copied on the way out
	stored  time.Time
	expires time.Time
}

func newCache(size int, maxTTL time.Duration) *cache {
	return &cache{size: size, maxTTL: maxTTL, entries: make(map[string]cacheEntry, size)}
}

// cacheKeyOf: the question, and the flags that change an answer.
func cacheKeyOf(m *dns.Msg) string {
	q := m.Question[0]
	var b strings.Builder
	b.WriteString(strings.ToLower(q.Name))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(int(q.Qtype)))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(int(q.Qclass)))
	if m.CheckingDisabled {
		b.WriteString("/cd")
	}
	if o := m.IsEdns0(); o != nil && o.Do() {
		b.WriteString("/do")
	}
	return b.String()
}

// get returns a copy of the cached answer with its TTLs aged, or nil.
func (c *cache) get(key string, now time.Time) *dns.Msg {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && !now.Before(e.expires) {
		delete(c.entries, key)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, s := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range s {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			h.Ttl = max(h.Ttl, age) - age
		}
	}
	return m
}

// put stores m if it may be cached.
func (c *cache) put(key string, m *dns.Msg, now time.Time) {
	if m.Truncated || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
		return
	}
	ttl, soa := c.maxTTL, false
	for _, s := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range s {
			t := time.Duration(rr.Header().Ttl) * time.Second
			if rr, ok := rr.(*dns.SOA); ok && len(m.Answer) == 0 {
				// Negative answer: RFC 2308, the SOA's minimum bounds it.
				t = min(t, time.Duration(rr.Minttl)*time.Second)
				soa = true
			}
			ttl = min(ttl, t)
		}
	}
	if ttl <= 0 || (len(m.Answer) == 0 && !soa) {
		return // a negative answer without an SOA is not cached (RFC 2308)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cacheEntry{msg: m.Copy(), stored: now, expires: now.Add(ttl)}
}

func (c *cache) clear() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
