package dns

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestNameservers(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file string
		want       []string
	}{
		{"plain", "nameserver 192.0.2.53\nnameserver 198.51.100.53\n", []string{"192.0.2.53:53", "198.51.100.53:53"}},
		{"systemd stub", "# resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n", nil},
		{"loopback and unspecified skipped", "nameserver 127.0.0.1\nnameserver ::1\nnameserver 0.0.0.0\nnameserver 10.0.0.2\nnameserver fd00::53\n",
			[]string{"10.0.0.2:53", "[fd00::53]:53"}},
		{"comments and junk", "; x\n# y\nnameserver not-an-ip\ndomain lan\nnameserver 10.0.0.3 # z\n", []string{"10.0.0.3:53"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(p, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := nameservers(p, slog.New(slog.DiscardHandler)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if got := nameservers(filepath.Join(dir, "missing"), slog.New(slog.DiscardHandler)); got != nil {
		t.Errorf("missing file: got %v, want none", got)
	}
}

// The upstreams come from resolv.conf; a stub-only resolv.conf sends us
// to systemd-resolved's upstream file, then to the fallbacks; a change to
// the file is picked up.
func TestUpstreamChoice(t *testing.T) {
	dir := t.TempDir()
	resolv, stub := filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "stub.conf")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ForwardConfig{ResolvConf: resolv, StubResolvConf: stub}
	cfg.setDefaults()
	write(resolv, "nameserver 127.0.0.53\n")
	f := newForwarder(cfg, slog.New(slog.DiscardHandler))
	if got, want := f.Upstreams(), []string{"8.8.8.8:53", "1.1.1.1:53"}; !slices.Equal(got, want) {
		t.Errorf("stub only, no resolved file: got %v, want %v", got, want)
	}
	write(stub, "nameserver 192.0.2.1\nnameserver 192.0.2.2\n")
	f.reloadIfChanged()
	if got, want := f.Upstreams(), []string{"192.0.2.1:53", "192.0.2.2:53"}; !slices.Equal(got, want) {
		t.Errorf("stub with resolved's file: got %v, want %v", got, want)
	}
	write(resolv, "nameserver 198.51.100.7\nnameserver 127.0.0.53\n")
	os.Chtimes(resolv, time.Now().Add(time.Second), time.Now().Add(time.Second))
	f.reloadIfChanged()
	if got, want := f.Upstreams(), []string{"198.51.100.7:53"}; !slices.Equal(got, want) {
		t.Errorf("after resolv.conf changed: got %v, want %v", got, want)
	}

	cfg.Upstreams = []string{"192.0.2.9", "[2001:db8::9]:5353"}
	f = newForwarder(cfg, slog.New(slog.DiscardHandler))
	if got, want := f.Upstreams(), []string{"192.0.2.9:53", "[2001:db8::9]:5353"}; !slices.Equal(got, want) {
		t.Errorf("configured: got %v, want %v", got, want)
	}
}

func TestCacheAging(t *testing.T) {
	c := newCache(2, 30*time.Second)
	now := time.Unix(1000, 0)
	msg := func(name string, ttl uint32) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Response = true
		rr, _ := dns.NewRR(name + " 60 IN A 192.0.2.1")
		rr.Header().Ttl = ttl
		m.Answer = []dns.RR{rr}
		return m
	}
	a := msg("a.example.", 60)
	c.put(cacheKeyOf(a), a, now)
	if m := c.get(cacheKeyOf(a), now.Add(10*time.Second)); m == nil || m.Answer[0].Header().Ttl != 50 {
		t.Errorf("after 10 s: got %v, want TTL 50", m)
	}
	if m := c.get(cacheKeyOf(a), now.Add(30*time.Second)); m != nil {
		t.Errorf("after the 30 s cap: got %v, want a miss", m)
	}
	short := msg("b.example.", 3)
	c.put(cacheKeyOf(short), short, now)
	if m := c.get(cacheKeyOf(short), now.Add(3*time.Second)); m != nil {
		t.Errorf("after its own TTL: got %v, want a miss", m)
	}
	zero := msg("c.example.", 0)
	c.put(cacheKeyOf(zero), zero, now)
	if m := c.get(cacheKeyOf(zero), now); m != nil {
		t.Error("TTL 0 was cached")
	}
	fail := msg("d.example.", 60)
	fail.Rcode = dns.RcodeServerFailure
	c.put(cacheKeyOf(fail), fail, now)
	if m := c.get(cacheKeyOf(fail), now); m != nil {
		t.Error("SERVFAIL was cached")
	}
	nodata := msg("e.example.", 60)
	nodata.Answer = nil
	c.put(cacheKeyOf(nodata), nodata, now)
	if m := c.get(cacheKeyOf(nodata), now); m != nil {
		t.Error("NODATA without SOA was cached")
	}
	for i := range 5 {
		m := msg(string(rune('f'+i))+".example.", 60)
		c.put(cacheKeyOf(m), m, now)
	}
	if n := len(c.entries); n > 2 {
		t.Errorf("cache of 2 holds %d", n)
	}
	// DO and CD answers are kept apart.
	do := msg("a.example.", 60)
	do.SetEdns0(1232, true)
	if cacheKeyOf(do) == cacheKeyOf(a) {
		t.Error("a DO query shares the key of a plain one")
	}
}

func TestConfigValidate(t *testing.T) {
	src := sourceFunc(nil)
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"minimal", Config{Addr: "10.43.0.10:53", Source: src}, ""},
		{"no source", Config{Addr: "10.43.0.10:53"}, "source is required"},
		{"no addr", Config{Source: src}, "addr is required"},
		{"bad addr", Config{Addr: "10.43.0.10", Source: src}, `addr "10.43.0.10"`},
		{"bad zone", Config{Addr: ":53", Source: src, Zone: "a..b"}, `zone "a..b"`},
		{"bad ttl", Config{Addr: ":53", Source: src, TTL: -time.Second}, "ttl"},
		{"bad upstream", Config{Addr: ":53", Source: src, Forward: ForwardConfig{Upstreams: []string{"dns.google"}}}, `"dns.google"`},
		{"bad upstream port", Config{Addr: ":53", Source: src, Forward: ForwardConfig{Upstreams: []string{"1.1.1.1:0"}}}, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
}

type sourceFunc func()

func (sourceFunc) Run(ctx context.Context, u Updater) error { <-ctx.Done(); return nil }
