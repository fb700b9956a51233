package deployment

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// BenchmarkDeployment100 runs the deployment and replica set controllers
// on the real registry and store, with the test's node binding every pod
// and marking it Running and Ready as soon as it is created (and removing
// deleted pods at once, as an agent does once they stop), and times a 100-replica
// deployment from create until all 100 pods exist and status says
// availableReplicas=100, then a full rolling update of it (the default
// 25% / 25%) until the status says complete. No scheduler or agent runs:
// this is the controllers' part of the issue's "under 3 s on 10 hollow
// nodes". Each iteration uses a fresh namespace.
//
//	go test -run '^$' -bench Deployment100 -benchtime=3x ./server/controller/deployment/
func BenchmarkDeployment100(b *testing.B) {
	const n = 100
	e := newEnv(b)
	var create, roll time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench%d", i)
		if _, err := client.For[*api.Namespace](e.reg, "").Create(e.ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		deps := client.For[*api.Deployment](e.reg, ns)
		w, err := deps.Watch(e.ctx, api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		d, err := deps.Create(e.ctx, newDeployment("web", n, "busybox:1"))
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, w, func(d *api.Deployment) bool { return d.Status.AvailableReplicas == n && d.Status.Replicas == n })
		created := time.Since(start)
		b.StopTimer()
		pods, _, _, err := client.For[*api.Pod](e.reg, ns).List(e.ctx, api.ListOptions{})
		if err != nil || len(pods) != n {
			b.Fatalf("%d pods, err %v; want %d", len(pods), err, n)
		}
		d, _ = deps.Get(e.ctx, "web")
		d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
		b.StartTimer()
		start = time.Now()
		if _, err := deps.Update(e.ctx, d); err != nil {
			b.Fatal(err)
		}
		waitFor(b, w, func(d *api.Deployment) bool {
			c := getCondition(&d.Status, api.DeploymentProgressing)
			return d.Generation == d.Status.ObservedGeneration && complete(d, &d.Status) && c != nil && c.Reason == ReasonNewRSAvailable
		})
		rolled := time.Since(start)
		b.StopTimer()
		w.Stop()
		create += created
		roll += rolled
		b.Logf("iteration %d: create → %d available in %v; rolling update in %v", i, n, created.Round(time.Millisecond), rolled.Round(time.Millisecond))
		b.StartTimer()
	}
	b.ReportMetric(create.Seconds()/float64(b.N), "create-s/op")
	b.ReportMetric(roll.Seconds()/float64(b.N), "rollout-s/op")
}

func waitFor(b *testing.B, w api.Watcher, cond func(*api.Deployment) bool) {
	b.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatal("watch ended")
			}
			if d, ok := ev.Object.(*api.Deployment); ok && cond(d) {
				return
			}
		case <-timeout:
			b.Fatal("timed out")
		}
	}
}
