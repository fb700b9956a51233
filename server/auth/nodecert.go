package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// NodeCertRequest is what a node asks to be certified as.
type NodeCertRequest struct {
	NodeName string
	// PublicKey is the node's key (from its CSR).
	PublicKey crypto.PublicKey
}

// IssueNodeCert signs a certificate for a node: CN system:node:NAME in
// group skiff:nodes, good for TLS client and server, so one key both
// calls the API and serves the agent's endpoint. It names no address or
// host: the API server checks an agent by its CN, and a certificate
// without names cannot pass for the API server to a client that checks
// host names.
func (p *PKI) IssueNodeCert(req NodeCertRequest) (*x509.Certificate, error) {
	if req.NodeName == "" {
		return nil, errors.New("pki: node name is required")
	}
	return p.sign(req.PublicKey, pkix.Name{CommonName: NodeUserPrefix + req.NodeName, Organization: []string{GroupNodes}},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, nil, nil)
}

// NewKeyPair makes a key and a certificate for it, signed here, held only
// in memory: the embedded agent's node certificate, and the API server's
// client certificate for calling agents. Made again at every start, they
// cost no disk write.
func (p *PKI) NewKeyPair(subject pkix.Name, usage []x509.ExtKeyUsage, ips []net.IP, dns []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: key: %w", err)
	}
	cert, err := p.sign(&key.PublicKey, subject, usage, ips, dns)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// NodeKeyPair is NewKeyPair for a node (no names, as IssueNodeCert).
func (p *PKI) NodeKeyPair(nodeName string) (tls.Certificate, error) {
	return p.NewKeyPair(pkix.Name{CommonName: NodeUserPrefix + nodeName, Organization: []string{GroupNodes}},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, nil, nil)
}

// APIServerClientPair is the API server's client certificate for agents.
func (p *PKI) APIServerClientPair() (tls.Certificate, error) {
	return p.NewKeyPair(pkix.Name{CommonName: APIServerUser}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
}

func (p *PKI) sign(pub crypto.PublicKey, subject pkix.Name, usage []x509.ExtKeyUsage, ips []net.IP, dns []string) (*x509.Certificate, error) {
	if pub == nil {
		return nil, errors.New("pki: public key is required")
	}
	sn, err := serial()
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	now := p.now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      subject,
		NotBefore:    now.Add(-p.backdate()),
		NotAfter:     now.Add(p.validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		IPAddresses:  ips,
		DNSNames:     dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, pub, p.caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: sign %s: %w", subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// CertIdentity is the identity a verified client certificate carries: its
// common name, and its organizations as groups.
func CertIdentity(c *x509.Certificate) *Identity {
	return &Identity{Name: c.Subject.CommonName, Groups: append([]string(nil), c.Subject.Organization...)}
}

// ParseCSR reads a PEM certificate request and checks its signature.
func ParseCSR(pemData []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemData)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr: not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	return csr, nil
}

// EncodeCert is a certificate as PEM.
func EncodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// RenewingPair is a key pair held in memory that replaces itself with a
// fresh one from make once RenewAt has passed: the embedded agent's node
// certificate and the API server's client certificate for agents, read
// per TLS handshake through Get, so they never run out on a server that
// is never restarted.
type RenewingPair struct {
	issue func() (tls.Certificate, error)
	now   func() time.Time
	mu    sync.Mutex
	cur   *tls.Certificate
	// failed is when a renewal last failed: the next is tried a retry
	// interval later, not at every handshake.
	failed time.Time
	log    *slog.Logger
}

// NewRenewingPair makes the first pair with issue.
func NewRenewingPair(issue func() (tls.Certificate, error), log *slog.Logger) (*RenewingPair, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pair, err := issue()
	if err != nil {
		return nil, err
	}
	return &RenewingPair{issue: issue, now: time.Now, cur: &pair, log: log}, nil
}

// Get returns the current pair, renewed first if it is due. A renewal
// that fails keeps the old pair (good until it expires) and is tried
// again a minute later (sooner for short lifetimes).
func (r *RenewingPair) Get() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	leaf := r.cur.Leaf
	retry := min(time.Minute, leaf.NotAfter.Sub(leaf.NotBefore)/20)
	if now.Before(RenewAt(leaf)) || now.Sub(r.failed) < retry {
		return r.cur
	}
	pair, err := r.issue()
	if err != nil {
		r.failed = now
		r.log.Error("renewing a certificate; keeping the current one", "subject", leaf.Subject.CommonName,
			"expires", leaf.NotAfter.Format(time.RFC3339), "retry-in", retry, "err", err)
		return r.cur
	}
	r.log.Info("renewed a certificate", "subject", pair.Leaf.Subject.CommonName, "expires", pair.Leaf.NotAfter.Format(time.RFC3339))
	r.cur = &pair
	return r.cur
}
