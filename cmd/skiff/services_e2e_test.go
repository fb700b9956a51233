package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestServicesOnOneNode: a NodePort service over two httpd pods on a
// real node answers a client pod by its DNS name and by its cluster IP
// (the node's nftables rules, netstack/proxy), and the test process on
// the node's address and node port; once both pods are gone, new
// connections are refused at once.
func TestServicesOnOneNode(t *testing.T) {
	n := newTestNode(t, 18)
	n.start()
	ctx := context.Background()
	for i := range 2 {
		web := container("web", "httpd")
		n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
			Spec: api.PodSpec{Containers: []api.Container{web}}})
	}
	svc, err := client.For[*api.Service](n.client, "default").Create(ctx, &api.Service{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ServiceSpec{Type: api.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
			Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: api.FromInt(8080)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		n.waitPod(fmt.Sprintf("web-%d", i), 60*time.Second, "Ready", isReady)
	}
	vip, nodePort := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort

	// busybox is static: its wget cannot resolve names (glibc's NSS), so
	// the name goes through nslookup (the node's cluster DNS) and wget
	// fetches the address it gave.
	script := `for i in $(seq 30); do
  ip=$(nslookup web.default.svc.skiff.local 2>/dev/null | awk '/^Address/ {a=$NF} END {print a}')
  if [ "$ip" = "$VIP" ] && wget -qO- "http://$ip/" 2>&1 | grep -q "hello from skiff"; then exit 0; fi
  sleep 1
done
echo "name gave: $ip (want $VIP)"; wget -O- "http://$VIP/" 2>&1; exit 1`
	c := container("client", "busybox", "sh", "-c", script)
	c.Env = []api.EnvVar{{Name: "VIP", Value: vip}}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "client"}, Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever, Containers: []api.Container{c}}})
	p := n.waitPod("client", 90*time.Second, "finished", func(p *api.Pod) bool {
		return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
	})
	if p.Status.Phase != api.PodSucceeded {
		logs := runSkiff(t, []string{"SKIFF_CONFIG=" + n.srv.config}, "", "logs", "client").out
		t.Fatalf("a pod could not reach service web (%s) by name and by cluster IP: %s\n%s\nnode rules:\n%s\nserver log:\n%s", vip, statusLine(p), strings.TrimSpace(logs),
			mustRun(t, "ip", "netns", "exec", n.netns, "nft", "list", "table", "ip", "skiff-proxy"), tail(n.srv.log.String(), 40))
	}

	// The node port, from outside the node.
	url := "http://" + net.JoinHostPort(n.nodeIP, strconv.Itoa(int(nodePort))) + "/"
	hc := &http.Client{Timeout: 2 * time.Second}
	n.eventually(30*time.Second, "the node port answers "+url, func() (bool, string) {
		resp, err := hc.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "hello from skiff"), string(b)
	})

	// No endpoints: refused at once, not left to time out.
	// A grace period above 0: the pods leave the API only once the agent
	// has stopped them.
	one := int64(1)
	for i := range 2 {
		n.deletePod(fmt.Sprintf("web-%d", i), &one, 30*time.Second)
	}
	n.eventually(30*time.Second, "the node port refuses without endpoints", func() (bool, string) {
		start := time.Now()
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(n.nodeIP, strconv.Itoa(int(nodePort))), 2*time.Second)
		if err == nil {
			conn.Close()
			return false, "connected"
		}
		return strings.Contains(err.Error(), "refused") && time.Since(start) < time.Second, err.Error()
	})
}
