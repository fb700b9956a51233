package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"
)

// Server is the cluster DNS server of one node.
type Server struct {
	cfg   Config
	zone  string // lowercased FQDN: "skiff.local."
	ttl   uint32
	index *index
	fwd   *forwarder
	log   *slog.Logger

	ready chan struct{}
	mu    sync.Mutex
	addr  string
}

var _ dns.Handler = (*Server)(nil)

// New returns a Server; Run serves it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	log := cfg.Log.With("component", "dns")
	zone := dns.CanonicalName(cfg.Zone)
	return &Server{
		cfg:   cfg,
		zone:  zone,
		ttl:   uint32(cfg.TTL / time.Second),
		index: newIndex(zone),
		fwd:   newForwarder(cfg.Forward, log),
		log:   log,
		ready: make(chan struct{}),
	}, nil
}

// Ready is closed once the server listens; Addr is then known.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address served (UDP and TCP share the port when the
// server listened on Config.Addr itself); "" before Ready.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Synced reports whether the source has delivered its first full list;
// until then names in the zone are SERVFAIL.
func (s *Server) Synced() bool { return s.index.synced.Load() }

// Upstreams are the servers names outside the zone go to, in order.
func (s *Server) Upstreams() []string { return s.fwd.Upstreams() }

// Run listens (unless given conns), feeds the index from the source and
// serves UDP and TCP until ctx ends; it then stops serving, closes the
// listeners and returns nil. It returns an error if it cannot listen or a
// listener fails. Run a Server once.
func (s *Server) Run(ctx context.Context) error {
	pc, ln := s.cfg.PacketConn, s.cfg.Listener
	if pc == nil && ln == nil {
		var err error
		if pc, ln, err = listen(s.cfg.Addr); err != nil {
			return err
		}
	}
	if pc != nil {
		s.setAddr(pc.LocalAddr().String())
	} else {
		s.setAddr(ln.Addr().String())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.cfg.Source.Run(gctx, s.index); err != nil {
			return fmt.Errorf("dns source: %w", err)
		}
		return nil
	})
	g.Go(func() error { s.watchResolvConf(gctx); return nil })
	var started []chan struct{}
	if pc != nil {
		srv := &dns.Server{PacketConn: pc, Handler: s, UDPSize: dns.DefaultMsgSize}
		started = append(started, s.serve(gctx, g, srv, "udp"))
	}
	if ln != nil {
		srv := &dns.Server{Listener: ln, Handler: s, ReadTimeout: 5 * time.Second}
		started = append(started, s.serve(gctx, g, srv, "tcp"))
	}
	go func() {
		for _, c := range started {
			select {
			case <-c:
			case <-gctx.Done():
				return
			}
		}
		s.log.Info("dns serving", "addr", s.Addr(), "zone", s.zone, "upstreams", s.fwd.Upstreams())
		close(s.ready)
	}()
	return g.Wait()
}

func (s *Server) setAddr(a string) {
	s.mu.Lock()
	s.addr = a
	s.mu.Unlock()
	s.fwd.setSelf(a)
}

// serve runs srv in g until ctx ends; the returned channel is closed once
// it serves.
func (s *Server) serve(ctx context.Context, g *errgroup.Group, srv *dns.Server, network string) chan struct{} {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	g.Go(func() error {
		errc := make(chan error, 1)
		go func() { errc <- srv.ActivateAndServe() }()
		select {
		case err := <-errc:
			return fmt.Errorf("dns serve %s: %w", network, err)
		case <-started:
		}
		select {
		case err := <-errc:
			return fmt.Errorf("dns serve %s: stopped: %w", network, err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.ShutdownContext(sctx); err != nil {
			s.log.Warn("dns shutdown", "net", network, "err", err)
		}
		<-errc
		if srv.Listener != nil {
			srv.Listener.Close()
		}
		return nil
	})
	return started
}

// watchResolvConf re-reads the node's resolver files when they change.
func (s *Server) watchResolvConf(ctx context.Context) {
	t := time.NewTicker(s.cfg.Forward.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.fwd.reloadIfChanged()
		}
	}
}

// listen binds UDP and TCP on one port. With port 0 the UDP socket picks
// it and TCP follows; if that port is taken for TCP it tries again.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns listen %q: %w", addr, err)
	}
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns listen udp %s: %w", addr, err)
		}
		p := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || try == 10 {
			return nil, nil, fmt.Errorf("dns listen tcp %s: %w", net.JoinHostPort(host, p), err)
		}
	}
}

// inZone reports whether name (lowercased FQDN) is the zone or under it.
func (s *Server) inZone(name string) bool {
	return name == s.zone || (strings.HasSuffix(name, s.zone) && name[len(name)-len(s.zone)-1] == '.')
}
