package acme_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/netstack/ingress/acme"
	"github.com/skiffhq/skiff/netstack/ingress/routes"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

const appsDomain = "apps.skiff.local"

// newRegistry is the real control plane in process: the registry over a
// bbolt store in the test's directory.
func newRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st, BookmarkInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}
	return reg
}

// freePort is a loopback TCP port nothing listens on (now).
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSigned is a certificate for names (host names or IPs) signed by
// its own key, valid for a day.
func selfSigned(t testing.TB, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// pebble is a real ACME server (pebble) on loopback, resolving every
// name to 127.0.0.1 through pebble-challtestsrv's DNS.
type pebble struct {
	dir    string       // the directory URL
	client *http.Client // trusts pebble's API certificate, counts orders
	mgmt   string       // the management URL
	dns    string       // pebble-challtestsrv's management URL
	orders atomic.Int64 // newOrder requests made through client
	log    *lockedBuffer
}

// startPebble runs pebble validating HTTP-01 on httpPort and TLS-ALPN-01
// on tlsPort of the names it resolves.
func startPebble(t testing.TB, httpPort, tlsPort int) *pebble {
	t.Helper()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (Debian package pebble; scripts/install-deps.sh): %v", bin, err)
		}
	}
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t, "127.0.0.1", "localhost")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := &pebble{log: &lockedBuffer{}}
	dnsPort, dnsMgmt := freePort(t), freePort(t)
	p.dns = fmt.Sprintf("http://127.0.0.1:%d", dnsMgmt)
	run := func(name string, env []string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = p.log, p.log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	run("pebble-challtestsrv", nil, "-dns01", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", dnsMgmt), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	apiPort, mgmtPort := freePort(t), freePort(t)
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", apiPort),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":             write("cert.pem", certPEM),
		"privateKey":              write("key.pem", keyPEM),
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"ocspResponderURL":        "",
	}})
	run("pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", write("pebble.json", cfg), "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	plain := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	p.dir = fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort)
	p.mgmt = fmt.Sprintf("https://127.0.0.1:%d", mgmtPort)
	var newOrder string
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := (&http.Client{Transport: plain}).Get(p.dir)
		if err == nil {
			var d struct{ NewOrder string }
			err = json.NewDecoder(res.Body).Decode(&d)
			res.Body.Close()
			if newOrder = d.NewOrder; err == nil && newOrder != "" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not up after 10s: %v; log:\n%s", err, p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.client = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && r.URL.String() == newOrder {
			p.orders.Add(1)
		}
		return plain.RoundTrip(r)
	})}
	return p
}

// roots is pebble's root certificate (made anew at each start).
func (p *pebble) roots(t testing.TB) *x509.CertPool {
	t.Helper()
	res, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble roots: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	pool := x509.NewCertPool()
	if res.StatusCode != 200 || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: %s: %s", res.Status, b)
	}
	return pool
}

// resolve makes pebble resolve host to addr.
func (p *pebble) resolve(t testing.TB, host, addr string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"host": host + ".", "addresses": []string{addr}})
	res, err := http.Post(p.dns+"/add-a", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("challtestsrv add-a %s: %s", host, res.Status)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// lockedBuffer is a concurrency-safe buffer for logs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lockedBuffer) count(s string) int { return strings.Count(l.String(), s) }

// node is one node's app router as cmd/skiff runs it: router, routes
// syncer and certificate manager over one informer set, serving HTTP
// and HTTPS on loopback.
type node struct {
	router    *ingress.Router
	certs     *acme.Manager
	httpAddr  string
	httpsAddr string
	challenge atomic.Int64 // HTTP-01 challenge requests the :80 listener got
	stop      func()
}

// startNode runs a node's router; httpLn and httpsLn are its listeners
// (pebble is pointed at their ports before the node starts).
func startNode(t testing.TB, reg *registry.Registry, cfg acme.Config, httpLn, httpsLn net.Listener, log *slog.Logger) *node {
	t.Helper()
	inf := client.NewInformers(reg, log)
	router, err := ingress.New(ingress.Config{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	syncer, err := routes.New(routes.Config{Informers: inf, Router: router, AppsDomain: appsDomain, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Informers, cfg.AppsDomain, cfg.Log = inf, appsDomain, log
	certs, err := acme.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{router: router, certs: certs, httpAddr: httpLn.Addr().String(), httpsAddr: httpsLn.Addr().String()}
	redirect := router.RedirectHandler(certs.HasCertificate, certs.HTTPHandler())
	plain := router.Server()
	plain.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			n.challenge.Add(1)
		}
		redirect.ServeHTTP(w, r)
	})
	secure := router.Server()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- syncer.Run(ctx) }()
	go func() { done <- certs.Run(ctx) }()
	go plain.Serve(httpLn)
	go secure.Serve(tls.NewListener(httpsLn, certs.TLSConfig()))
	select {
	case <-syncer.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("routes syncer not ready after 5s")
	}
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			plain.Close()
			secure.Close()
			cancel()
			for range 2 {
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}
			router.Close()
		})
	}
	t.Cleanup(n.stop)
	return n
}

// listen is a loopback listener on port (0: any).
func listen(t testing.TB, port int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// createApp creates App name in default, answering on domains, with
// its web Endpoints at backend.
func createApp(t testing.TB, reg *registry.Registry, name, backend string, domains ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := client.For[*api.App](reg, "default").Create(ctx,
		&api.App{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.AppSpec{Domains: domains}}); err != nil {
		t.Fatalf("create app %s: %v", name, err)
	}
	host, port, _ := net.SplitHostPort(backend)
	p, _ := strconv.Atoi(port)
	ep := &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Subsets: []api.EndpointSubset{{
		Addresses: []api.EndpointAddress{{IP: host}},
		Ports:     []api.EndpointPort{{Port: int32(p), Protocol: api.ProtocolTCP}},
	}}}
	if _, err := client.For[*api.Endpoints](reg, "default").Create(ctx, ep); err != nil {
		t.Fatalf("create endpoints %s: %v", name, err)
	}
}

// backend is a loopback app answering "app <name>, https <on|off>".
func backend(t testing.TB, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s, proto %s", name, r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// get sends GET url with Host host to addr over plain HTTP, following
// no redirect.
func get(t testing.TB, addr, host, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET http://%s%s: %v", host, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// getTLS sends GET https://host/path to addr, verifying the server's
// certificate against roots.
func getTLS(addr, host, path string, roots *x509.CertPool) (*http.Response, string, error) {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: host, RootCAs: roots},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("https://" + host + path)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b), nil
}

// eventually polls cond every 20 ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLog(t *testing.T, buf *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(buf, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
