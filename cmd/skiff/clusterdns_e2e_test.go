package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// TestClusterDNS: a node serves cluster DNS on 10.43.0.10 and gives it
// to its pods: a pod resolves a service's name to its cluster IP, and an
// unknown name in the zone is NXDOMAIN (not forwarded).
func TestClusterDNS(t *testing.T) {
	n := newTestNode(t, 17)
	n.start()
	ctx := context.Background()
	svc, err := client.For[*api.Service](n.client, "default").Create(ctx, &api.Service{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: api.FromInt(8080)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" {
		t.Fatal("the service got no cluster IP")
	}
	// busybox's nslookup exits 1 on NXDOMAIN; the loop allows for the
	// DNS server's informers to catch up with the service.
	script := `for i in $(seq 30); do
  if nslookup web.default.svc.skiff.local >/tmp/out 2>&1 && grep -q "$WANT" /tmp/out; then
    if nslookup nothere.default.svc.skiff.local >/dev/null 2>&1; then echo "nothere resolved"; exit 2; fi
    grep -q 10.43.0.10 /etc/resolv.conf || { cat /etc/resolv.conf; exit 3; }
    exit 0
  fi
  sleep 1
done
cat /tmp/out; exit 1`
	c := container("dig", "busybox", "sh", "-c", script)
	c.Env = []api.EnvVar{{Name: "WANT", Value: svc.Spec.ClusterIP}}
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "dig"}, Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever, Containers: []api.Container{c}}})
	p := n.waitPod("dig", 60*time.Second, "finished", func(p *api.Pod) bool {
		return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
	})
	if p.Status.Phase != api.PodSucceeded {
		logs := runSkiff(t, []string{"SKIFF_CONFIG=" + n.srv.config}, "", "logs", "dig").out
		t.Fatalf("the pod could not resolve web.default.svc.skiff.local to %s: %s\n%s", svc.Spec.ClusterIP, statusLine(p), strings.TrimSpace(logs))
	}
}
