package audit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRecord is what a request pays: Record only queues. Run in
// parallel, as requests do; a full queue drops (and counts), so the
// figure holds however fast the writer is.
func BenchmarkRecord(b *testing.B) {
	l, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := entry(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Record(e)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(l.dropped.Load())/float64(b.N)*100, "%dropped")
}

// BenchmarkWrite1000 measures, per 1000 typical entries recorded at a
// steady pace, the bytes written to the card and the number of write
// calls (flash wear), and the writer's time (CPU on a Pi).
func BenchmarkWrite1000(b *testing.B) {
	l, err := Open(b.TempDir(), Options{FlushEvery: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	es := make([]Entry, 1000)
	for i := range es {
		es[i] = entry(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range es {
			l.Record(es[i])
			if i%512 == 511 {
				// Pace below the queue's size, so nothing is dropped.
				for len(l.q) > 0 {
					time.Sleep(10 * time.Microsecond)
				}
			}
		}
		if err := l.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(l.written.Load())/float64(b.N), "bytes/1000entries")
	b.ReportMetric(float64(l.writes.Load())/float64(b.N), "writes/1000entries")
	if d := l.dropped.Load(); d > 0 {
		b.Errorf("dropped %d entries", d)
	}
}

// BenchmarkQuery reads a full default-sized set of files (60 MiB, about
// 200k entries) for a filter that matches nothing, the worst case, and
// for the newest 100, the common one.
func BenchmarkQuery(b *testing.B) {
	l, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := 0; l.written.Load() < 6*DefaultMaxFileBytes; i++ {
		l.Record(entry(i))
		if i%1024 == 1023 {
			l.Flush()
		}
	}
	for _, f := range []Filter{{}, {User: "nobody"}, {Denied: true}, {Name: "no-such"}} {
		b.Run(fmt.Sprintf("%+v", f.Values()), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Query(context.Background(), f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
