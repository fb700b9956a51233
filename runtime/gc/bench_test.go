package gc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/gc"
)

// benchNode is a node of 25 known pods of two containers each (one
// running, one exited: 50 containers), their log files (live and
// rotated), and 20 images of which 10 are in use.
func benchNode(b *testing.B, e *env) {
	now := e.clock.Now()
	for p := range 25 {
		uid := fmt.Sprintf("pod-%02d", p)
		e.known[uid] = true
		for i, name := range []string{"app", "side"} {
			state := container.StateRunning
			if i == 1 {
				state = container.StateExited
			}
			c := run(uid, name, 0, state, now, time.Hour)
			c.Image, c.ImageID = ref(fmt.Sprintf("img-%02d", p%10)), fmt.Sprintf("sha256:img-%02d", p%10)
			e.rt.addContainer(c)
			writeFile(b, e.logDir, fmt.Sprintf("%s/logs/%s/0.log", uid, name), 1024, now, 0)
			writeFile(b, e.logDir, fmt.Sprintf("%s/logs/%s/0.log.1", uid, name), 1024, now, time.Hour)
		}
	}
	for i := range 20 {
		e.rt.addImage(img(fmt.Sprintf("img-%02d", i), 10))
	}
}

// BenchmarkCollect is one pass over 50 containers and 20 images on the
// fake runtime, with the log files on disk: idle when there is nothing
// to collect (the usual pass), remove when each pass removes 25 exited
// containers of gone pods, their 25 log files and 10 unused images.
func BenchmarkCollect(b *testing.B) {
	ctx := context.Background()
	b.Run("idle", func(b *testing.B) {
		e := newEnv(b, nil)
		benchNode(b, e)
		for b.Loop() {
			if rep, err := e.gc.Collect(ctx); err != nil || rep != (gc.Report{}) {
				b.Fatalf("Collect: %+v, %v; want nothing collected", rep, err)
			}
		}
	})
	b.Run("remove", func(b *testing.B) {
		e := newEnv(b, func(c *gc.Config) { c.ImageMinAge, c.MinAge = time.Second, time.Second })
		e.rt.disk = nil // the estimate alone decides
		benchNode(b, e)
		// The unused images (10 of 10 bytes) are seen once, unused.
		e.collect(b)
		for b.Loop() {
			b.StopTimer()
			now := e.clock.Now()
			for p := range 25 {
				uid := fmt.Sprintf("gone-%02d", p)
				e.rt.addContainer(run(uid, "app", 0, container.StateExited, now, time.Hour))
				writeFile(b, e.logDir, uid+"/logs/app/0.log", 1024, now, time.Hour)
			}
			// 899 of 1000: removing all ten brings it to 799.
			e.disk.set(899, 1000)
			e.clock.Advance(2 * time.Second)
			b.StartTimer()
			rep, err := e.gc.Collect(ctx)
			if err != nil || rep.ContainersRemoved != 25 || rep.LogFilesRemoved != 25 || rep.ImagesRemoved != 10 {
				b.Fatalf("Collect: %+v, %v; want 25 containers, 25 log files, 10 images", rep, err)
			}
			b.StopTimer()
			for i := 10; i < 20; i++ {
				e.rt.addImage(img(fmt.Sprintf("img-%02d", i), 10))
			}
			e.disk.set(500, 1000)
			e.collect(b) // the new images seen, unused
			b.StartTimer()
		}
	})
}
