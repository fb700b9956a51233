package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// BenchmarkAppPush measures, on a test node with the real git client:
// a first push of a small Dockerfile app to its answering through the
// router (cold: base image present, no build cache), five one-line
// changes (warm: cached layers), each from `git push` start to the new
// text served; then the router's overhead, requests/s and p99 through
// the router and straight to the pod in the same run; then the first
// request to the app scaled to zero (after its idle minute: the run takes
// about two minutes). It runs once whatever b.N is:
//
//	go test -run '^$' -bench AppPush -benchtime 1x ./cmd/skiff/
func BenchmarkAppPush(b *testing.B) {
	n := newTestNode(b, 38)
	n.serverArgs = []string{"--apps-domain", "apps.test"}
	n.start()
	b.Cleanup(func() {
		client.For[*api.App](n.client, "default").Delete(context.Background(), "bench", api.DeleteOptions{})
		n.eventually(60*time.Second, "app pods gone", func() (bool, string) {
			pods, _, _, _ := n.pods().List(context.Background(), api.ListOptions{LabelSelector: api.LabelApp})
			return len(pods) == 0, fmt.Sprint(len(pods))
		})
	})
	cfg, err := client.LoadConfig(n.srv.config)
	if err != nil {
		b.Fatal(err)
	}
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(cfg.CA), 0o644); err != nil {
		b.Fatal(err)
	}
	remote := "https://git:" + cfg.Token + "@" + strings.TrimPrefix(cfg.Server, "https://") + "/git/bench.git"
	router := "http://" + net.JoinHostPort(n.nodeIP, "80")
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := func(url, host string) (string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("%d %s", resp.StatusCode, data)
		}
		return strings.TrimSpace(string(data)), err
	}
	repo := newAppRepo(b, caFile)
	pushServe := func(text string) time.Duration {
		repo.commit(map[string]string{"Dockerfile": appDockerfile, "index.html": text + "\n"})
		start := time.Now()
		repo.git("push", remote, "main")
		for time.Since(start) < time.Minute {
			if got, err := body(router+"/", "bench.apps.test"); err == nil && got == text {
				return time.Since(start)
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.Fatalf("%s never served", text)
		return 0
	}
	cold := pushServe("v0")
	var warm []time.Duration
	for i := 1; i <= 5; i++ {
		warm = append(warm, pushServe(fmt.Sprintf("v%d", i)))
	}
	sort.Slice(warm, func(i, j int) bool { return warm[i] < warm[j] })
	fmt.Printf("push to serving: cold %s; warm (one-line change, cached layers) p50 %s, max %s (aim < 5 s)\n",
		cold.Round(time.Millisecond), warm[len(warm)/2].Round(time.Millisecond), warm[len(warm)-1].Round(time.Millisecond))
	b.ReportMetric(float64(cold.Milliseconds()), "cold-ms")
	b.ReportMetric(float64(warm[len(warm)/2].Milliseconds()), "warm-p50-ms")

	// Router overhead: the same load through the router and to the pod.
	eps, err := client.For[*api.Endpoints](n.client, "default").Get(context.Background(), "bench")
	if err != nil || len(eps.Subsets) == 0 || len(eps.Subsets[0].Addresses) == 0 {
		b.Fatalf("the app's endpoints: %v %v", eps, err)
	}
	podIP := eps.Subsets[0].Addresses[0].IP
	pod := "http://" + net.JoinHostPort(podIP, fmt.Sprint(eps.Subsets[0].Ports[0].Port))
	// The pod is inside the node's namespace: reach it through the node,
	// as the router does from inside.
	mustRun(b, "ip", "route", "add", podIP+"/32", "via", n.nodeIP)
	b.Cleanup(func() { exec.Command("ip", "route", "del", podIP+"/32").Run() })
	if _, err := body(pod+"/", "bench.apps.test"); err != nil {
		b.Fatalf("the pod straight from here: %v", err)
	}
	direct := measureLoad(func() error { _, err := body(pod+"/", "bench.apps.test"); return err })
	routed := measureLoad(func() error { _, err := body(router+"/", "bench.apps.test"); return err })
	fmt.Printf("direct to the pod: %.0f req/s, p99 %s; through the router: %.0f req/s, p99 %s; ratio %.2f (aim ≥ 0.80)\n",
		direct.rps, direct.p99, routed.rps, routed.p99, routed.rps/direct.rps)
	b.ReportMetric(routed.rps/direct.rps, "router/direct")

	// Scale from zero: idle for a minute, then one request.
	apps := client.For[*api.App](n.client, "default")
	ctx := context.Background()
	if err := updateApp(ctx, n.client, "default", "bench", func(a *api.App) error {
		a.Spec.ScaleToZero = &api.AppScaleToZero{IdleMinutes: 1}
		return nil
	}, func(*api.App) {}); err != nil {
		b.Fatal(err)
	}
	n.eventually(3*time.Minute, "bench idle with no pods", func() (bool, string) {
		a, err := apps.Get(ctx, "bench")
		if err != nil {
			return false, err.Error()
		}
		pods, _, _, _ := n.pods().List(ctx, api.ListOptions{LabelSelector: api.LabelApp + "=bench"})
		return a.Status.Idle && len(pods) == 0, fmt.Sprintf("idle %v, %d pods", a.Status.Idle, len(pods))
	})
	start := time.Now()
	got, err := body(router+"/", "bench.apps.test")
	wake := time.Since(start)
	if err != nil || got != "v5" {
		b.Fatalf("first request to the idle app: %q %v", got, err)
	}
	fmt.Printf("scale from zero: first request answered in %s (aim < 500 ms)\n", wake.Round(time.Millisecond))
	b.ReportMetric(float64(wake.Milliseconds()), "wake-ms")
}

// loadResult is what measureLoad saw.
type loadResult struct {
	rps float64
	p99 time.Duration
}

// measureLoad sends requests from 8 clients for 5 s.
func measureLoad(do func() error) loadResult {
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				s := time.Now()
				if do() == nil {
					mine = append(mine, time.Since(s))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return loadResult{}
	}
	return loadResult{rps: float64(len(lat)) / 5, p99: lat[len(lat)*99/100].Round(10 * time.Microsecond)}
}
