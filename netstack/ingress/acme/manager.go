package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	xacme "golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// Manager holds the router's certificates: it serves them to TLS
// handshakes, answers ACME challenges, and tells the :80 listener which
// hosts to redirect. It is safe for concurrent use.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	apps    *client.Informer[*api.App]
	secrets *client.Informer[*api.Secret] // nil: no default certificate
	acme    *autocert.Manager             // nil: ACME is off
	http01  http.Handler
	kick    chan struct{}
	now     func() time.Time
	reasons reasons // the CA's reasons for failed challenges

	def atomic.Pointer[tls.Certificate] // the operator's certificate, or nil

	mu      sync.Mutex
	domains map[string]bool       // the Apps' custom domains that may be ordered
	hosts   map[string]*hostState // domain -> its certificate or failed order
}

// hostState is what is known of one domain's ACME certificate.
type hostState struct {
	notAfter time.Time // of the certificate served; zero: none yet
	ordering bool      // an order (or a cache load) is under way
	failedAt time.Time // of the last failed order
	loggedAt time.Time // of the last failure logged
}

// New returns a Manager; Run keeps its domains and default certificate
// current.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Log.With("component", "ingress-acme"),
		apps:    client.Shared[*api.App](cfg.Informers, "", api.ListOptions{}),
		kick:    make(chan struct{}, 1),
		now:     time.Now,
		domains: make(map[string]bool),
		hosts:   make(map[string]*hostState),
	}
	if cfg.SecretName != "none" {
		m.secrets = client.Shared[*api.Secret](cfg.Informers, systemNamespace,
			api.ListOptions{FieldSelector: "metadata.name=" + cfg.SecretName})
	}
	if cfg.Email != "" {
		m.acme = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      &observedCache{Cache: autocert.DirCache(cfg.CacheDir), put: m.stored},
			HostPolicy: m.hostPolicy,
			Client:     &xacme.Client{DirectoryURL: cfg.DirectoryURL, HTTPClient: m.reasons.client(cfg.HTTPClient), UserAgent: "skiff-ingress"},
			Email:      cfg.Email,
		}
		// Turns HTTP-01 on; only challenge paths reach it.
		m.http01 = m.acme.HTTPHandler(http.NotFoundHandler())
	}
	return m, nil
}

// ACME reports whether ACME is on (Config.Email was given).
func (m *Manager) ACME() bool { return m.acme != nil }

// HTTPHandler answers ACME's HTTP-01 challenges: pass it to
// ingress.Router.RedirectHandler. It is nil when ACME is off.
func (m *Manager) HTTPHandler() http.Handler {
	if m.http01 == nil {
		return nil
	}
	return m.http01
}

// TLSConfig is the :443 listener's config: ingress.TLSConfig with
// GetCertificate, and ACME's TLS-ALPN-01 protocol when ACME is on.
func (m *Manager) TLSConfig() *tls.Config {
	c := ingress.TLSConfig(m.GetCertificate)
	if m.acme != nil {
		c.NextProtos = append(slices.Clip(c.NextProtos), xacme.ALPNProto)
	}
	return c
}

// Run keeps the Apps' domains and the default certificate current until
// ctx ends, loading cached certificates of new domains. It returns nil
// then.
func (m *Manager) Run(ctx context.Context) error {
	client.KickOnChange(ctx, m.apps, m.kick)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.apps.Run(ctx) })
	if m.secrets != nil {
		m.secrets.AddHandlerUntil(ctx, client.HandlerFuncs[*api.Secret]{
			AddFunc:    m.setDefault,
			UpdateFunc: func(_, s *api.Secret) { m.setDefault(s) },
			DeleteFunc: func(*api.Secret) {
				m.def.Store(nil)
				m.log.Info("default certificate removed", "secret", systemNamespace+"/"+m.cfg.SecretName)
			},
		})
		g.Go(func() error { return m.secrets.Run(ctx) })
	}
	g.Go(func() error {
		if !m.apps.WaitForSync(ctx) {
			return nil
		}
		for {
			m.refresh(ctx)
			select {
			case <-ctx.Done():
				return nil
			case <-m.kick:
			}
		}
	})
	return g.Wait()
}

// refresh takes the domains from the Apps, forgets removed ones and
// loads the cached certificates of new ones.
func (m *Manager) refresh(ctx context.Context) {
	domains := make(map[string]bool)
	for _, a := range m.apps.List() {
		for _, d := range a.Spec.Domains {
			if h := normalize(d); m.orderable(h) {
				domains[h] = true
			}
		}
	}
	var load []string
	m.mu.Lock()
	m.domains = domains
	for h := range m.hosts {
		if !domains[h] {
			delete(m.hosts, h)
		}
	}
	for h := range domains {
		if m.hosts[h] == nil && m.acme != nil {
			m.hosts[h] = &hostState{ordering: true}
			load = append(load, h)
		}
	}
	m.mu.Unlock()
	for _, h := range load {
		go m.loadCached(ctx, h)
	}
}

// loadCached hands a certificate the cache has for h to autocert
// (which starts renewing it); a host with none waits for its first
// request.
func (m *Manager) loadCached(ctx context.Context, h string) {
	if _, err := m.acme.Cache.Get(ctx, h); err != nil {
		if !errors.Is(err, autocert.ErrCacheMiss) {
			m.log.Warn("read cached certificate", "host", h, "dir", m.cfg.CacheDir, "err", err)
		}
		m.mu.Lock()
		if st := m.hosts[h]; st != nil {
			st.ordering = false
		}
		m.mu.Unlock()
		return
	}
	m.order(h)
}

// orderable reports whether an ACME certificate may be ordered for h:
// a plain domain name outside the apps domain (wildcards cannot pass
// HTTP-01; the apps domain's hosts are the operator's wildcard's).
func (m *Manager) orderable(h string) bool {
	if h == "" || !strings.Contains(h, ".") || strings.ContainsAny(h, "*:/ ") || net.ParseIP(h) != nil {
		return false
	}
	return h != m.cfg.AppsDomain && !strings.HasSuffix(h, "."+m.cfg.AppsDomain)
}

// hostPolicy is autocert's: only a current App domain is ordered.
func (m *Manager) hostPolicy(_ context.Context, host string) error {
	h := normalize(host)
	m.mu.Lock()
	ok := m.domains[h]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("acme: %q is not a custom domain of any app (spec.domains): no certificate is ordered for it", h)
	}
	return nil
}

// HasCertificate reports whether host has a certificate to redirect it
// to HTTPS for: pass it to ingress.Router.RedirectHandler. An App domain
// without one is ordered in the background (unless its last order failed
// within RetryAfter) and served over HTTP meanwhile.
func (m *Manager) HasCertificate(host string) bool {
	h := normalize(host)
	if m.defaultCovers(h) {
		return true
	}
	if m.acme == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.hosts[h]
	if st == nil {
		return false
	}
	if st.notAfter.After(m.now()) {
		return true
	}
	if m.mayOrderLocked(st) {
		st.ordering = true
		go m.order(h)
	}
	return false
}

func (m *Manager) mayOrderLocked(st *hostState) bool {
	return !st.ordering && (st.failedAt.IsZero() || m.now().Sub(st.failedAt) >= m.cfg.RetryAfter)
}

// GetCertificate is the :443 listener's tls.Config.GetCertificate: the
// ACME certificate of an App domain (ordered in the handshake when it
// has none and its last order did not fail within RetryAfter), else the
// default certificate when it covers the host. Any other handshake fails
// with the unrecognized_name alert, and nothing is ordered.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.acme != nil && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == xacme.ALPNProto {
		return m.acme.GetCertificate(hello) // a TLS-ALPN-01 validation
	}
	h := normalize(hello.ServerName)
	if m.acme != nil {
		m.mu.Lock()
		st := m.hosts[h]
		try := st != nil && (st.notAfter.After(m.now()) || m.mayOrderLocked(st) || st.ordering)
		m.mu.Unlock()
		if try {
			cert, err := m.acme.GetCertificate(hello)
			m.record(h, cert, err)
			if err == nil {
				return cert, nil
			}
		}
	}
	if m.defaultCovers(h) {
		return m.def.Load(), nil
	}
	m.log.Debug("TLS handshake for a host with no certificate", "host", h, "acme", m.acme != nil)
	// nil, nil: crypto/tls answers unrecognized_name.
	return nil, nil
}

// order gets h's certificate from autocert: from its memory or cache,
// else by an ACME order.
func (m *Manager) order(h string) {
	cert, err := m.acme.GetCertificate(helloFor(h))
	m.record(h, cert, err)
}

// record notes the outcome of getting h's certificate; a failure is
// logged once per hour.
func (m *Manager) record(h string, cert *tls.Certificate, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.hosts[h]
	if st == nil { // no longer an App domain
		return
	}
	st.ordering = false
	if err == nil {
		m.reasons.take(h) // of a challenge type that failed before one passed
		m.haveLocked(h, st, cert.Leaf)
		return
	}
	if why := m.reasons.take(h); why != "" {
		err = fmt.Errorf("%w (the CA said: %s)", err, why)
	}
	now := m.now()
	st.failedAt = now
	if !st.loggedAt.IsZero() && now.Sub(st.loggedAt) < time.Hour {
		m.log.Debug("certificate order failed again (logged once an hour)", "host", h, "err", err)
		return
	}
	st.loggedAt = now
	m.log.Warn("no certificate for host: it is served over HTTP only; check that its DNS points at this node and that ports 80 or 443 reach it",
		"host", h, "ca", m.cfg.DirectoryURL, "retry-in", m.cfg.RetryAfter, "err", err)
}

// stored is told of every certificate autocert caches, renewals
// included.
func (m *Manager) stored(key string, data []byte) {
	if strings.Contains(key, "+") { // the account key, RSA and token certificates
		return
	}
	leaf, ok := leafOf(data)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.hosts[key]; st != nil {
		m.haveLocked(key, st, leaf)
	}
}

// haveLocked notes that h's certificate is leaf (the newest wins).
func (m *Manager) haveLocked(h string, st *hostState, leaf *x509.Certificate) {
	st.failedAt = time.Time{}
	if leaf == nil || !leaf.NotAfter.After(st.notAfter) {
		return
	}
	if st.notAfter.IsZero() {
		m.log.Info("certificate ready", "host", h, "expires", leaf.NotAfter.UTC().Format(time.RFC3339), "issuer", leaf.Issuer.CommonName)
	}
	st.notAfter = leaf.NotAfter
}

// helloFor is a ClientHello for h from a client that takes ECDSA, the
// certificate autocert orders for most clients.
func helloFor(h string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:       h,
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:  []tls.CurveID{tls.CurveP256},
		CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	}
}

// normalize lowercases host and drops its port and trailing dot.
func normalize(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}
