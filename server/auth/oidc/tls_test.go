package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// TestProviderTLSWithCAFile: a provider whose certificate comes from a
// private CA is reached only when CAFile names that CA.
func TestProviderTLSWithCAFile(t *testing.T) {
	caFile, tlsCfg := testCA(t)
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(tls.NewListener(ln, tlsCfg), tlsCfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })

	cfg := mockConfig(m)
	if _, err := newTestProvider(t, cfg).Start(context.Background(), ""); !errdefs.IsUnavailable(err) {
		t.Errorf("Start without the CA file: %v, want unavailable (unknown authority)", err)
	}

	cfg.CAFile = caFile
	p := newTestProvider(t, cfg)
	authURL, err := p.Start(context.Background(), "")
	if err != nil {
		t.Fatalf("Start with the CA file: %v", err)
	}
	// The browser trusts the CA too.
	m.QueueUser(alice)
	browser := *noRedirects
	browser.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlsCfg.RootCAs}}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize over TLS: %s, no redirect: %v", resp.Status, err)
	}
	claims, _, err := p.Finish(context.Background(), loc.Query())
	if err != nil {
		t.Fatalf("Finish over TLS: %v", err)
	}
	if claims.Username != "alice" || claims.Issuer != m.Issuer() {
		t.Errorf("claims over TLS = %+v, want alice from %s", claims, m.Issuer())
	}
}

func TestAuthStyle(t *testing.T) {
	tests := []struct {
		secret  string
		methods []string
		want    oauth2.AuthStyle
	}{
		{"", []string{"client_secret_basic"}, oauth2.AuthStyleInParams},
		{"s", []string{"client_secret_post"}, oauth2.AuthStyleInParams},
		{"s", []string{"client_secret_basic", "client_secret_post"}, oauth2.AuthStyleAutoDetect},
		{"s", nil, oauth2.AuthStyleAutoDetect},
	}
	for _, tt := range tests {
		if got := authStyle(tt.secret, tt.methods); got != tt.want {
			t.Errorf("authStyle(%q, %q) = %v, want %v", tt.secret, tt.methods, got, tt.want)
		}
	}
}

// testCA writes a CA certificate to a file and returns it with a server
// TLS config for 127.0.0.1 signed by it.
func testCA(t *testing.T) (string, *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test provider CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return path, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}},
		RootCAs:      pool, // for the test's browser
	}
}
