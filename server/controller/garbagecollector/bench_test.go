package garbagecollector

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// BenchmarkBackgroundDelete deletes a replica set that owns 1,000 pods
// and times it until the collector has deleted them all.
//
//	go test -run '^$' -bench BackgroundDelete -benchtime=3x ./server/controller/garbagecollector/
func BenchmarkBackgroundDelete(b *testing.B) {
	const n = 1000
	e := newEnv(b, false)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		rs := e.create(newRS(fmt.Sprintf("web%d", i), 0))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for j := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				p := newPod(fmt.Sprintf("web%d-%d", i, j), refTo(rs, true, true))
				p.Labels = map[string]string{"bench": fmt.Sprint(i)}
				if _, err := e.reg.Create(e.ctx, "pods", "default", p); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		pods := client.For[*api.Pod](e.reg, "default")
		b.StartTimer()
		start := time.Now()
		e.del(rs)
		for {
			l, _, _, err := pods.List(e.ctx, api.ListOptions{LabelSelector: fmt.Sprintf("bench=%d", i)})
			if err != nil {
				b.Fatal(err)
			}
			if len(l) == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		total += elapsed
		b.StopTimer()
		b.Logf("iteration %d: %d pods collected in %v: %.0f pods/s", i, n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "pods/s")
}
