package gc_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/gc"
)

// img is an image of size bytes named docker.io/library/<name>:latest
// with digest sha256:<name>.
func img(name string, size int64) container.Image {
	return container.Image{Ref: "docker.io/library/" + name + ":latest", ID: "sha256:" + name, Size: size}
}

func ref(name string) string { return "docker.io/library/" + name + ":latest" }

// user is a container of pod "users" using image name.
func user(name string, state container.State, now time.Time) container.Status {
	c := run("users", name, 0, state, now, time.Hour)
	c.ID = "user-of-" + name
	c.Image, c.ImageID = ref(name), "sha256:"+name
	return c
}

func TestImagesThresholds(t *testing.T) {
	tests := []struct {
		name        string
		used        uint64 // of 1000
		high, low   int
		wantRemoved []string
	}{
		{"below high", 840, 0, 0, nil},
		{"exactly high", 850, 0, 0, nil},
		{"just above high, to below low", 851, 0, 0, []string{ref("a"), ref("b")}},
		{"far above: everything unused", 990, 0, 0, []string{ref("a"), ref("b"), ref("c"), ref("d")}},
		{"custom thresholds", 710, 70, 65, []string{ref("a"), ref("b"), ref("c")}},
		{"high 100 never", 1000, 100, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *gc.Config) { c.HighThresholdPercent, c.LowThresholdPercent = tt.high, tt.low })
			e.disk.set(tt.used, 1000)
			// 30 bytes each: from 851, a (821) and b (791) bring it
			// below 800.
			e.rt.addImage(img("a", 30), img("b", 30), img("c", 30), img("d", 30))
			e.collect(t) // first seen: unused from now
			e.clock.Advance(gc.DefaultImageMinAge)
			rep, err := e.gc.Collect(context.Background())
			if err != nil && !strings.Contains(err.Error(), "no image can be removed") {
				t.Fatalf("Collect: %v", err)
			}
			_, got := e.rt.removed()
			if !slices.Equal(got, tt.wantRemoved) {
				t.Errorf("removed images: got %q, want %q", got, tt.wantRemoved)
			}
			if rep.ImagesRemoved != len(tt.wantRemoved) || rep.ImageBytesFreed != int64(30*len(tt.wantRemoved)) {
				t.Errorf("report: got %+v, want %d images, %d bytes", rep, len(tt.wantRemoved), 30*len(tt.wantRemoved))
			}
		})
	}
}

func TestImagesLeastRecentlyUsedFirst(t *testing.T) {
	e := newEnv(t, nil)
	e.known["users"] = true
	now := e.clock.Now()
	e.rt.addImage(img("recent", 100), img("never", 100), img("old", 100), img("middle", 100))
	// "never" is used by nothing from the start; "old", "middle" and
	// "recent" stop being used a minute apart.
	e.rt.addContainer(user("old", container.StateExited, now), user("middle", container.StateRunning, now), user("recent", container.StateExited, now))
	e.collect(t)
	for _, name := range []string{"old", "middle", "recent"} {
		e.clock.Advance(time.Minute)
		e.rt.Remove(context.Background(), "user-of-"+name)
		e.collect(t)
	}
	e.clock.Advance(10 * time.Minute)
	// From 900 of 1000, two images of 100 bring the disk below 800.
	e.disk.set(900, 1000)
	rep := e.collect(t)
	_, got := e.rt.removed()
	if want := []string{ref("never"), ref("old")}; !slices.Equal(got, want) {
		t.Fatalf("removed: got %q, want %q (least recently used first)", got, want)
	}
	if rep.ImagesRemoved != 2 {
		t.Errorf("report: got %+v, want 2 images", rep)
	}
	e.disk.set(900, 1000)
	e.collect(t)
	_, got = e.rt.removed()
	if want := []string{ref("never"), ref("old"), ref("middle"), ref("recent")}; !slices.Equal(got, want) {
		t.Errorf("removed after a second full pass: got %q, want %q", got, want)
	}
}

func TestImagesInUseNeverRemoved(t *testing.T) {
	e := newEnv(t, nil)
	e.known["users"], e.known["p"] = true, true
	now := e.clock.Now()
	byShortRef := run("p", "short", 0, container.StateExited, now, time.Hour)
	byShortRef.ID, byShortRef.Image, byShortRef.ImageID = "short", "alpine", "" // as another runtime might spell it
	byDigest := run("p", "digest", 0, container.StateCreated, now, time.Hour)
	byDigest.ID, byDigest.Image, byDigest.ImageID = "digest", "registry.example/other:v1", "sha256:tagged"
	unknownState := user("unknown", container.StateUnknown, now)
	e.rt.addContainer(user("running", container.StateRunning, now), user("exited", container.StateExited, now), byShortRef, byDigest, unknownState)
	e.rt.addImage(img("running", 10), img("exited", 10), img("alpine", 10), img("tagged", 10), img("unknown", 10), img("free", 10))
	e.disk.set(990, 1000)
	e.collect(t)
	e.clock.Advance(time.Hour)
	_, err := e.gc.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "still 98% used (above the low threshold of 80%) and no image can be removed") {
		t.Errorf("Collect of a disk that stays full: got %v, want an error saying it is still 98%% used", err)
	}
	_, got := e.rt.removed()
	if want := []string{ref("free")}; !slices.Equal(got, want) {
		t.Errorf("removed: got %q, want %q", got, want)
	}
}

func TestImagesKeptNeverRemoved(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.addImage(img("pinned", 10), img("by-digest", 10), img("free", 10))
	e.keep[ref("pinned")] = true
	e.keep["sha256:by-digest"] = true
	e.disk.set(990, 1000)
	e.collect(t)
	e.clock.Advance(time.Hour)
	_, err := e.gc.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "2 unused ones are kept by Config.Keep") {
		t.Errorf("Collect: got %v, want an error counting 2 kept images", err)
	}
	if got, want := e.rt.imageRefs(), []string{ref("by-digest"), ref("pinned")}; !slices.Equal(got, want) {
		t.Errorf("images left: got %q, want %q", got, want)
	}
}

func TestImagesMinAge(t *testing.T) {
	e := newEnv(t, func(c *gc.Config) { c.ImageMinAge = 5 * time.Minute })
	e.rt.addImage(img("a", 10))
	e.disk.set(990, 1000)
	for range 5 {
		// Too young is not an error: the image will be removable.
		e.collect(t)
		e.clock.Advance(time.Minute - time.Nanosecond)
	}
	if _, got := e.rt.removed(); len(got) != 0 {
		t.Fatalf("removed within ImageMinAge: %q", got)
	}
	e.clock.Advance(5 * time.Nanosecond)
	if _, err := e.gc.Collect(context.Background()); err == nil || !strings.Contains(err.Error(), "no image can be removed") {
		t.Errorf("Collect once nothing is left to remove: got %v, want an error", err)
	}
	if _, got := e.rt.removed(); !slices.Equal(got, []string{ref("a")}) {
		t.Errorf("removed after ImageMinAge: got %q, want a", got)
	}
}

func TestImagesUseRestartsAge(t *testing.T) {
	e := newEnv(t, nil)
	e.known["users"] = true
	e.rt.addImage(img("a", 100))
	e.collect(t) // unused from now
	e.clock.Advance(time.Hour)
	e.rt.addContainer(user("a", container.StateRunning, e.clock.Now()))
	e.collect(t) // in use
	e.rt.Remove(context.Background(), "user-of-a")
	e.clock.Advance(time.Minute)
	e.disk.set(860, 1000)
	e.collect(t)
	if _, got := e.rt.removed(); len(got) != 0 {
		t.Errorf("an image used a minute ago was removed: %q", got)
	}
	e.clock.Advance(gc.DefaultImageMinAge)
	e.collect(t)
	if _, got := e.rt.removed(); !slices.Equal(got, []string{ref("a")}) {
		t.Errorf("removed: got %q, want a", got)
	}
}

func TestImagesReferencesOfOneDigestGoTogether(t *testing.T) {
	e := newEnv(t, nil)
	e.known["p"] = true
	now := e.clock.Now()
	tag := func(name, id string) container.Image {
		return container.Image{Ref: ref(name), ID: id, Size: 100}
	}
	e.rt.addImage(tag("app-v1", "sha256:one"), tag("app-latest", "sha256:one"), tag("lib-v1", "sha256:two"), tag("lib-latest", "sha256:two"))
	// A container made from lib-latest keeps lib-v1 too: the same image.
	c := run("p", "c", 0, container.StateExited, now, time.Hour)
	c.Image, c.ImageID = ref("lib-latest"), "sha256:two"
	e.rt.addContainer(c)
	e.disk.set(880, 1000)
	e.collect(t)
	e.clock.Advance(time.Hour)
	rep := e.collect(t)
	_, got := e.rt.removed()
	slices.Sort(got)
	if want := []string{ref("app-latest"), ref("app-v1")}; !slices.Equal(got, want) {
		t.Errorf("removed: got %q, want %q", got, want)
	}
	if rep.ImagesRemoved != 1 || rep.ImageBytesFreed != 100 {
		t.Errorf("report: got %+v, want one image of 100 bytes", rep)
	}
}

func TestImagesStopWhenDiskMeasuresBelowLow(t *testing.T) {
	// Sizes unknown (0): only measuring the disk again shows that the
	// first removal was enough.
	calls := 0
	e := newEnv(t, func(c *gc.Config) {
		c.DiskUsage = func(string) (uint64, uint64, error) {
			calls++
			if calls > 2 { // after the two passes' first measurements
				return 500, 1000, nil
			}
			return 900, 1000, nil
		}
	})
	e.rt.addImage(img("a", 0), img("b", 0))
	e.collect(t)
	e.clock.Advance(time.Hour)
	e.collect(t)
	if _, got := e.rt.removed(); !slices.Equal(got, []string{ref("a")}) {
		t.Errorf("removed: got %q, want only a", got)
	}
}

func TestImagesRemoveErrorGoesOn(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.addImage(img("a", 100), img("b", 100))
	e.rt.removeErr[ref("a")] = errors.New("content busy")
	e.disk.set(900, 1000)
	e.collect(t)
	e.clock.Advance(time.Hour)
	rep, err := e.gc.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "remove image docker.io/library/a:latest: content busy") {
		t.Errorf("Collect: got %v, want the failed removal named", err)
	}
	if _, got := e.rt.removed(); !slices.Equal(got, []string{ref("b")}) || rep.ImagesRemoved != 1 {
		t.Errorf("removed: got %q (report %+v), want b", got, rep)
	}
}

func TestImagesDiskErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.addImage(img("a", 200))
	e.disk.err = errors.New("no such file system")
	e.gc.Collect(context.Background())
	e.clock.Advance(time.Hour)
	if _, err := e.gc.Collect(context.Background()); err == nil || !strings.Contains(err.Error(), "image filesystem usage: no such file system") {
		t.Errorf("Collect: got %v, want the disk error", err)
	}
	e.disk.err = nil
	e.disk.set(0, 0)
	if _, err := e.gc.Collect(context.Background()); err == nil || !strings.Contains(err.Error(), "size of 0") {
		t.Errorf("Collect on a disk of size 0: got %v, want an error", err)
	}
	if _, got := e.rt.removed(); len(got) != 0 {
		t.Errorf("removed without a measured disk: %q", got)
	}
	// The image's age was kept through the failed measurements.
	e.disk.set(900, 1000)
	e.collect(t)
	if _, got := e.rt.removed(); !slices.Equal(got, []string{ref("a")}) {
		t.Errorf("removed once measured: got %q, want a", got)
	}
}

func TestImagesListError(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.listImagesErr = errors.New("containerd is restarting")
	e.disk.set(990, 1000)
	if _, err := e.gc.Collect(context.Background()); err == nil || !strings.Contains(err.Error(), "list images: containerd is restarting") {
		t.Errorf("Collect: got %v, want the list error", err)
	}
}
