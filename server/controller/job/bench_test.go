package job

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

// BenchmarkJobThroughput runs a Job of completions 1,000 and parallelism
// 100 on the real registry and store, with a helper that marks every pod
// Succeeded as soon as it appears (standing in for scheduler and agent),
// and times it from create to the Complete condition. Each iteration is a
// fresh job in a fresh namespace.
//
//	go test -run '^$' -bench JobThroughput -benchtime=3x ./server/controller/job/
func BenchmarkJobThroughput(b *testing.B) {
	const completions, parallelism = 1000, 100
	e := newEnv(b, envOptions{realClock: true})
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ns := fmt.Sprintf("bench%d", i)
		if _, err := client.For[*api.Namespace](e.reg, "").Create(e.ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		pods := client.For[*api.Pod](e.reg, ns)
		jobs := client.For[*api.Job](e.reg, ns)
		pw, err := pods.Watch(e.ctx, api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		// The helper: every new pod succeeds at once, 16 writers.
		todo := make(chan *api.Pod, completions)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range todo {
					p.Status.Phase = api.PodSucceeded
					p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "work", State: api.ContainerState{
						Terminated: &api.ContainerStateTerminated{FinishedAt: api.Now()}}}}
					if _, err := pods.UpdateStatus(e.ctx, p); err != nil && e.ctx.Err() == nil {
						b.Errorf("complete pod %s: %v", p.Name, err)
					}
				}
			}()
		}
		go func() {
			defer close(todo)
			for ev := range pw.ResultChan() {
				if p, ok := ev.Object.(*api.Pod); ok && ev.Type == api.Added {
					todo <- api.Clone(p)
				}
			}
		}()
		rev0 := e.st.Revision()
		b.StartTimer()
		start := time.Now()
		j, err := jobs.Create(e.ctx, newJob("batch", completions, parallelism))
		if err != nil {
			b.Fatal(err)
		}
		jw, err := jobs.Watch(e.ctx, api.ListOptions{ResourceVersion: j.ResourceVersion})
		if err != nil {
			b.Fatal(err)
		}
		var done *api.Job
		for ev := range jw.ResultChan() {
			if got, ok := ev.Object.(*api.Job); ok && FinishedCondition(got) != nil {
				done = got
				break
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		writes := e.st.Revision() - rev0
		jw.Stop()
		pw.Stop()
		wg.Wait()
		total += elapsed
		if done == nil || conditionOf(done, api.JobComplete) == nil || done.Status.Succeeded != completions {
			b.Fatalf("job ended with %+v, want Complete with %d succeeded", done, completions)
		}
		list, _, _, err := pods.List(e.ctx, api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		evs, _, _, err := client.For[*api.Event](e.reg, ns).List(e.ctx, api.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("iteration %d: %d pods (%d made) in %v: %.0f pods/s; %d store writes (pods, statuses, events), %d Events",
			i, completions, len(list), elapsed.Round(time.Millisecond), completions/elapsed.Seconds(), writes, len(evs))
		b.StartTimer()
	}
	b.ReportMetric(float64(completions*b.N)/total.Seconds(), "pods/s")
}
