package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestPodsAcrossTwoNodes: two real nodes on one LAN (the server's and a
// joined agent's). Each routes to the other's pod subnet (host-gw); a
// pod on one reaches a pod on the other by its IP, unmasqueraded (the
// server sees the client pod's address), and a ClusterIP service with
// endpoints on both nodes answers from both.
func TestPodsAcrossTwoNodes(t *testing.T) {
	srv, ag, token := newJoinPair(t, 19, 20)
	ag.srv = ag.startAgent(srv.srv.url, token)
	t.Cleanup(ag.cleanup)
	ag.waitNodeReady()
	ctx := context.Background()

	// httpd on both nodes, echoing nothing but its page; a client pod on
	// the server node.
	for _, n := range []*testNode{srv, ag} {
		web := container("web", "httpd")
		n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "web-" + n.name, Labels: map[string]string{"app": "web"}},
			Spec: api.PodSpec{NodeName: n.name, Containers: []api.Container{web}}})
	}
	var ips []string
	for _, n := range []*testNode{srv, ag} {
		p := n.waitPod("web-"+n.name, 60*time.Second, "Ready", isReady)
		ips = append(ips, p.Status.PodIP)
	}
	svc, err := client.For[*api.Service](srv.client, "default").Create(ctx, &api.Service{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: api.FromInt(8080)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The remote pod by IP; then the service until both endpoints have
	// answered (httpd -v logs each client to stderr, read back below).
	script := fmt.Sprintf(`for i in $(seq 40); do wget -qO- http://%s:8080/ | grep -q "hello from skiff" && break; sleep 1; done
for i in $(seq 60); do wget -qO- http://$VIP/ >/dev/null 2>&1; done
echo done`, ips[1])
	c := container("client", "busybox", "sh", "-c", script)
	c.Env = []api.EnvVar{{Name: "VIP", Value: svc.Spec.ClusterIP}}
	srv.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "client"}, Spec: api.PodSpec{NodeName: srv.name, RestartPolicy: api.RestartPolicyNever, Containers: []api.Container{c}}})
	p := srv.waitPod("client", 120*time.Second, "finished", func(p *api.Pod) bool {
		return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
	})
	clientIP := p.Status.PodIP
	logsOf := func(pod string) string {
		return runSkiff(t, []string{"SKIFF_CONFIG=" + srv.srv.config}, "", "logs", pod).out
	}
	remote := logsOf("web-" + ag.name)
	local := logsOf("web-" + srv.name)
	if !strings.Contains(remote, clientIP) {
		t.Fatalf("the pod on %s never saw the client pod %s (by IP, unmasqueraded); its log:\n%s\nclient: %s %s",
			ag.name, clientIP, remote, statusLine(p), logsOf("client"))
	}
	if !strings.Contains(local, clientIP) {
		t.Errorf("the service's endpoint on %s never answered the client (60 tries); its log:\n%s", srv.name, local)
	}
	if strings.Count(remote, clientIP) < 2 {
		t.Errorf("the service's endpoint on %s never answered through the service (only the direct fetch); its log:\n%s", ag.name, remote)
	}
}
