package endpoints

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// BenchmarkEndpoints1000x10 makes 1,000 services of 10 ready pods each
// on the real registry and store, then starts the controller and times
// it until all 1,000 Endpoints are written with their 10 addresses; then
// flips one pod's readiness back and forth and times each flip until its
// service's Endpoints show it. Each iteration is a fresh store; run it
// once:
//
//	go test -run '^$' -bench Endpoints1000x10 -benchtime=1x ./server/controller/endpoints/
func BenchmarkEndpoints1000x10(b *testing.B) {
	const services, perService, flips = 1000, 10, 20
	var allWritten, flipTotal time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		e := newStoppedEnv(b)
		setup := time.Now()
		populate(b, e, services, perService)
		b.Logf("iteration %d: setup (%d services, %d pods) took %v", i, services, services*perService, time.Since(setup).Round(time.Millisecond))

		_, rv, _, err := e.eps.List(e.ctx, api.ListOptions{Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
		w, err := e.eps.Watch(ctx, api.ListOptions{ResourceVersion: rv})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		e.start()
		full := map[string]bool{}
		for ev := range w.ResultChan() {
			if ep, ok := ev.Object.(*api.Endpoints); ok && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == perService {
				full[ep.Name] = true
				if len(full) == services {
					break
				}
			}
		}
		d := time.Since(start)
		b.StopTimer()
		w.Stop()
		cancel()
		if len(full) != services {
			b.Fatalf("%d of %d endpoints written", len(full), services)
		}
		allWritten += d
		b.Logf("iteration %d: controller start → all %d endpoints (%d addresses) written: %v", i, services, services*perService, d.Round(time.Millisecond))

		svc, pod := fmt.Sprintf("s%d", services/2), fmt.Sprintf("s%d-p%d", services/2, 3)
		var sum, worst time.Duration
		for f := range flips {
			ready := f%2 == 1
			d := e.timeFlip(svc, pod, ready, func(ep *api.Endpoints) bool {
				notReady := 0
				for _, ss := range ep.Subsets {
					notReady += len(ss.NotReadyAddresses)
				}
				return (notReady == 0) == ready
			})
			sum += d
			worst = max(worst, d)
		}
		flipTotal += sum
		b.Logf("iteration %d: one pod readiness flip → its endpoints updated, among %d services: mean %v, worst %v over %d flips",
			i, services, (sum / flips).Round(time.Microsecond), worst.Round(time.Microsecond), flips)
		e.stop()
		b.StartTimer()
	}
	b.ReportMetric(allWritten.Seconds()/float64(b.N), "s/all-endpoints")
	b.ReportMetric(float64(flipTotal)/float64(time.Millisecond)/float64(b.N*flips), "ms/flip")
}

// populate makes n services s0…s(n-1), each selecting per ready pods
// si-p0…, written by several writers at once (the store batches them).
func populate(b *testing.B, e *env, n, per int) {
	b.Helper()
	work := make(chan func() error)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if err := f(); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		labels := map[string]string{"app": fmt.Sprintf("s%d", i)}
		work <- func() error {
			_, err := e.services.Create(e.ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("s%d", i)},
				Spec: api.ServiceSpec{Selector: labels, Ports: []api.ServicePort{{Port: 80, TargetPort: api.FromInt(8080)}}}})
			return err
		}
		for j := range per {
			k := i*per + j
			work <- func() error {
				p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("s%d-p%d", i, j), Labels: labels}}
				p.Spec.NodeName = "n1"
				p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
				p, err := e.pods.Create(e.ctx, p)
				if err != nil {
					return err
				}
				p.Status.Phase = api.PodRunning
				p.Status.PodIP = fmt.Sprintf("10.42.%d.%d", k/250, k%250+1)
				p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
				_, err = e.pods.UpdateStatus(e.ctx, p)
				return err
			}
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}
