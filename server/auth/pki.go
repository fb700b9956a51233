package auth

import (
	"bytes"
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
}

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
)

// PKI is the cluster CA and the API server's serving certificate.
type PKI struct {
	caCert  *x509.Certificate
	caPEM   []byte
	caKey   *ecdsa.PrivateKey
	serving atomic.Pointer[tls.Certificate]
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
// first start. The serving certificate is made again only when it expires
// within 30 days, was signed by another CA, or lacks a wanted name; when
// nothing changed, nothing is written.
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
	p := &PKI{}
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
	scert, skey, err := loadPair(srvCrt, srvKey)
	reason := ""
	switch {
	case errors.Is(err, os.ErrNotExist):
		reason = "none yet"
	case err != nil:
		return nil, err
	case scert.NotAfter.Sub(now()) < renewBefore:
		reason = "expires " + scert.NotAfter.Format(time.RFC3339)
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
	keyDER, err := x509.MarshalECPrivateKey(skey)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	tc, err := tls.X509KeyPair(
		append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: scert.Raw}), p.caPEM...),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, fmt.Errorf("pki: serving key pair: %w", err)
	}
	p.serving.Store(&tc)
	return p, nil
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
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
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
		return nil, nil, fmt.Errorf("pki: %s does not belong to %s", keyPath, certPath)
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
