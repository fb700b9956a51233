package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// BenchmarkServiceVsDirect: small HTTP requests (a new connection each,
// so every one goes through the service rules' DNAT) and bulk TCP, from
// the machine to a pod on a real node, through a ClusterIP service and
// directly to the pod's address, in the same run. The aim is within 5 %.
//
//	go test -run '^$' -bench ServiceVsDirect -benchtime 1x ./cmd/skiff/
func BenchmarkServiceVsDirect(b *testing.B) {
	n := newTestNode(b, 21)
	n.start()
	ctx := context.Background()
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{Containers: []api.Container{container("web", "httpd")}}})
	n.create(&api.Pod{ObjectMeta: api.ObjectMeta{Name: "sink", Labels: map[string]string{"app": "sink"}},
		Spec: api.PodSpec{Containers: []api.Container{container("sink", "busybox", "sh", "-c", "while true; do nc -l -p 9000 >/dev/null; done")}}})
	web := n.waitPod("web", 60*time.Second, "Ready", isReady)
	sink := n.waitPod("sink", 60*time.Second, "Ready", isReady)
	svcs := client.For[*api.Service](n.client, "default")
	mk := func(name string, port, target int32) string {
		s, err := svcs.Create(ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []api.ServicePort{{Port: port, TargetPort: api.FromInt(target)}}}})
		if err != nil {
			b.Fatal(err)
		}
		return s.Spec.ClusterIP
	}
	webVIP, sinkVIP := mk("web", 80, 8080), mk("sink", 9000, 9000)
	// This machine reaches the node's pods and service addresses through
	// the node.
	for _, dst := range []string{"10.252.0.0/16", "10.43.0.0/16"} {
		if out, err := exec.Command("ip", "route", "add", dst, "via", n.nodeIP).CombinedOutput(); err != nil {
			b.Fatalf("route %s: %v: %s", dst, err, out)
		}
		b.Cleanup(func() { exec.Command("ip", "route", "del", dst, "via", n.nodeIP).Run() })
	}

	httpRun := func(url string, count int) (perSec float64, p50, p99 time.Duration) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		lat := make([]time.Duration, 0, count)
		start := time.Now()
		for range count {
			t0 := time.Now()
			resp, err := hc.Get(url)
			if err != nil {
				b.Fatalf("GET %s: %v", url, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat = append(lat, time.Since(t0))
		}
		el := time.Since(start)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return float64(count) / el.Seconds(), lat[count/2], lat[count*99/100]
	}
	bulk := func(addr string, size int) float64 {
		// The sink's nc listens again a moment after each connection.
		var conn net.Conn
		var err error
		for try := 0; try < 50; try++ {
			if conn, err = net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			b.Fatalf("dial %s: %v", addr, err)
		}
		buf := make([]byte, 1<<20)
		start := time.Now()
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := conn.Write(buf); err != nil {
				b.Fatalf("write %s: %v", addr, err)
			}
		}
		conn.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, conn)
		el := time.Since(start)
		conn.Close()
		return float64(size) / (1 << 20) / el.Seconds()
	}
	direct := "http://" + net.JoinHostPort(web.Status.PodIP, "8080") + "/"
	viaVIP := "http://" + webVIP + "/"
	for _, u := range []string{direct, viaVIP} {
		n.eventually(30*time.Second, u+" answers", func() (bool, string) {
			resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(u)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(body), "hello from skiff"), string(body)
		})
	}
	n.eventually(30*time.Second, "the sink service takes connections", func() (bool, string) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(sinkVIP, "9000"), 2*time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	time.Sleep(time.Second) // the sink's nc is back to listening
	const reqs, bytes = 2000, 512 << 20
	// Alternate, twice each, so that drift hits both alike.
	var dRate, vRate, dMB, vMB float64
	var dP99, vP99, dP50, vP50 time.Duration
	for range 2 {
		r, p50, p99 := httpRun(direct, reqs)
		dRate, dP50, dP99 = dRate+r/2, p50, max(dP99, p99)
		r, p50, p99 = httpRun(viaVIP, reqs)
		vRate, vP50, vP99 = vRate+r/2, p50, max(vP99, p99)
		dMB += bulk(net.JoinHostPort(sink.Status.PodIP, "9000"), bytes) / 2
		vMB += bulk(net.JoinHostPort(sinkVIP, "9000"), bytes) / 2
	}
	fmt.Printf("HTTP, new connection per request (%d × 2): direct %.0f req/s p50 %s p99 %s; ClusterIP %.0f req/s p50 %s p99 %s; ratio %.3f\n",
		reqs, dRate, dP50.Round(time.Microsecond), dP99.Round(time.Microsecond), vRate, vP50.Round(time.Microsecond), vP99.Round(time.Microsecond), vRate/dRate)
	fmt.Printf("bulk TCP, %d MB × 2: direct %.0f MB/s; ClusterIP %.0f MB/s; ratio %.3f (aim ≥ 0.95)\n", bytes>>20, dMB, vMB, vMB/dMB)
	b.ReportMetric(vRate/dRate, "http-ratio")
	b.ReportMetric(vMB/dMB, "bulk-ratio")
}
