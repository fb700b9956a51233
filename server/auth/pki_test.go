package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFreshPKIServesTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	p, err := EnsurePKI(dir, PKIConfig{ExtraSANs: []string{"skiff.example", "192.0.2.7"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.key", "server.key"} {
		st, _ := os.Stat(filepath.Join(dir, f))
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if len(p.CAHash()) != 64 {
		t.Errorf("CAHash %q is not hex sha256", p.CAHash())
	}
	cert, _ := p.ServerTLSConfig().GetCertificate(nil)
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	host, _ := os.Hostname()
	for _, name := range []string{"localhost", host, "skiff.example", "127.0.0.1", "::1", "192.0.2.7"} {
		if err := leaf.VerifyHostname(name); err != nil {
			t.Errorf("serving certificate not valid for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: p.CAPool(), DNSName: "localhost"}); err != nil {
		t.Errorf("serving certificate does not chain to the CA: %v", err)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", p.ServerTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.CAPEM())
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS handshake with the CA from CAPEM: %v", err)
	}
	conn.Close()
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "localhost"}); err == nil {
		t.Error("handshake succeeded against the system roots")
	}
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range []string{"ca.crt", "ca.key", "server.crt", "server.key"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(filepath.Join(dir, f))
		out[f] = st.ModTime().String() + string(b)
	}
	return out
}

func TestReloadWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	a, err := EnsurePKI(dir, PKIConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	time.Sleep(20 * time.Millisecond)
	b, err := EnsurePKI(dir, PKIConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	for f := range before {
		if before[f] != after[f] {
			t.Errorf("%s rewritten on a reload with nothing to change", f)
		}
	}
	if a.CAHash() != b.CAHash() {
		t.Error("CA changed on reload")
	}
}

func serverCert(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "server.crt"))
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServingCertReissued(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	// Made 350 days ago: expires in 15 days, within the 30-day window.
	past := func() time.Time { return time.Now().Add(-350 * 24 * time.Hour) }
	if _, err := EnsurePKI(dir, PKIConfig{Now: past}, nil); err != nil {
		t.Fatal(err)
	}
	old := serverCert(t, dir)
	if _, err := EnsurePKI(dir, PKIConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	renewed := serverCert(t, dir)
	if !renewed.NotAfter.After(old.NotAfter.Add(300 * 24 * time.Hour)) {
		t.Errorf("near-expiry certificate not renewed: %v → %v", old.NotAfter, renewed.NotAfter)
	}
	// A new name asks for a new certificate that has it.
	if _, err := EnsurePKI(dir, PKIConfig{ExtraSANs: []string{"new.example"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := serverCert(t, dir).VerifyHostname("new.example"); err != nil {
		t.Errorf("certificate lacks the added SAN: %v", err)
	}
}

func TestCorruptKeyNamesTheFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	EnsurePKI(dir, PKIConfig{}, nil)
	os.WriteFile(filepath.Join(dir, "ca.key"), []byte("garbage"), 0o600)
	_, err := EnsurePKI(dir, PKIConfig{}, nil)
	if err == nil || !strings.Contains(err.Error(), "ca.key") {
		t.Errorf("corrupt ca.key: %v, want an error naming it", err)
	}
	dir2 := filepath.Join(t.TempDir(), "pki")
	EnsurePKI(dir2, PKIConfig{}, nil)
	other := filepath.Join(t.TempDir(), "pki")
	EnsurePKI(other, PKIConfig{}, nil)
	// A serving key that is not the certificate's (a crash between the
	// two files of a renewal) gets a new pair, not a server that cannot
	// start.
	k, _ := os.ReadFile(filepath.Join(other, "server.key"))
	os.WriteFile(filepath.Join(dir2, "server.key"), k, 0o600)
	if _, err := EnsurePKI(dir2, PKIConfig{}, nil); err != nil {
		t.Errorf("mismatched server key: %v, want a new pair", err)
	}
	if _, _, err := loadPair(filepath.Join(dir2, "server.crt"), filepath.Join(dir2, "server.key")); err != nil {
		t.Errorf("after the reissue: %v", err)
	}
}

// TestServingCertRenewsItself: with a short validity, the serving
// certificate is renewed at two thirds of it, written, and served from
// the next handshake, several times over, without a restart; signed
// certificates take the same validity.
func TestServingCertRenewsItself(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	p, err := EnsurePKI(dir, PKIConfig{CertValidity: time.Second}, nil)
	if err == nil {
		t.Fatal("a 1 s validity was taken")
	}
	p, err = EnsurePKI(dir, PKIConfig{CertValidity: MinCertValidity}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := p.ServingCertificate()
	if d := first.NotAfter.Sub(first.NotBefore); d > MinCertValidity*11/10+time.Second {
		t.Errorf("serving certificate lasts %v, want about %v", d, MinCertValidity)
	}
	node, err := p.NodeKeyPair("n1")
	if err != nil {
		t.Fatal(err)
	}
	if d := node.Leaf.NotAfter.Sub(time.Now()); d > MinCertValidity {
		t.Errorf("node certificate lasts %v more, want at most %v", d, MinCertValidity)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { p.RunRenewal(ctx, nil); close(done) }()
	seen := map[string]bool{first.SerialNumber.String(): true}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		c, _ := p.ServerTLSConfig().GetCertificate(nil)
		seen[c.Leaf.SerialNumber.String()] = true
		time.Sleep(200 * time.Millisecond)
	}
	if len(seen) < 3 {
		t.Fatalf("serving certificates seen in 20 s: %d, want 3 (two renewals of a 6 s certificate)", len(seen))
	}
	onDisk := serverCert(t, dir)
	if !seen[onDisk.SerialNumber.String()] || onDisk.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Errorf("the file holds serial %v, not a renewed one", onDisk.SerialNumber)
	}
	if !time.Now().Before(p.ServingCertificate().NotAfter) {
		t.Error("the served certificate expired")
	}
	cancel()
	<-done
}

func BenchmarkEnsurePKIFirstStart(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := EnsurePKI(filepath.Join(b.TempDir(), "pki"), PKIConfig{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRenewingPair: an in-memory pair is replaced once due, and kept
// when the renewal fails.
func TestRenewingPair(t *testing.T) {
	p, err := EnsurePKI(filepath.Join(t.TempDir(), "pki"), PKIConfig{CertValidity: MinCertValidity}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fail := false
	r, err := NewRenewingPair(func() (tls.Certificate, error) {
		if fail {
			return tls.Certificate{}, os.ErrPermission
		}
		return p.NodeKeyPair("n1")
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Get()
	if r.Get() != first {
		t.Fatal("a pair not yet due was replaced")
	}
	clock := RenewAt(first.Leaf).Add(time.Millisecond)
	r.now = func() time.Time { return clock }
	fail = true
	if r.Get() != first {
		t.Error("a failed renewal dropped the current pair")
	}
	fail = false
	if r.Get() != first {
		t.Error("a renewal was tried again at once after a failure")
	}
	clock = clock.Add(time.Minute)
	if second := r.Get(); second == first || second.Leaf.Subject.CommonName != "system:node:n1" {
		t.Errorf("due pair not renewed: %v", second.Leaf.Subject)
	}
}
