package acme_test

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress/acme"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestHTTP01 orders a certificate from a real ACME server (pebble) for
// an App's custom domain, pebble validating HTTP-01 against the router's
// :80 on loopback (its TLS-ALPN-01 port is closed, so autocert's first
// choice fails and HTTP-01 is what passes).
func TestHTTP01(t *testing.T) {
	httpLn, httpsLn := listen(t, 0), listen(t, 0)
	p := startPebble(t, httpLn.Addr().(*net.TCPAddr).Port, freePort(t))
	reg := newRegistry(t)
	createApp(t, reg, "shop", backend(t, "shop"), "shop.example.test")
	logs := &lockedBuffer{}
	log := testLog(t, logs)
	cacheDir := filepath.Join(t.TempDir(), "ingress", "acme")
	cfg := acme.Config{Email: "ops@example.test", DirectoryURL: p.dir, CacheDir: cacheDir, HTTPClient: p.client}
	n := startNode(t, reg, cfg, httpLn, httpsLn, log)

	// Before the certificate, plain HTTP is served; the request starts
	// the order.
	res, body := get(t, n.httpAddr, "shop.example.test", "/")
	if res.StatusCode != 200 || body != "app shop, proto http" {
		t.Fatalf("HTTP before the certificate: got %d %q, want 200 from shop over http", res.StatusCode, body)
	}
	eventually(t, 60*time.Second, "shop.example.test has a certificate", func() bool { return n.certs.HasCertificate("shop.example.test") })
	if n.challenge.Load() == 0 {
		t.Errorf("the router's :80 got no HTTP-01 challenge request; pebble log:\n%s", p.log)
	}
	orders := p.orders.Load()
	if orders == 0 {
		t.Fatal("no ACME order counted")
	}

	roots := p.roots(t)
	res, body, err := getTLS(n.httpsAddr, "shop.example.test", "/", roots)
	if err != nil {
		t.Fatalf("HTTPS with SNI shop.example.test: %v", err)
	}
	if res.StatusCode != 200 || body != "app shop, proto https" {
		t.Fatalf("HTTPS: got %d %q, want 200 from shop over https", res.StatusCode, body)
	}
	leaf := res.TLS.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "shop.example.test", Roots: roots, Intermediates: pool(res.TLS.PeerCertificates[1:])}); err != nil {
		t.Errorf("certificate does not chain to pebble's root: %v", err)
	}
	if res.ProtoMajor != 2 {
		t.Errorf("HTTPS spoke %s, want HTTP/2", res.Proto)
	}

	res, _ = get(t, n.httpAddr, "shop.example.test", "/cart?id=7")
	if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != "https://shop.example.test/cart?id=7" {
		t.Errorf("HTTP with a certificate: got %d Location %q, want 308 to https://shop.example.test/cart?id=7", res.StatusCode, res.Header.Get("Location"))
	}

	// A host that is no App's domain: no certificate, no order, a clear
	// alert; its plain HTTP is the router's (404: no route).
	for _, host := range []string{"other.example.test", "shop.apps.skiff.local"} {
		_, _, err = getTLS(n.httpsAddr, host, "/", roots)
		if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("HTTPS with SNI %s: got %v, want the unrecognized_name alert", host, err)
		}
		if n.certs.HasCertificate(host) {
			t.Errorf("HasCertificate(%s) = true, want false", host)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if got := p.orders.Load(); got != orders {
		t.Errorf("orders after handshakes for other hosts: %d, want still %d", got, orders)
	}
	if got := logs.count("certificate ready"); got != 1 {
		t.Errorf("%q logged %d times, want once", "certificate ready", got)
	}

	// A restart (new informers, syncer and manager over the same cache
	// directory) serves the cached certificate at once, with no order.
	n.stop()
	httpLn, httpsLn = listen(t, 0), listen(t, 0)
	n2 := startNode(t, reg, cfg, httpLn, httpsLn, log)
	eventually(t, 5*time.Second, "the cached certificate loaded after the restart", func() bool { return n2.certs.HasCertificate("shop.example.test") })
	res, body, err = getTLS(n2.httpsAddr, "shop.example.test", "/", roots)
	if err != nil || res.StatusCode != 200 || body != "app shop, proto https" {
		t.Fatalf("HTTPS after the restart: got %v %v %q, want 200 from shop", err, res, body)
	}
	if got := res.TLS.PeerCertificates[0]; !got.Equal(leaf) {
		t.Errorf("after the restart: certificate serial %s, want the cached %s", got.SerialNumber, leaf.SerialNumber)
	}
	if got := p.orders.Load(); got != orders {
		t.Errorf("orders after the restart: %d, want still %d", got, orders)
	}
}

// TestTLSALPN01 orders over TLS-ALPN-01 when the CA reaches the
// router's :443: one order, no HTTP-01 challenge.
func TestTLSALPN01(t *testing.T) {
	httpLn, httpsLn := listen(t, 0), listen(t, 0)
	p := startPebble(t, freePort(t), httpsLn.Addr().(*net.TCPAddr).Port)
	reg := newRegistry(t)
	createApp(t, reg, "shop", backend(t, "shop"), "shop.example.test")
	log := testLog(t, &lockedBuffer{})
	n := startNode(t, reg, acme.Config{Email: "ops@example.test", DirectoryURL: p.dir,
		CacheDir: t.TempDir(), HTTPClient: p.client}, httpLn, httpsLn, log)
	// The first HTTPS handshake orders, and waits for the certificate.
	res, body, err := getTLS(n.httpsAddr, "shop.example.test", "/", p.roots(t))
	if err != nil || res.StatusCode != 200 || body != "app shop, proto https" {
		t.Fatalf("first HTTPS: got %v %q, want 200 from shop (pebble log:\n%s)", err, body, p.log)
	}
	if got := p.orders.Load(); got != 1 {
		t.Errorf("orders: %d, want 1", got)
	}
	if got := n.challenge.Load(); got != 0 {
		t.Errorf("HTTP-01 challenge requests: %d, want 0", got)
	}
}

// TestFailedOrder: a domain whose validation cannot reach the router
// keeps being served over HTTP, the failure is logged with the CA's
// reason, it is not ordered again within RetryAfter, and a failure
// again after RetryAfter is not logged again within the hour.
func TestFailedOrder(t *testing.T) {
	httpLn, httpsLn := listen(t, 0), listen(t, 0)
	p := startPebble(t, httpLn.Addr().(*net.TCPAddr).Port, freePort(t))
	p.resolve(t, "away.example.test", "127.0.0.2") // nothing listens there
	reg := newRegistry(t)
	createApp(t, reg, "away", backend(t, "away"), "away.example.test")
	logs := &lockedBuffer{}
	const retry = 2 * time.Second
	n := startNode(t, reg, acme.Config{Email: "ops@example.test", DirectoryURL: p.dir,
		CacheDir: t.TempDir(), HTTPClient: p.client, RetryAfter: retry}, httpLn, httpsLn, testLog(t, logs))
	const failed = "no certificate for host"
	get(t, n.httpAddr, "away.example.test", "/")
	eventually(t, 60*time.Second, "the failed order logged", func() bool { return logs.count(failed) > 0 })
	if !strings.Contains(logs.String(), "127.0.0.2") {
		t.Errorf("the failure's log does not give the CA's reason (the address it tried):\n%s", logs)
	}
	orders := p.orders.Load()
	for range 3 {
		res, body := get(t, n.httpAddr, "away.example.test", "/")
		if res.StatusCode != 200 || body != "app away, proto http" {
			t.Errorf("HTTP after the failed order: got %d %q, want 200 from away over http", res.StatusCode, body)
		}
		if _, _, err := getTLS(n.httpsAddr, "away.example.test", "/", x509.NewCertPool()); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("HTTPS after the failed order: got %v, want the unrecognized_name alert", err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if got := p.orders.Load(); got != orders {
		t.Errorf("orders within RetryAfter: %d, want still %d", got, orders)
	}
	// After RetryAfter the next request tries again; it fails again
	// (at once: autocert keeps a failure a minute), unlogged.
	time.Sleep(retry)
	get(t, n.httpAddr, "away.example.test", "/")
	eventually(t, 10*time.Second, "a second failure after RetryAfter", func() bool { return logs.count("order failed again") > 0 })
	if got := logs.count(failed); got != 1 {
		t.Errorf("%q logged %d times, want once an hour", failed, got)
	}
	if n.certs.HasCertificate("away.example.test") {
		t.Error("HasCertificate(away.example.test) = true after two failed orders")
	}
}

// TestDefaultCertificate serves the operator's wildcard from the Secret
// skiff-system/ingress-default-tls for the apps' default hosts, and
// redirects them, with ACME off.
func TestDefaultCertificate(t *testing.T) {
	reg := newRegistry(t)
	createApp(t, reg, "shop", backend(t, "shop"), "shop.example.test")
	certPEM, keyPEM := selfSigned(t, "*."+appsDomain)
	ctx := context.Background()
	if _, err := client.For[*api.Secret](reg, "skiff-system").Create(ctx, &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: acme.DefaultSecretName}, Type: api.SecretTypeTLS,
		Data: map[string][]byte{api.TLSCertKey: certPEM, api.TLSPrivateKeyKey: keyPEM},
	}); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, reg, acme.Config{}, listen(t, 0), listen(t, 0), testLog(t, &lockedBuffer{}))
	if n.certs.ACME() || n.certs.HTTPHandler() != nil {
		t.Error("ACME on without an email")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	eventually(t, 5*time.Second, "the default certificate loaded", func() bool { return n.certs.HasCertificate("shop." + appsDomain) })
	res, body, err := getTLS(n.httpsAddr, "shop."+appsDomain, "/", roots)
	if err != nil || res.StatusCode != 200 || body != "app shop, proto https" {
		t.Fatalf("HTTPS shop.%s: got %v %q, want 200 from shop", appsDomain, err, body)
	}
	res, _ = get(t, n.httpAddr, "shop."+appsDomain, "/")
	if res.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("HTTP shop.%s: got %d, want 308", appsDomain, res.StatusCode)
	}
	// The custom domain has no certificate without ACME: HTTP, no alert
	// other than unrecognized_name.
	if res, _ := get(t, n.httpAddr, "shop.example.test", "/"); res.StatusCode != 200 {
		t.Errorf("HTTP shop.example.test without ACME: got %d, want 200", res.StatusCode)
	}
	if _, _, err := getTLS(n.httpsAddr, "shop.example.test", "/", roots); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Errorf("HTTPS shop.example.test without ACME: got %v, want the unrecognized_name alert", err)
	}
	if _, err := client.For[*api.Secret](reg, "skiff-system").Delete(ctx, acme.DefaultSecretName, api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the default certificate dropped", func() bool { return !n.certs.HasCertificate("shop." + appsDomain) })
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
