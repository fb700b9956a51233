package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestCertificatesRenewThemselves: with 12-second certificates (renewed
// at 8 s), a server and a joined agent go through several renewals of
// the serving certificate, the agent's node certificate, the embedded
// agent's and the API server's client certificate, without a restart:
// the node stays Ready (its lease renewals go on), its watches are never
// dropped (the agent's informers never relist), new pods run on it, and
// the API server reaches it for logs after every certificate it started
// with has expired.
func TestCertificatesRenewThemselves(t *testing.T) {
	srv, ag, token := newJoinPair(t, 31, 32, "--certificate-validity", "12s")
	ag.agentArgs = []string{"--log-level", "debug"}
	ag.srv = ag.startAgent(srv.srv.url, token)
	t.Cleanup(ag.cleanup)
	ag.waitNodeReady()
	ctx := context.Background()
	cfg, err := client.LoadConfig(srv.srv.config)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(cfg.CA))
	u, _ := url.Parse(cfg.Server)
	servingSerial := func() string {
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, ServerName: u.Hostname()})
		if err != nil {
			t.Fatalf("TLS to the server: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	nodeSerial := func() string {
		c, err := client.LoadConfig(filepath.Join(ag.dataDir, agentCredentials))
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair([]byte(c.ClientCertificate), []byte(c.ClientKey))
		if err != nil {
			t.Fatal(err)
		}
		return pair.Leaf.SerialNumber.String()
	}
	ag.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "before"},
		Spec: api.PodSpec{NodeName: ag.name, Containers: []api.Container{container("c", "busybox", "sh", "-c", "echo before-renewals; exec sleep 3600")}}})
	ag.waitPod("before", 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	started := time.Now()
	serving, nodes := map[string]bool{servingSerial(): true}, map[string]bool{nodeSerial(): true}
	nodeAPI := client.For[*api.Node](srv.client, "")
	for time.Since(started) < 30*time.Second {
		serving[servingSerial()] = true
		nodes[nodeSerial()] = true
		n, err := nodeAPI.Get(ctx, ag.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range n.Status.Conditions {
			if c.Type == api.NodeReady && c.Status != api.ConditionTrue {
				t.Fatalf("node %s went %s during the renewals: %s", ag.name, c.Status, c.Message)
			}
		}
		time.Sleep(time.Second)
	}
	if len(serving) < 3 || len(nodes) < 3 {
		t.Errorf("in 30 s of 12 s certificates: %d serving and %d node certificates, want at least 3 each (renewals at 8 s)", len(serving), len(nodes))
	}
	// Every certificate of the start has expired by now: the API server
	// reaches the agent (its renewed client certificate, the agent's
	// renewed serving one), and the agent takes a new pod.
	logs := runSkiff(t, []string{"SKIFF_CONFIG=" + srv.srv.config}, "", "logs", "before")
	if !strings.Contains(logs.out, "before-renewals") {
		t.Errorf("logs of a pod on the agent after the renewals: %s", logs.out)
	}
	ag.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "after"},
		Spec: api.PodSpec{NodeName: ag.name, Containers: []api.Container{container("c", "sleep")}}})
	ag.waitPod("after", 60*time.Second, "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	log := ag.srv.log.String()
	if !strings.Contains(log, "level=DEBUG") {
		t.Fatal("the agent logs no debug lines: a relisting informer would go unseen")
	}
	if n := strings.Count(log, "informer relisting"); n > 0 {
		t.Errorf("the agent's informers relisted %d times during the renewals (a watch was dropped):\n%s", n, tail(log, 40))
	}
	if strings.Contains(log, "renewing the node certificate; trying again") {
		t.Errorf("a node certificate renewal failed:\n%s", tail(log, 40))
	}
	if n := strings.Count(log, "renewed the node certificate"); n < 2 {
		t.Errorf("the agent says it renewed %d times, want at least 2", n)
	}
	t.Logf("%d serving and %d node certificates in 30 s", len(serving), len(nodes))
}
