package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/skiffhq/skiff/server/api"
)

// The benchmarks print skiff's figure next to a floor measured in the same
// run on the same disk: raw bbolt doing the least it can for the same
// answer (one put per fsync'd transaction; a get or a scan without
// decoding). x-floor = skiff / floor; above 1 is faster than the floor.
//
//	go test -run='^$' -bench=. -benchtime=2000x ./server/store/

func benchPod(i int) *api.Pod {
	p := pod("default", fmt.Sprintf("web-%07d", i), "node-1", map[string]string{"app": "web", "tier": "frontend"})
	p.Spec.Containers[0].Ports = []api.ContainerPort{{ContainerPort: 8080}}
	return p
}

func rawFloor(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "floor.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("pods")); return err })
	return db
}

// parallel runs n calls of fn spread over workers goroutines and returns
// the calls per second.
func parallel(n, workers int, fn func(i int)) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func report(b *testing.B, unit string, ours, floor float64) {
	b.ReportMetric(ours, unit)
	b.ReportMetric(floor, "floor-"+unit)
	b.ReportMetric(ours/floor, "x-floor")
}

func BenchmarkCreate(b *testing.B) {
	for _, writers := range []int{1, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := newStore(b, Config{})
			pods := make([][]byte, b.N)
			for i := range pods {
				pods[i], _ = json.Marshal(benchPod(i))
			}
			b.ResetTimer()
			ours := parallel(b.N, writers, func(i int) {
				if _, err := s.Create(ctx, benchPod(i)); err != nil {
					b.Error(err)
				}
			})
			b.StopTimer()
			db := rawFloor(b)
			floor := parallel(b.N, writers, func(i int) {
				db.Update(func(tx *bolt.Tx) error {
					return tx.Bucket([]byte("pods")).Put([]byte(fmt.Sprintf("default/web-%07d", i)), pods[i])
				})
			})
			st := s.Stats()
			b.ReportMetric(float64(st.Changes)/float64(st.Commits), "writes/commit")
			report(b, "creates/s", ours, floor)
		})
	}
}

func BenchmarkGet(b *testing.B) {
	const n = 1000
	s := newStore(b, Config{})
	db := rawFloor(b)
	for i := 0; i < n; i++ {
		p, _ := s.Create(ctx, benchPod(i))
		data, _ := json.Marshal(p)
		db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("pods")).Put([]byte(fmt.Sprintf("default/web-%07d", i)), data)
		})
	}
	b.ResetTimer()
	ours := parallel(b.N, 2, func(i int) {
		if _, err := s.Get(ctx, podKey("default", fmt.Sprintf("web-%07d", i%n))); err != nil {
			b.Error(err)
		}
	})
	b.StopTimer()
	floor := parallel(b.N, 2, func(i int) {
		db.View(func(tx *bolt.Tx) error {
			_ = tx.Bucket([]byte("pods")).Get([]byte(fmt.Sprintf("default/web-%07d", i%n)))
			return nil
		})
	})
	report(b, "gets/s", ours, floor)
}

func BenchmarkList10k(b *testing.B) {
	const n = 10000
	s := newStore(b, Config{})
	db := rawFloor(b)
	parallel(n, 32, func(i int) { s.Create(ctx, benchPod(i)) })
	res, _ := s.List(ctx, "pods", ListOptions{})
	db.Update(func(tx *bolt.Tx) error {
		for _, o := range res.Items {
			data, _ := json.Marshal(o)
			tx.Bucket([]byte("pods")).Put([]byte("default/"+o.GetObjectMeta().Name), data)
		}
		return nil
	})
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res, err := s.List(ctx, "pods", ListOptions{})
		if err != nil || len(res.Items) != n {
			b.Fatalf("list: %d items, %v", len(res.Items), err)
		}
	}
	ours := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	start = time.Now()
	for i := 0; i < b.N; i++ {
		db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte("pods")).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				_ = v
			}
			return nil
		})
	}
	floor := float64(b.N) / time.Since(start).Seconds()
	report(b, "lists/s", ours, floor)
}

// BenchmarkWatchFanout: creates with 100 watchers, each of which must
// receive every event; the floor is the same creates with no watcher.
func BenchmarkWatchFanout(b *testing.B) {
	const watchers = 100
	s := newStore(b, Config{HistorySize: 1 << 16})
	var wg sync.WaitGroup
	for w := 0; w < watchers; w++ {
		wt, err := s.Watch(ctx, "pods", WatchOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer wt.Stop()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < b.N; n++ {
				e := <-wt.ResultChan()
				if e.Type == api.Error {
					b.Error(e.Err)
					return
				}
			}
		}()
	}
	b.ResetTimer()
	start := time.Now()
	parallel(b.N, 32, func(i int) { s.Create(ctx, benchPod(i)) })
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	alone := newStore(b, Config{})
	floor := parallel(b.N, 32, func(i int) { alone.Create(ctx, benchPod(i)) })
	b.ReportMetric(float64(b.N*watchers)/elapsed.Seconds(), "events-delivered/s")
	report(b, "creates/s", float64(b.N)/elapsed.Seconds(), floor)
}
