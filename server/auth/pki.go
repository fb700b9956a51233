package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/server/store/atomicfile"
)

// PKIConfig tunes EnsurePKI.
type PKIConfig struct {
	// ExtraSANs are DNS names or IPs to add to the serving certificate.
	ExtraSANs []string
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// CertValidity is how long the serving certificate and the
	// certificates signed for nodes and the API server last (default
	// DefaultCertValidity). Each is renewed, without a restart, once two
	// thirds of it have passed (RenewAt).
	CertValidity time.Duration
}

// DefaultCertValidity is a certificate's lifetime unless configured: a
// year, renewed after eight months.
const DefaultCertValidity = 365 * 24 * time.Hour

// MinCertValidity keeps renewals from becoming a busy loop.
const MinCertValidity = 6 * time.Second

const caValidity = 10 * 365 * 24 * time.Hour

// backdate is how far before now a certificate starts, for clocks a
// little behind: an hour, or a tenth of a short validity.
func (p *PKI) backdate() time.Duration { return min(time.Hour, p.validity/10) }

// RenewAt is when c should be replaced: after two thirds of its
// lifetime, which leaves a third (four months of a year) to retry in.
func RenewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// PKI is the cluster CA and the API server's serving certificate.
type PKI struct {
	caCert   *x509.Certificate
	caPEM    []byte
	caKey    *ecdsa.PrivateKey
	serving  atomic.Pointer[tls.Certificate]
	validity time.Duration
	now      func() time.Time
	// Where the serving pair lives and the names it carries, for renewal.
	srvCrt, srvKey string
	hostname       string
	dnsNames       []string
	ips            []net.IP
}

// CAPEM is the CA certificate, PEM-encoded.
func (p *PKI) CAPEM() []byte { return p.caPEM }

// CAHash is the hex SHA-256 of the CA certificate's DER, which join tokens
// pin.
func (p *PKI) CAHash() string {
	sum := sha256.Sum256(p.caCert.Raw)
	return hex.EncodeToString(sum[:])
}

// CAPool is a pool holding only the CA.
func (p *PKI) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	return pool
}

// ServerTLSConfig serves the current serving certificate; it is read per
// handshake, so a renewed one takes effect without a restart. A client
// may present a certificate signed by the CA (nodes do); one signed by
// anyone else fails the handshake.
func (p *PKI) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  p.CAPool(),
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return p.serving.Load(), nil
		},
	}
}

// EnsurePKI loads the CA and serving certificate from dir, creating them on
// first start. The serving certificate is made again only when it is due
// for renewal (RenewAt), lasts longer than the configured validity, was
// signed by another CA, lacks a wanted name, or does not match its key;
// when nothing changed, nothing is written.
func EnsurePKI(dir string, cfg PKIConfig, log *slog.Logger) (*PKI, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	p := &PKI{validity: cfg.CertValidity, now: now}
	if p.validity == 0 {
		p.validity = DefaultCertValidity
	}
	if p.validity < MinCertValidity {
		return nil, fmt.Errorf("pki: certificate validity %s: at least %s", p.validity, MinCertValidity)
	}
	caCrt, caKey := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	cert, key, err := loadPair(caCrt, caKey)
	switch {
	case errors.Is(err, os.ErrNotExist):
		log.Info("creating cluster certificate authority", "dir", dir)
		if cert, key, err = newCA(now()); err != nil {
			return nil, err
		}
		if err := writePair(caCrt, caKey, cert, key); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	p.caCert, p.caKey = cert, key
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})

	hostname, _ := os.Hostname()
	dnsNames, ips := wantedSANs(hostname, cfg.ExtraSANs)
	srvCrt, srvKey := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	p.srvCrt, p.srvKey, p.hostname, p.dnsNames, p.ips = srvCrt, srvKey, hostname, dnsNames, ips
	scert, skey, err := loadPair(srvCrt, srvKey)
	reason := ""
	switch {
	case errors.Is(err, os.ErrNotExist):
		reason = "none yet"
	case errors.Is(err, errPairMismatch):
		reason = "its key is another's (a renewal was interrupted)"
	case err != nil:
		return nil, err
	case !now().Before(RenewAt(scert)):
		reason = "due for renewal; expires " + scert.NotAfter.Format(time.RFC3339)
	case scert.NotAfter.Sub(scert.NotBefore) > p.validity+2*time.Hour:
		reason = "lasts longer than the configured validity " + p.validity.String()
	case scert.CheckSignatureFrom(p.caCert) != nil:
		reason = "signed by another CA"
	default:
		if missing := missingSANs(scert, dnsNames, ips); missing != "" {
			reason = "lacks " + missing
		}
	}
	if reason != "" {
		log.Info("issuing serving certificate", "reason", reason)
		if scert, skey, err = p.issueServing(now(), hostname, dnsNames, ips); err != nil {
			return nil, err
		}
		if err := writePair(srvCrt, srvKey, scert, skey); err != nil {
			return nil, err
		}
	}
	if err := p.useServing(scert, skey); err != nil {
		return nil, err
	}
	return p, nil
}

// useServing makes cert (and key) the one ServerTLSConfig serves.
func (p *PKI) useServing(cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	tc, err := tls.X509KeyPair(
		append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), p.caPEM...),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return fmt.Errorf("pki: serving key pair: %w", err)
	}
	p.serving.Store(&tc)
	return nil
}

// ServingCertificate is the serving certificate in use.
func (p *PKI) ServingCertificate() *x509.Certificate { return p.serving.Load().Leaf }

// RunRenewal renews the serving certificate at RenewAt, writes it (the
// key first: a start after a crash between the two files sees a pair
// that does not match and issues another) and serves it from the next
// handshake on; connections already open keep theirs. A failed renewal
// is tried again a minute later (sooner for short validities). It runs
// until ctx ends.
func (p *PKI) RunRenewal(ctx context.Context, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	retry := min(time.Minute, p.validity/20)
	for {
		// Woken at least hourly to look at the wall clock again: the
		// timer's monotonic clock stops while a board is suspended.
		if wait := RenewAt(p.ServingCertificate()).Sub(p.now()); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(min(wait, time.Hour)):
			}
			continue
		}
		cert, key, err := p.issueServing(p.now(), p.hostname, p.dnsNames, p.ips)
		if err == nil {
			err = writePair(p.srvCrt, p.srvKey, cert, key)
		}
		if err == nil {
			err = p.useServing(cert, key)
		}
		if err != nil {
			log.Error("renewing the serving certificate; trying again", "in", retry, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(retry):
			}
			continue
		}
		log.Info("renewed the serving certificate", "serial", cert.SerialNumber.Text(16), "expires", cert.NotAfter.Format(time.RFC3339))
	}
}

// wantedSANs are the names a client on this machine or the LAN may use.
func wantedSANs(hostname string, extra []string) ([]string, []net.IP) {
	dns := []string{"localhost"}
	if hostname != "" {
		dns = append(dns, hostname)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				ips = append(ips, n.IP)
			}
		}
	}
	for _, s := range extra {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else if s != "" {
			dns = append(dns, s)
		}
	}
	return dedupe(dns), dedupeIPs(ips)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func dedupeIPs(s []net.IP) []net.IP {
	seen := map[string]bool{}
	var out []net.IP
	for _, v := range s {
		if !seen[v.String()] {
			seen[v.String()] = true
			out = append(out, v)
		}
	}
	return out
}

func missingSANs(c *x509.Certificate, dns []string, ips []net.IP) string {
	have := map[string]bool{}
	for _, d := range c.DNSNames {
		have[d] = true
	}
	for _, ip := range c.IPAddresses {
		have[ip.String()] = true
	}
	for _, d := range dns {
		if !have[d] {
			return d
		}
	}
	for _, ip := range ips {
		if !have[ip.String()] {
			return ip.String()
		}
	}
	return ""
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: ca key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("skiff-ca@%d", now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func (p *PKI) issueServing(now time.Time, hostname string, dns []string, ips []net.IP) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: serving key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	cn := hostname
	if cn == "" {
		cn = "skiff-server"
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-p.backdate()),
		NotAfter:     now.Add(p.validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: serving certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// errPairMismatch: a key file that is not the certificate's.
var errPairMismatch = errors.New("key and certificate do not match")

// loadPair reads a PEM certificate and EC key; os.ErrNotExist if either is
// missing.
func loadPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %w", err)
	}
	cblock, _ := pem.Decode(cb)
	if cblock == nil || cblock.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("pki: %s is not a PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	kblock, _ := pem.Decode(kb)
	if kblock == nil {
		return nil, nil, fmt.Errorf("pki: %s is not a PEM key", keyPath)
	}
	key, err := x509.ParseECPrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", keyPath, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("pki: %s does not belong to %s: %w", keyPath, certPath, errPairMismatch)
	}
	return cert, key, nil
}

func writePair(certPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := atomicfile.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := atomicfile.WriteFile(certPath, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
