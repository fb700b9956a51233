package client

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
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/auth"
)

// JoinRequest is the body of POST /join/v1/node.
type JoinRequest struct {
	NodeName string `json:"nodeName"`
	// CSR is a PEM certificate request; its IP and DNS SANs go into the
	// certificate.
	CSR string `json:"csr"`
}

// JoinResponse is the answer: the node's certificate and the CA.
type JoinResponse struct {
	Certificate          string `json:"certificate"`
	CertificateAuthority string `json:"certificateAuthority"`
}

// LeaseRequest is the body of PUT /api/v1/nodes/{name}/lease.
type LeaseRequest struct {
	LeaseDurationSeconds int `json:"leaseDurationSeconds"`
}

// JoinNode names the node that joins.
type JoinNode struct {
	Name string
}

// ErrCAMismatch is the answer when the server's CA is not the one the
// token pins: nothing secret was sent.
var ErrCAMismatch = errors.New("the server's CA does not match the join token")

// Join makes a node of this machine. It fetches the server's CA without
// trusting it, accepts it only if its SHA-256 is the token's, and only
// then — over TLS verified against that CA — sends the join secret with a
// fresh key's certificate request. The Config it returns authenticates by
// the issued certificate; the token is not kept.
func Join(ctx context.Context, server string, token auth.JoinToken, node JoinNode) (Config, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Config{}, fmt.Errorf("join: server %q must be an https:// URL", server)
	}
	caPEM, err := fetchPinnedCA(ctx, u, token.CAHash)
	if err != nil {
		return Config{}, err
	}
	key, csr, err := nodeCSR(node.Name)
	if err != nil {
		return Config{}, fmt.Errorf("join: %w", err)
	}
	body, _ := json.Marshal(JoinRequest{NodeName: node.Name, CSR: csr})
	h, err := New(Config{Server: server, CA: string(caPEM), Token: token.Secret})
	if err != nil {
		return Config{}, err
	}
	defer h.hc.CloseIdleConnections()
	resp, err := h.do(ctx, http.MethodPost, "/join/v1/node", nil, body, "application/json")
	if err != nil {
		return Config{}, fmt.Errorf("join: %w", err)
	}
	defer resp.Body.Close()
	cfg := Config{Server: server, CA: string(caPEM)}
	if err := cfg.takeNodeCert(resp.Body, key, node.Name); err != nil {
		return Config{}, fmt.Errorf("join: %w", err)
	}
	return cfg, nil
}

// nodeCSR makes a fresh key and a certificate request for node name.
func nodeCSR(name string) (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: auth.NodeUserPrefix + name, Organization: []string{auth.GroupNodes}},
	}, key)
	if err != nil {
		return nil, "", fmt.Errorf("certificate request: %w", err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// takeNodeCert reads a JoinResponse from body into c's client
// certificate and key, checking that the certificate is key's, signed by
// c's CA, and for node name.
func (c *Config) takeNodeCert(body io.Reader, key *ecdsa.PrivateKey, name string) error {
	var jr JoinResponse
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&jr); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	certPEM, keyPEM := jr.Certificate, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return fmt.Errorf("the node certificate the server issued does not fit this node's key: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(c.CA))
	// Checked as of its own start: this machine's clock may be behind
	// the server's.
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		CurrentTime: pair.Leaf.NotBefore.Add(time.Second)}); err != nil {
		return fmt.Errorf("the node certificate the server issued is not signed by its CA: %w", err)
	}
	if want := auth.NodeUserPrefix + name; pair.Leaf.Subject.CommonName != want {
		return fmt.Errorf("the server issued a certificate for %q, not %q", pair.Leaf.Subject.CommonName, want)
	}
	c.ClientCertificate, c.ClientKey = certPEM, keyPEM
	return nil
}

// RenewNodeCert asks the server (POST /join/v1/renew, authenticated by
// the node's current certificate) for a new certificate for a fresh key,
// and returns cfg with it. Nothing changes on the client: the caller
// saves the config, then SetClientCertificate.
func (h *HTTP) RenewNodeCert(ctx context.Context, cfg Config, node string) (Config, error) {
	key, csr, err := nodeCSR(node)
	if err != nil {
		return cfg, fmt.Errorf("renew node certificate: %w", err)
	}
	body, _ := json.Marshal(JoinRequest{NodeName: node, CSR: csr})
	resp, err := h.do(ctx, http.MethodPost, "/join/v1/renew", nil, body, "application/json")
	if err != nil {
		return cfg, fmt.Errorf("renew node certificate: %w", err)
	}
	defer resp.Body.Close()
	if err := cfg.takeNodeCert(resp.Body, key, node); err != nil {
		return cfg, fmt.Errorf("renew node certificate: %w", err)
	}
	return cfg, nil
}

// fetchPinnedCA reads GET /cacerts over TLS it does not yet trust and
// returns the CA only if it hashes to want (any, when want is "": the
// caller asks a person) and the server's own certificate is signed by it.
func fetchPinnedCA(ctx context.Context, u *url.URL, want string) ([]byte, error) {
	var peer []*x509.Certificate
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // checked below, against the pinned hash
			VerifyConnection: func(cs tls.ConnectionState) error {
				peer = cs.PeerCertificates
				return nil
			},
		},
		TLSHandshakeTimeout: 10 * time.Second,
	}
	defer tr.CloseIdleConnections()
	cu := *u
	cu.Path, cu.RawQuery = "/cacerts", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cu.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("join: fetching the CA from %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("join: fetching the CA from %s: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("join: %s answered GET /cacerts with %s; is it a skiff server?", u.Host, resp.Status)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("join: %s sent no PEM certificate at /cacerts; is it a skiff server?", u.Host)
	}
	sum := sha256.Sum256(block.Bytes)
	if got := hex.EncodeToString(sum[:]); want != "" && !strings.EqualFold(got, want) {
		return nil, fmt.Errorf("join: %w: the server's CA has sha256 %s, the token pins %s; nothing was sent — check the token, or whether something else answers at %s",
			ErrCAMismatch, got, want, u.Host)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("join: the server's CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if len(peer) == 0 {
		return nil, errors.New("join: the server showed no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	if _, err := peer[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter}); err != nil {
		return nil, fmt.Errorf("join: %w: the server's certificate is not signed by the CA it sent: %v", ErrCAMismatch, err)
	}
	return bytes.TrimSpace(data), nil
}

// RenewLease tells the server this node is alive for d.
func (h *HTTP) RenewLease(ctx context.Context, node string, d time.Duration) error {
	body, _ := json.Marshal(LeaseRequest{LeaseDurationSeconds: int(d / time.Second)})
	resp, err := h.do(ctx, http.MethodPut, objectPath("nodes", "", node, "lease"), nil, body, "application/json")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Lease is a node's lease as the server holds it.
type Lease struct {
	Holder               string    `json:"holderIdentity"`
	LeaseDurationSeconds int       `json:"leaseDurationSeconds"`
	RenewTime            time.Time `json:"renewTime"`
	AcquireTime          time.Time `json:"acquireTime"`
}

// GetLease reads a node's lease.
func (h *HTTP) GetLease(ctx context.Context, node string) (Lease, error) {
	var l Lease
	resp, err := h.do(ctx, http.MethodGet, objectPath("nodes", "", node, "lease"), nil, nil, "")
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&l)
	return l, err
}
