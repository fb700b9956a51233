package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/hollow"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// BenchmarkServerRSS: the memory of a real `skiff server` process (the
// control plane alone: API, store, scheduler, every controller) while
// it holds 1,000 nodes and 10,000 running pods. The nodes are hollow
// agents in this test process talking HTTPS to the server, as real
// agents would, so the server also carries their 1,000 watches and lease
// renewals. The floor printed beside it is the objects' own size as
// JSON: what one copy of the cluster's state costs.
//
//	go test -run '^$' -bench ServerRSS -benchtime 1x ./cmd/skiff/
func BenchmarkServerRSS(b *testing.B) {
	const nodes, sets, perSet = 1000, 10, 1000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv := startServer(b, b.TempDir(), "", "--cluster-cidr", "10.32.0.0/12")
	pid := srv.cmd.Process.Pid
	cfg, err := client.LoadConfig(srv.config)
	if err != nil {
		b.Fatal(err)
	}
	hc, err := client.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	idle := procStatusKB(pid, "VmRSS:")

	start := time.Now()
	zones := []string{"a", "b", "c"}
	cluster, err := hollow.Start(ctx, hollow.Config{
		Backend:  hc,
		Count:    nodes,
		Dir:      b.TempDir(),
		Labels:   func(i int) map[string]string { return map[string]string{"topology.kubernetes.io/zone": zones[i%3]} },
		Capacity: func(int) api.ResourceList { return hollow.Resources(4000, 16<<30, 110) },
		Lease:    hc,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Stop()
	if _, err := cluster.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	nodesUp := time.Since(start)
	withNodes := procStatusKB(pid, "VmRSS:")

	start = time.Now()
	rsets := client.For[*api.ReplicaSet](hc, "default")
	for i := range sets {
		n := int32(perSet)
		labels := map[string]string{"app": fmt.Sprintf("app%d", i)}
		rs := &api.ReplicaSet{
			ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("app%d", i), Namespace: "default"},
			Spec: api.ReplicaSetSpec{
				Replicas: &n,
				Selector: &api.LabelSelector{MatchLabels: labels},
				Template: api.PodTemplateSpec{
					ObjectMeta: api.ObjectMeta{Labels: labels},
					Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "web:1",
						Env: []api.EnvVar{{Name: "MODE", Value: "production"}},
						Resources: api.ResourceRequirements{Requests: api.ResourceList{
							api.ResourceCPU: api.NewMilliQuantity(10), api.ResourceMemory: api.NewBinaryQuantity(16 << 20)}}}}},
				},
			},
		}
		if _, err := rsets.Create(ctx, rs); err != nil {
			b.Fatal(err)
		}
	}
	for ctx.Err() == nil {
		ready := int32(0)
		for i := range sets {
			got, err := rsets.Get(ctx, fmt.Sprintf("app%d", i))
			if err != nil {
				b.Fatal(err)
			}
			ready += got.Status.ReadyReplicas
		}
		if ready == sets*perSet {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if ctx.Err() != nil {
		b.Fatal("pods not all Ready in time")
	}
	podsUp := time.Since(start)
	loaded := procStatusKB(pid, "VmRSS:")
	time.Sleep(30 * time.Second) // the Go runtime returns what it freed
	settled := procStatusKB(pid, "VmRSS:")
	peak := procStatusKB(pid, "VmHWM:")

	// The floor: one copy of the state, as JSON.
	var stateBytes int
	for _, res := range []string{"pods", "nodes", "replicasets"} {
		list, err := client.ListAll(ctx, hc, res, "", api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range list.Items {
			buf, _ := json.Marshal(o)
			stateBytes += len(buf)
		}
	}
	db, _ := os.Stat(filepath.Join(srv.dataDir, "state.db"))
	mb := func(kb int64) float64 { return float64(kb) / 1024 }
	fmt.Printf("skiff server RSS: idle %.1f MB; with %d hollow nodes (Ready in %s) %.1f MB; with %d pods Ready (in %s) %.1f MB, 30 s later %.1f MB, peak %.1f MB\n",
		mb(idle), nodes, nodesUp.Round(time.Millisecond), mb(withNodes), sets*perSet, podsUp.Round(time.Millisecond), mb(loaded), mb(settled), mb(peak))
	fmt.Printf("  state as JSON %.1f MB (floor: one copy); settled RSS %.1f× it, %.1f KB per pod above idle; state.db %.1f MB\n",
		float64(stateBytes)/(1<<20), float64(settled)*1024/float64(stateBytes), float64(settled-idle)/float64(sets*perSet), float64(db.Size())/(1<<20))
	b.ReportMetric(mb(settled), "rss-MB")
}
