package replicaset

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// BenchmarkReplicaSetScaleUp scales a replica set from 0 to 1,000 on the
// real registry and store and times it until all 1,000 pods exist and the
// status says replicas=1000. Run with -benchtime=1x (or Nx): each
// iteration is a fresh replica set in a fresh namespace.
//
//	go test -run '^$' -bench ReplicaSetScaleUp -benchtime=3x ./server/controller/replicaset/
func BenchmarkReplicaSetScaleUp(b *testing.B) {
	const n = 1000
	e := newEnv(b)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench%d", i)
		if _, err := client.For[*api.Namespace](e.reg, "").Create(e.ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		rsets := client.For[*api.ReplicaSet](e.reg, ns)
		rs, err := rsets.Create(e.ctx, newRS("web", 0))
		if err != nil {
			b.Fatal(err)
		}
		// Wait until the controller has seen it (status written).
		for rs.Status.ObservedGeneration != rs.Generation {
			time.Sleep(5 * time.Millisecond)
			if rs, err = rsets.Get(e.ctx, "web"); err != nil {
				b.Fatal(err)
			}
		}
		w, err := rsets.Watch(e.ctx, api.ListOptions{ResourceVersion: rs.ResourceVersion})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		replicas := int32(n)
		rs.Spec.Replicas = &replicas
		if _, err := rsets.Update(e.ctx, rs); err != nil {
			b.Fatal(err)
		}
		for ev := range w.ResultChan() {
			if got, ok := ev.Object.(*api.ReplicaSet); ok && got.Status.Replicas == n {
				break
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		w.Stop()
		total += elapsed
		pods, _, _, err := client.For[*api.Pod](e.reg, ns).List(e.ctx, api.ListOptions{})
		if err != nil || len(pods) != n {
			b.Fatalf("%d pods, err %v; want %d", len(pods), err, n)
		}
		b.Logf("iteration %d: %d pods in %v: %.0f pods/s", i, n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "pods/s")
}
