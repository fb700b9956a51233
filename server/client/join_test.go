package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/apiserver"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/nodelease"
)

// joinServer serves the API with joining and leases, and records which
// requests carried credentials.
type joinServer struct {
	url    string
	admin  client.Config
	token  auth.JoinToken
	leases *nodelease.Table
	mu     sync.Mutex
	seen   []string // "METHOD path auth?" of every request
}

func (s *joinServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func newJoinServer(t *testing.T) *joinServer { return newJoinServerWith(t, auth.PKIConfig{}) }

func newJoinServerWith(t *testing.T, pc auth.PKIConfig) *joinServer {
	t.Helper()
	dir := t.TempDir()
	reg, st := newRegistry(t, dir, 8)
	t.Cleanup(func() { st.Close() })
	pki, err := auth.EnsurePKI(filepath.Join(dir, "pki"), pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	adminToken, _, _ := auth.EnsureAdminToken(filepath.Join(dir, "pki"))
	hash, _ := auth.LoadTokenHash(filepath.Join(dir, "pki"))
	jt, err := auth.EnsureJoinToken(dir, pki.CAHash())
	if err != nil {
		t.Fatal(err)
	}
	js := &joinServer{token: jt, leases: nodelease.New(nil)}
	srv, err := apiserver.New(apiserver.Config{
		Backend: reg,
		Auth:    auth.NewStaticToken(hash, auth.Identity{Name: "admin", Groups: []string{auth.GroupAdmins}}),
		Join: &apiserver.JoinConfig{CAPEM: pki.CAPEM(), Issuer: pki,
			Tokens: auth.NewJoinTokens(jt.Secret, func(ctx context.Context, name string) (*api.Secret, error) {
				return client.For[*api.Secret](reg, auth.JoinTokenNamespace).Get(ctx, name)
			})},
		Leases: js.leases,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js.mu.Lock()
		line := r.Method + " " + r.URL.Path + " auth=" + boolString(r.Header.Get("Authorization") != "")
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			line += " cert=" + r.TLS.PeerCertificates[0].SerialNumber.String()
		}
		js.seen = append(js.seen, line)
		js.mu.Unlock()
		srv.Handler().ServeHTTP(w, r)
	})
	hs := &http.Server{Handler: h, TLSConfig: pki.ServerTLSConfig()}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	js.url = "https://" + ln.Addr().String()
	js.admin = client.Config{Server: js.url, CA: string(pki.CAPEM()), Token: adminToken}
	return js
}

// joined joins node name and returns its config and a client for it.
func (s *joinServer) joined(t *testing.T, ctx context.Context, name string) (client.Config, *client.HTTP) {
	t.Helper()
	cfg, err := client.Join(ctx, s.url, s.token, client.JoinNode{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

// adminClient is a client with the admin token.
func (s *joinServer) adminClient(t *testing.T) *client.HTTP {
	t.Helper()
	c, err := client.New(s.admin)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func boolString(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func TestJoinPinsTheCAAndIssuesANodeCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newJoinServer(t)

	t.Run("a token pinning another CA sends nothing", func(t *testing.T) {
		bad := s.token
		bad.CAHash = strings.Repeat("ab", 32)
		_, err := client.Join(ctx, s.url, bad, client.JoinNode{Name: "n1"})
		if !errors.Is(err, client.ErrCAMismatch) {
			t.Fatalf("err %v, want ErrCAMismatch", err)
		}
		for _, r := range s.requests() {
			if r != "GET /cacerts auth=no" {
				t.Errorf("request %q reached the server with a mismatched CA", r)
			}
		}
	})

	t.Run("a wrong secret is refused", func(t *testing.T) {
		bad := s.token
		bad.Secret = "0123456789abcdef0123"
		_, err := client.Join(ctx, s.url, bad, client.JoinNode{Name: "n1"})
		if !errors.Is(err, errdefs.ErrUnauthorized) {
			t.Fatalf("err %v, want Unauthorized", err)
		}
	})

	t.Run("a bad node name is refused with its field", func(t *testing.T) {
		_, err := client.Join(ctx, s.url, s.token, client.JoinNode{Name: "Not_A_Name"})
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "nodeName") {
			t.Fatalf("err %v, want Invalid on nodeName", err)
		}
	})

	t.Run("the join secret is a credential for joining only", func(t *testing.T) {
		c, err := client.New(client.Config{Server: s.url, CA: s.admin.CA, Token: s.token.Secret})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.List(ctx, "pods", "", api.ListOptions{}); !errors.Is(err, errdefs.ErrUnauthorized) {
			t.Errorf("listing pods with the join secret: %v, want Unauthorized", err)
		}
		if err := c.RenewLease(ctx, "n1", 20*time.Second); !errors.Is(err, errdefs.ErrUnauthorized) {
			t.Errorf("renewing a lease with the join secret: %v, want Unauthorized", err)
		}
	})

	cfg, err := client.Join(ctx, s.url, s.token, client.JoinNode{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "" || cfg.ClientCertificate == "" {
		t.Fatalf("joined config %+v: want a certificate and no token", cfg)
	}
	pair, err := tls.X509KeyPair([]byte(cfg.ClientCertificate), []byte(cfg.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if leaf.Subject.CommonName != "system:node:n1" || leaf.Subject.Organization[0] != auth.GroupNodes ||
		len(leaf.IPAddresses)+len(leaf.DNSNames) != 0 {
		t.Errorf("node certificate subject %v, names %v %v; want no names (it must not pass for a server)", leaf.Subject, leaf.IPAddresses, leaf.DNSNames)
	}

	node, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(s.admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.List(ctx, "pods", "", api.ListOptions{}); err != nil {
		t.Fatalf("the node certificate does not authenticate: %v", err)
	}

	t.Run("leases", func(t *testing.T) {
		if err := node.RenewLease(ctx, "n1", 20*time.Second); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("lease of a node that is not registered: %v, want NotFound", err)
		}
		for _, name := range []string{"n1", "n2"} {
			n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
			if _, err := admin.Create(ctx, "nodes", "", n); err != nil {
				t.Fatal(err)
			}
		}
		if err := node.RenewLease(ctx, "n1", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		l, ok := s.leases.Get("n1")
		if !ok || l.Holder != "system:node:n1" || l.Duration != 20*time.Second {
			t.Errorf("lease %+v %v", l, ok)
		}
		if err := node.RenewLease(ctx, "n2", 20*time.Second); !errors.Is(err, errdefs.ErrForbidden) {
			t.Errorf("n1 renewing n2's lease: %v, want Forbidden", err)
		}
		if err := node.RenewLease(ctx, "n1", time.Hour); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("an hour-long lease: %v, want Invalid", err)
		}
		if err := node.RenewLease(ctx, "n1", 0); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("a zero lease: %v, want Invalid", err)
		}
		// n1 is alive: its name is not up for another machine's join.
		if _, err := client.Join(ctx, s.url, s.token, client.JoinNode{Name: "n1"}); !errors.Is(err, errdefs.ErrAlreadyExists) ||
			!strings.Contains(err.Error(), "another --node-name") {
			t.Errorf("joining as a live node: %v, want AlreadyExists naming --node-name", err)
		}
		// n2 is registered but holds no lease (a reinstalled machine, or
		// another that knows its name): the server's token is not enough.
		if _, err := client.Join(ctx, s.url, s.token, client.JoinNode{Name: "n2"}); !errors.Is(err, errdefs.ErrAlreadyExists) ||
			!strings.Contains(err.Error(), "does not hold its identity") || !strings.Contains(err.Error(), "join-token create --node n2") {
			t.Errorf("joining as a registered node with the server's token: %v, want AlreadyExists naming the way back", err)
		}
		// A token made for n2 takes it back, once; one for n2 does not
		// join as another name.
		secret, sec, err := auth.NewJoinTokenSecret(time.Hour, "n2", "reinstall", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Create(ctx, "secrets", auth.JoinTokenNamespace, secret); err != nil {
			t.Fatal(err)
		}
		forN2 := auth.JoinToken{CAHash: s.token.CAHash, Secret: sec}
		if _, err := client.Join(ctx, s.url, forN2, client.JoinNode{Name: "n3"}); !errors.Is(err, errdefs.ErrForbidden) {
			t.Errorf("a token for n2 joining as n3: %v, want Forbidden", err)
		}
		if _, err := client.Join(ctx, s.url, forN2, client.JoinNode{Name: "n2"}); err != nil {
			t.Errorf("rejoining as n2 with a token for it: %v", err)
		}
		if _, err := client.Join(ctx, s.url, forN2, client.JoinNode{Name: "n2"}); !errors.Is(err, errdefs.ErrUnauthorized) {
			t.Errorf("the same reinstall token again: %v, want Unauthorized (spent)", err)
		}
	})

	t.Run("a certificate from another CA fails the handshake", func(t *testing.T) {
		other, err := auth.EnsurePKI(filepath.Join(t.TempDir(), "pki"), auth.PKIConfig{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := other.NodeKeyPair("n1")
		if err != nil {
			t.Fatal(err)
		}
		f := cfg
		f.ClientCertificate = string(auth.EncodeCert(forged.Leaf))
		f.ClientKey = string(encodeKey(t, forged))
		fc, err := client.New(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fc.List(ctx, "pods", "", api.ListOptions{}); err == nil {
			t.Fatal("a node certificate of another CA was accepted")
		}
	})
}

func encodeKey(t *testing.T, pair tls.Certificate) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// TestRenewNodeCert: a node renews its certificate with its current one,
// gets a fresh key's certificate for the same identity, and calls the API
// with it at once on the same client; a token (even the admin's) cannot
// renew, and a node cannot renew another.
func TestRenewNodeCert(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newJoinServer(t)
	cfg, node := s.joined(t, ctx, "n1")
	admin := s.adminClient(t)
	if _, err := admin.Create(ctx, "nodes", "", &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	renewed, err := node.RenewNodeCert(ctx, cfg, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if renewed.ClientCertificate == cfg.ClientCertificate || renewed.ClientKey == cfg.ClientKey {
		t.Fatal("renewal kept the certificate or the key")
	}
	pair, err := tls.X509KeyPair([]byte(renewed.ClientCertificate), []byte(renewed.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	if pair.Leaf.Subject.CommonName != "system:node:n1" {
		t.Errorf("renewed certificate for %q", pair.Leaf.Subject.CommonName)
	}
	// A watch held open over the first certificate's connection runs on.
	w, err := node.Watch(ctx, "configmaps", "default", api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	node.SetClientCertificate(pair)
	if _, err := node.List(ctx, "pods", "", api.ListOptions{}); err != nil {
		t.Errorf("the renewed certificate does not authenticate: %v", err)
	}
	reqs := s.requests()
	if last := reqs[len(reqs)-1]; !strings.HasSuffix(last, " cert="+pair.Leaf.SerialNumber.String()) {
		t.Errorf("the request after SetClientCertificate came with %q, want the renewed certificate's serial %s", last, pair.Leaf.SerialNumber)
	}
	if _, err := admin.Create(ctx, "configmaps", "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "after-renewal", Namespace: "default"}}); err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch opened before the renewal ended")
			}
			got = ev.Object != nil && ev.Object.GetObjectMeta().Name == "after-renewal"
		case <-ctx.Done():
			t.Fatal("the watch opened before the renewal heard nothing after it")
		}
	}
	if _, err := node.RenewNodeCert(ctx, renewed, "n2"); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "renews only its own") {
		t.Errorf("n1 renewing as n2: %v, want Invalid", err)
	}
	if _, err := admin.RenewNodeCert(ctx, s.admin, "n1"); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("the admin token renewing a node certificate: %v, want Forbidden", err)
	}
	// The first certificate was superseded by the renewal: it renews no
	// more (a stolen copy, or the old machine of a reinstalled node).
	stale, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stale.RenewNodeCert(ctx, cfg, "n1"); !errors.Is(err, errdefs.ErrUnauthorized) || !strings.Contains(err.Error(), "superseded") {
		t.Errorf("a superseded certificate renewing: %v, want Unauthorized saying so", err)
	}
	// It still opens the API (requests in flight while the agent
	// renews), until the next renewal.
	if _, err := stale.List(ctx, "pods", "", api.ListOptions{}); err != nil {
		t.Errorf("the certificate a renewal replaced, reading: %v", err)
	}
	renewed2, err := node.RenewNodeCert(ctx, renewed, "n1")
	if err != nil {
		t.Fatal(err)
	}
	stale.CloseIdleConnections()
	if _, err := stale.List(ctx, "pods", "", api.ListOptions{}); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Errorf("a certificate two renewals old, reading: %v, want Unauthorized", err)
	}
	renewed = renewed2
	p2, err := tls.X509KeyPair([]byte(renewed.ClientCertificate), []byte(renewed.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	node.SetClientCertificate(p2)
	// A node deleted from the cluster renews no more.
	if _, err := admin.Delete(ctx, "nodes", "", "n1", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := node.RenewNodeCert(ctx, renewed, "n1"); !errors.Is(err, errdefs.ErrUnauthorized) || !strings.Contains(err.Error(), "no certificate recorded") {
		t.Errorf("a deleted node renewing: %v, want Unauthorized saying so", err)
	}
	if _, err := client.For[*api.Node](node, "").Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Errorf("a deleted node making its Node again: %v, want Unauthorized", err)
	}
}

// TestExpiredCertificateOnAnOpenConnection: a connection made while a
// node certificate was valid does not carry it past its expiry: the
// next request on it is refused, saying so.
func TestExpiredCertificateOnAnOpenConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newJoinServerWith(t, auth.PKIConfig{CertValidity: auth.MinCertValidity})
	cfg, node := s.joined(t, ctx, "n1")
	if _, err := node.List(ctx, "pods", "", api.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair([]byte(cfg.ClientCertificate), []byte(cfg.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(pair.Leaf.NotAfter) + 500*time.Millisecond)
	_, err = node.List(ctx, "pods", "", api.ListOptions{})
	if !errors.Is(err, errdefs.ErrUnauthorized) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("a request after the certificate expired: %v, want Unauthorized saying it expired", err)
	}
	// (A new connection would have failed its handshake instead: only the
	// per-request check on the open one answers Unauthorized.)
}

// TestNodeWritesOnlyItsOwn: a node's certificate writes its own Node and
// its status, the status of pods bound to it (and deletes them), and
// events — not another node (whose overlay key and addresses the others
// trust), not another node's pods, not workloads.
func TestNodeWritesOnlyItsOwn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newJoinServer(t)
	_, h := s.joined(t, ctx, "n1")
	admin := s.adminClient(t)
	if w, err := h.WhoAmI(ctx); err != nil || w.Name != "system:node:n1" || w.Via != "certificate" || len(w.Groups) != 1 || w.Groups[0] != auth.GroupNodes {
		t.Errorf("whoami with a node certificate: %+v, %v", w, err)
	}
	nodes := client.For[*api.Node](h, "")
	if _, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatalf("a node creating its own Node: %v", err)
	}
	if _, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n2"}}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 creating Node n2: %v, want Forbidden", err)
	}
	if _, err := admin.Create(ctx, "nodes", "", &api.Node{ObjectMeta: api.ObjectMeta{Name: "n2"}}); err != nil {
		t.Fatal(err)
	}
	n2, err := client.For[*api.Node](admin, "").Get(ctx, "n2")
	if err != nil {
		t.Fatal(err)
	}
	n2.Annotations = map[string]string{"skiff.dev/wireguard-public-key": "stolen"}
	if _, err := nodes.Update(ctx, n2); !errors.Is(err, errdefs.ErrForbidden) || !strings.Contains(err.Error(), "only its own Node") {
		t.Errorf("n1 rewriting n2's annotations: %v, want Forbidden", err)
	}
	n1, err := nodes.Get(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	n1.Labels = map[string]string{"node.skiff.dev/shelf": "top", "kubernetes.io/arch": "arm64"}
	n1.Annotations = map[string]string{"skiff.dev/wireguard-public-key": "mine"}
	if n1, err = nodes.Update(ctx, n1); err != nil {
		t.Fatalf("n1 updating its labels and annotations: %v", err)
	}
	for what, edit := range map[string]func(n *api.Node){
		"a role label":   func(n *api.Node) { n.Labels["node-role.kubernetes.io/control-plane"] = "" },
		"its pod subnet": func(n *api.Node) { n.Spec.PodCIDR = "10.42.9.0/24" },
		"its taints":     func(n *api.Node) { n.Spec.Taints = nil; n.Spec.Unschedulable = true },
	} {
		n := api.Clone(n1)
		edit(n)
		if _, err := nodes.Update(ctx, n); !errors.Is(err, errdefs.ErrForbidden) {
			t.Errorf("n1 changing %s: %v, want Forbidden", what, err)
		}
	}
	if _, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1x"}, Spec: api.NodeSpec{PodCIDR: "10.42.1.0/24"}}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 creating a node with a pod subnet: %v, want Forbidden", err)
	}
	pods := client.For[*api.Pod](admin, "default")
	mk := func(name, node string) *api.Pod {
		p, err := pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "c", Image: "busybox"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	mine, theirs := mk("mine", "n1"), mk("theirs", "n2")
	asNode := client.For[*api.Pod](h, "default")
	mine.Status.Phase = api.PodRunning
	if _, err := asNode.UpdateStatus(ctx, mine); err != nil {
		t.Errorf("n1 writing the status of its pod: %v", err)
	}
	theirs.Status.Phase = api.PodRunning
	if _, err := asNode.UpdateStatus(ctx, theirs); !errors.Is(err, errdefs.ErrForbidden) || !strings.Contains(err.Error(), `bound to "n2"`) {
		t.Errorf("n1 writing the status of n2's pod: %v, want Forbidden", err)
	}
	if _, err := asNode.Delete(ctx, "theirs", api.DeleteOptions{}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 deleting n2's pod: %v, want Forbidden", err)
	}
	if _, err := asNode.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "new", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "busybox"}}}}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 creating a pod: %v, want Forbidden", err)
	}
	cur, err := asNode.Get(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	cur.Labels = map[string]string{"x": "y"}
	if _, err := asNode.Update(ctx, cur); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 changing its pod's spec or labels: %v, want Forbidden", err)
	}
	if _, err := client.For[*api.ConfigMap](h, "default").Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "x", Namespace: "default"}}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 creating a config map: %v, want Forbidden", err)
	}
	ev := &api.Event{ObjectMeta: api.ObjectMeta{Name: "e1", Namespace: "default"}, InvolvedObject: api.ObjectReference{Kind: "Pod", Namespace: "default", Name: "mine"},
		Reason: "Started", Message: "ok", Type: api.EventTypeNormal}
	if _, err := client.For[*api.Event](h, "default").Create(ctx, ev); err != nil {
		t.Errorf("n1 recording an event: %v", err)
	}
	if _, err := asNode.Delete(ctx, "mine", api.DeleteOptions{}); err != nil {
		t.Errorf("n1 deleting its own pod: %v", err)
	}

	// Claims: a node binds one to itself, and changes nothing else.
	mkClaim := func(name string) *api.PersistentVolumeClaim {
		c, err := client.For[*api.PersistentVolumeClaim](admin, "default").Create(ctx, &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Name: name},
			Spec: api.PersistentVolumeClaimSpec{AccessModes: []api.PersistentVolumeAccessMode{api.ReadWriteOnce},
				Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{api.ResourceStorage: api.NewBinaryQuantity(1 << 30)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := client.BindClaim(ctx, h, mkClaim("data"), "n1"); err != nil {
		t.Errorf("n1 binding a claim to itself: %v", err)
	}
	if _, err := client.BindClaim(ctx, h, mkClaim("elsewhere"), "n2"); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 binding a claim to n2: %v, want Forbidden", err)
	}
	grow := mkClaim("grow")
	grow.Annotations = map[string]string{api.AnnotationSelectedNode: "n1"}
	grow.Spec.Resources.Requests[api.ResourceStorage] = api.NewBinaryQuantity(1 << 40)
	if _, err := client.For[*api.PersistentVolumeClaim](h, "default").Update(ctx, grow); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 binding a claim and changing its size: %v, want Forbidden", err)
	}
}

// TestNodeReadsOnlyItsPodsSecrets: a node gets a Secret by name only
// when a pod bound to it uses it; it may not list or watch Secrets, nor
// read skiff-system's (join tokens, sessions, password hashes).
func TestNodeReadsOnlyItsPodsSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newJoinServer(t)
	_, h := s.joined(t, ctx, "n1")
	admin := s.adminClient(t)
	for _, name := range []string{"mine", "env", "theirs", "unused"} {
		if _, err := admin.Create(ctx, "secrets", "default", &api.Secret{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Data: map[string][]byte{"k": []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name, node string, spec api.PodSpec) {
		spec.NodeName = node
		spec.Containers = append(spec.Containers, api.Container{Name: "c", Image: "busybox"})
		if _, err := admin.Create(ctx, "pods", "default", &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	pod("a", "n1", api.PodSpec{Volumes: []api.Volume{{Name: "v", VolumeSource: api.VolumeSource{Secret: &api.SecretVolumeSource{SecretName: "mine"}}}}})
	pod("b", "n1", api.PodSpec{InitContainers: []api.Container{{Name: "i", Image: "busybox",
		Env: []api.EnvVar{{Name: "X", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{LocalObjectReference: api.LocalObjectReference{Name: "env"}, Key: "k"}}}}}}})
	pod("c", "n2", api.PodSpec{Volumes: []api.Volume{{Name: "v", VolumeSource: api.VolumeSource{Secret: &api.SecretVolumeSource{SecretName: "theirs"}}}}})
	secrets := client.For[*api.Secret](h, "default")
	for _, name := range []string{"mine", "env"} {
		if _, err := secrets.Get(ctx, name); err != nil {
			t.Errorf("n1 getting secret %s its pod uses: %v", name, err)
		}
	}
	for _, name := range []string{"theirs", "unused"} {
		if _, err := secrets.Get(ctx, name); !errors.Is(err, errdefs.ErrForbidden) || !strings.Contains(err.Error(), "no pod bound to it uses it") {
			t.Errorf("n1 getting secret %s: %v, want Forbidden", name, err)
		}
	}
	if _, _, _, err := secrets.List(ctx, api.ListOptions{}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 listing secrets: %v, want Forbidden", err)
	}
	if _, err := h.Watch(ctx, "secrets", "", api.ListOptions{}); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 watching secrets: %v, want Forbidden", err)
	}
	if _, err := client.For[*api.Secret](h, auth.JoinTokenNamespace).Get(ctx, "join-token-abcdef"); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("n1 reading skiff-system: %v, want Forbidden", err)
	}
	if _, _, _, err := client.For[*api.ConfigMap](h, "default").List(ctx, api.ListOptions{}); err != nil {
		t.Errorf("n1 listing configmaps (other kinds stay readable): %v", err)
	}
}
