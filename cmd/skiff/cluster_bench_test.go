package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/hollow"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/controller/cronjob"
	"github.com/skiffhq/skiff/server/controller/manager"
	"github.com/skiffhq/skiff/server/nodelease"
	"github.com/skiffhq/skiff/server/registry"
	"github.com/skiffhq/skiff/server/store"
)

// hollowCluster is the control plane in-process (store, registry,
// nodeipam, scheduler, controllers) with hollow nodes: real agents on an
// in-memory runtime, registered like real nodes.
type hollowCluster struct {
	reg   *registry.Registry
	nodes *hollow.Cluster
}

func startHollowCluster(b testing.TB, ctx context.Context, nodes int) *hollowCluster {
	b.Helper()
	return startHollowClusterWith(b, ctx, hollowClusterConfig{Nodes: nodes})
}

// hollowZones are the zones of nodes 0, 1, 2, 3, … when
// hollowClusterConfig.Labels is nil: a, b, c, a, …
var hollowZones = []string{"a", "b", "c"}

// hollowClusterConfig says what cluster startHollowClusterWith makes.
type hollowClusterConfig struct {
	Nodes int
	// Labels are node i's labels; nil puts the nodes in zones a, b, c
	// in turn (topology.kubernetes.io/zone).
	Labels func(i int) map[string]string
	// Taints are node i's taints; nil means none.
	Taints func(i int) []api.Taint
	// CronJobClock is the cron job controller's clock; nil is the wall
	// clock.
	CronJobClock cronjob.Clock
	// ClaimGCPeriod is how often the agents delete deleted claims'
	// volumes; zero is the agent's default (a minute).
	ClaimGCPeriod time.Duration
}

// startHollowClusterWith starts the control plane and cfg.Nodes hollow
// nodes and waits until the nodes are ready. The control loops and the
// nodes stop when the test ends, before the store closes.
func startHollowClusterWith(b testing.TB, ctx context.Context, cfg hollowClusterConfig) *hollowCluster {
	b.Helper()
	st, err := store.Open(store.Config{Path: filepath.Join(b.TempDir(), "state.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	if err := reg.EnsureNamespaces(ctx); err != nil {
		b.Fatal(err)
	}
	if err := reg.EnsurePriorityClasses(ctx); err != nil {
		b.Fatal(err)
	}
	leases := nodelease.New(nil)
	loops, err := manager.New(manager.Config{Backend: reg, Leases: leases, ClusterCIDR: "10.32.0.0/12",
		CronJobClock: cfg.CronJobClock, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	loopCtx, stopLoops := context.WithCancel(ctx)
	loopsDone := make(chan struct{})
	go func() {
		defer close(loopsDone)
		if err := loops.Run(loopCtx); err != nil && loopCtx.Err() == nil {
			b.Errorf("control loops stopped: %v", err)
		}
	}()
	b.Cleanup(func() {
		stopLoops()
		<-loopsDone
	})
	if cfg.Labels == nil {
		cfg.Labels = func(i int) map[string]string {
			return map[string]string{"topology.kubernetes.io/zone": hollowZones[i%len(hollowZones)]}
		}
	}
	c, err := hollow.Start(ctx, hollow.Config{
		Backend:  reg,
		Count:    cfg.Nodes,
		Dir:      b.TempDir(),
		Labels:   cfg.Labels,
		Taints:   cfg.Taints,
		Capacity: func(int) api.ResourceList { return hollow.Resources(4000, 16<<30, 110) },
		Lease:    localLease{leases},

		ClaimGCPeriod: cfg.ClaimGCPeriod,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Stop() })
	if _, err := c.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	return &hollowCluster{reg: reg, nodes: c}
}

// BenchmarkHollowReplicaSet: a ReplicaSet of 1,000 replicas spread over
// 100 hollow nodes by zone, from create to all pods Ready — the
// scheduler, the ReplicaSet controller and 100 agents together.
//
//	go test -run '^$' -bench HollowReplicaSet -benchtime 1x ./cmd/skiff/
func BenchmarkHollowReplicaSet(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hc := startHollowCluster(b, ctx, 100)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	replicas := int32(1000)
	labels := map[string]string{"app": "bench"}
	rs := &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: "bench", Namespace: "default"},
		Spec: api.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{
					Containers: []api.Container{{Name: "c", Image: "bench:1", Resources: api.ResourceRequirements{
						Requests: api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(10), api.ResourceMemory: api.NewBinaryQuantity(16 << 20)}}}},
					TopologySpreadConstraints: []api.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone",
						WhenUnsatisfiable: api.DoNotSchedule, LabelSelector: &api.LabelSelector{MatchLabels: labels}}},
				},
			},
		},
	}
	start := time.Now()
	if _, err := client.For[*api.ReplicaSet](hc.reg, "default").Create(ctx, rs); err != nil {
		b.Fatal(err)
	}
	var bound, ready time.Duration
	for ctx.Err() == nil {
		got, err := client.For[*api.ReplicaSet](hc.reg, "default").Get(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if bound == 0 {
			pods, _, _, _ := client.For[*api.Pod](hc.reg, "default").List(ctx, api.ListOptions{FieldSelector: "spec.nodeName="})
			if len(pods) == 0 && got.Status.Replicas == replicas {
				bound = time.Since(start)
			}
		}
		if got.Status.ReadyReplicas == replicas {
			ready = time.Since(start)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ready == 0 {
		b.Fatal("not all replicas Ready in 5 minutes")
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("ReplicaSet of %d on 100 hollow nodes (zone spread): all bound in %s, all Ready in %s (%.0f pods/s); heap +%.1f MB\n",
		replicas, bound.Round(time.Millisecond), ready.Round(time.Millisecond), float64(replicas)/ready.Seconds(),
		float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6)
	b.ReportMetric(ready.Seconds(), "ready-s")
}

// BenchmarkHollowDeployment: a 100-replica Deployment on 10 hollow nodes,
// create → all available, then a full rolling update (a new env var in
// the template) → all 100 updated and available again.
//
//	go test -run '^$' -bench HollowDeployment -benchtime 1x ./cmd/skiff/
func BenchmarkHollowDeployment(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hc := startHollowCluster(b, ctx, 10)
	deps := client.For[*api.Deployment](hc.reg, "default")
	replicas := int32(100)
	labels := map[string]string{"app": "web"}
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{
			Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "web:1", Resources: api.ResourceRequirements{
					Requests: api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(10), api.ResourceMemory: api.NewBinaryQuantity(16 << 20)}}}}},
			},
		},
	}
	wait := func(what string) time.Duration {
		start := time.Now()
		for ctx.Err() == nil {
			got, err := deps.Get(ctx, "web")
			if err != nil {
				b.Fatal(err)
			}
			st := got.Status
			if st.ObservedGeneration == got.Generation && st.UpdatedReplicas == replicas && st.AvailableReplicas == replicas && st.Replicas == replicas {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Fatalf("%s: not done in 5 minutes", what)
		return 0
	}
	if _, err := deps.Create(ctx, d); err != nil {
		b.Fatal(err)
	}
	up := wait("create")
	cur, err := deps.Get(ctx, "web")
	if err != nil {
		b.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Env = []api.EnvVar{{Name: "VERSION", Value: "2"}}
	if _, err := deps.Update(ctx, cur); err != nil {
		b.Fatal(err)
	}
	rolled := wait("rolling update")
	fmt.Printf("Deployment of %d on 10 hollow nodes: create → all available %s (aim < 3 s); full rolling update %s\n",
		replicas, up.Round(time.Millisecond), rolled.Round(time.Millisecond))
	b.ReportMetric(up.Seconds(), "create-s")
	b.ReportMetric(rolled.Seconds(), "rollout-s")
}
