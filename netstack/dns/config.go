package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config configures a Server.
type Config struct {
	// Zone is the cluster domain the server answers for (default
	// skiff.local).
	Zone string
	// Addr is where to listen, over both UDP and TCP on one port, e.g.
	// "10.43.0.10:53" ("127.0.0.1:0" picks a free port). Ignored when
	// PacketConn or Listener is set.
	Addr string
	// PacketConn and Listener, when set, are served instead of listening
	// on Addr (either may be nil to serve only the other). Run closes them.
	PacketConn net.PacketConn
	Listener   net.Listener
	// Source feeds the names; required (NewInformerSource in the agent).
	Source Source
	// TTL of answers in the zone, and of NXDOMAIN/NODATA (default 5 s).
	TTL time.Duration
	// Forward configures the forwarding of names outside the zone.
	Forward ForwardConfig
	Log     *slog.Logger
}

// ForwardConfig configures where and how names outside the zone go.
type ForwardConfig struct {
	// ResolvConf is the node's resolver file (default /etc/resolv.conf).
	// Loopback nameservers in it are skipped: pods cannot reach them.
	ResolvConf string
	// StubResolvConf is read when ResolvConf names only loopback servers
	// (default /run/systemd/resolve/resolv.conf, systemd-resolved's
	// real upstreams).
	StubResolvConf string
	// Upstreams, when set, are used instead of any resolv.conf
	// ("host" or "host:port").
	Upstreams []string
	// Fallback is used when no file names a usable server (default
	// 8.8.8.8 and 1.1.1.1).
	Fallback []string
	// Timeout of one attempt at one upstream (default 2 s).
	Timeout time.Duration
	// CacheSize is how many forwarded answers are kept (default 1024;
	// negative: no cache).
	CacheSize int
	// CacheMaxTTL caps how long a forwarded answer is kept (default 30 s).
	CacheMaxTTL time.Duration
	// ReloadInterval is how often ResolvConf is checked for changes
	// (default 10 s).
	ReloadInterval time.Duration
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Source == nil {
		errs = append(errs, errors.New("dns: source is required"))
	}
	if c.Addr == "" && c.PacketConn == nil && c.Listener == nil {
		errs = append(errs, errors.New("dns: addr is required (e.g. 10.43.0.10:53) unless a packet conn or listener is given"))
	}
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			errs = append(errs, fmt.Errorf("dns: addr %q: %w", c.Addr, err))
		}
	}
	if z := strings.Trim(c.Zone, "."); c.Zone != "" {
		if _, ok := dns.IsDomainName(z); !ok || z == "" {
			errs = append(errs, fmt.Errorf("dns: zone %q is not a domain name", c.Zone))
		}
	}
	if c.TTL < 0 || c.TTL > time.Hour {
		errs = append(errs, fmt.Errorf("dns: ttl %v must be between 0 and 1h", c.TTL))
	}
	if err := c.Forward.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate reports what is wrong with c.
func (c *ForwardConfig) Validate() error {
	var errs []error
	for _, u := range append(append([]string(nil), c.Upstreams...), c.Fallback...) {
		if _, err := upstreamAddr(u); err != nil {
			errs = append(errs, fmt.Errorf("dns: upstream: %w", err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("dns: forward timeout %v is negative", c.Timeout))
	}
	if c.CacheMaxTTL < 0 {
		errs = append(errs, fmt.Errorf("dns: cache max ttl %v is negative", c.CacheMaxTTL))
	}
	if c.ReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("dns: reload interval %v is negative", c.ReloadInterval))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Zone == "" {
		c.Zone = "skiff.local"
	}
	if c.TTL == 0 {
		c.TTL = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.Forward.setDefaults()
}

func (c *ForwardConfig) setDefaults() {
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.StubResolvConf == "" {
		c.StubResolvConf = "/run/systemd/resolve/resolv.conf"
	}
	if len(c.Fallback) == 0 {
		c.Fallback = []string{"8.8.8.8", "1.1.1.1"}
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	if c.CacheSize == 0 {
		c.CacheSize = 1024
	}
	if c.CacheMaxTTL == 0 {
		c.CacheMaxTTL = 30 * time.Second
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = 10 * time.Second
	}
}

// upstreamAddr turns "host" or "host:port" into "host:port", port 53 by
// default.
func upstreamAddr(s string) (string, error) {
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q is neither an IP nor IP:port", s)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%q: %q is not an IP address", s, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not 1-65535", s, port)
	}
	return net.JoinHostPort(ip.String(), port), nil
}
