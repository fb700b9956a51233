package gc_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/gc"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// fakeRuntime is an in-memory gc.Runtime. Removing the last reference to
// an image frees its size on disk, if disk is set.
type fakeRuntime struct {
	mu         sync.Mutex
	containers map[string]container.Status
	images     []container.Image
	disk       *fakeDisk

	listErr, listImagesErr error
	// removeErr fails the removal of a container (by ID) or an image
	// (by reference).
	removeErr map[string]error

	lists             int
	removedContainers []string
	removedImages     []string
}

var _ gc.Runtime = (*fakeRuntime)(nil)

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{containers: map[string]container.Status{}, removeErr: map[string]error{}}
}

func (f *fakeRuntime) addContainer(cs ...container.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		f.containers[c.ID] = c
	}
}

func (f *fakeRuntime) addImage(imgs ...container.Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images = append(f.images, imgs...)
}

func (f *fakeRuntime) List(ctx context.Context) ([]container.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.listErr != nil {
		return nil, f.listErr
	}
	out := make([]container.Status, 0, len(f.containers))
	for _, c := range f.containers {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.removeErr[id]; err != nil {
		return err
	}
	if _, ok := f.containers[id]; !ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	delete(f.containers, id)
	f.removedContainers = append(f.removedContainers, id)
	return nil
}

func (f *fakeRuntime) ListImages(ctx context.Context) ([]container.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listImagesErr != nil {
		return nil, f.listImagesErr
	}
	return slices.Clone(f.images), nil
}

func (f *fakeRuntime) RemoveImage(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.removeErr[ref]; err != nil {
		return err
	}
	i := slices.IndexFunc(f.images, func(img container.Image) bool { return img.Ref == ref })
	if i < 0 {
		return fmt.Errorf("image %s: %w", ref, errdefs.ErrNotFound)
	}
	img := f.images[i]
	f.images = slices.Delete(f.images, i, i+1)
	f.removedImages = append(f.removedImages, ref)
	last := !slices.ContainsFunc(f.images, func(o container.Image) bool { return o.ID == img.ID })
	if f.disk != nil && last {
		f.disk.free(uint64(img.Size))
	}
	return nil
}

// removed returns the containers and image references removed so far.
func (f *fakeRuntime) removed() (containers, images []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.removedContainers), slices.Clone(f.removedImages)
}

func (f *fakeRuntime) imageRefs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, img := range f.images {
		out = append(out, img.Ref)
	}
	sort.Strings(out)
	return out
}

// fakeDisk is a file system of total bytes with used of them used.
type fakeDisk struct {
	mu          sync.Mutex
	used, total uint64
	err         error
	calls       int
}

func (d *fakeDisk) usage(path string) (used, total uint64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	return d.used, d.total, d.err
}

func (d *fakeDisk) free(n uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.used -= min(d.used, n)
}

func (d *fakeDisk) set(used, total uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.used, d.total = used, total
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a collector on a fake runtime, disk and clock, with a log
// directory in a temporary directory.
type env struct {
	rt     *fakeRuntime
	disk   *fakeDisk
	clock  *fakeClock
	logDir string
	known  map[string]bool
	keep   map[string]bool
	mu     sync.Mutex
	gc     *gc.GC
}

// newEnv builds an env; modify changes the config before New. The clock
// starts an hour after the real time, so that the files and directories
// a test makes are an hour old unless it ages them otherwise.
func newEnv(t testing.TB, modify func(*gc.Config)) *env {
	t.Helper()
	e := &env{
		rt:     newFakeRuntime(),
		disk:   &fakeDisk{used: 50, total: 100},
		clock:  &fakeClock{t: time.Now().Add(time.Hour).Truncate(time.Second)},
		logDir: filepath.Join(t.TempDir(), "pods"),
		known:  map[string]bool{},
		keep:   map[string]bool{},
	}
	e.rt.disk = e.disk
	cfg := gc.Config{
		Runtime:   e.rt,
		ImageFS:   "/var/lib/skiff/containerd",
		LogDir:    e.logDir,
		KnownPod:  e.isKnown,
		Keep:      e.isKept,
		DiskUsage: e.disk.usage,
		Now:       e.clock.Now,
	}
	if modify != nil {
		modify(&cfg)
	}
	g, err := gc.New(cfg)
	if err != nil {
		t.Fatalf("gc.New: %v", err)
	}
	e.gc = g
	return e
}

func (e *env) isKnown(uid string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.known[uid]
}

func (e *env) isKept(ref string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.keep[ref]
}

func (e *env) collect(t testing.TB) gc.Report {
	t.Helper()
	rep, err := e.gc.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return rep
}

// writeFile makes a file of size bytes at root/rel, last modified age
// before now.
func writeFile(t testing.TB, root, rel string, size int, now time.Time, age time.Duration) string {
	t.Helper()
	path := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
	return path
}

// tree lists every path under root, relative and sorted, directories
// with a trailing slash.
func tree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// run is a run of a pod's container; an exited one finished ago before
// now.
func run(uid, name string, attempt int, state container.State, now time.Time, ago time.Duration) container.Status {
	c := container.Status{
		ID:         fmt.Sprintf("%s-%s-%d", uid, name, attempt),
		Pod:        container.PodRef{UID: uid, Namespace: "default", Name: "pod-" + uid},
		Name:       name,
		Attempt:    attempt,
		State:      state,
		CreatedAt:  now.Add(-ago - time.Second),
		StartedAt:  now.Add(-ago - time.Second),
		FinishedAt: now.Add(-ago),
		Image:      "docker.io/library/busybox:latest",
		ImageID:    "sha256:busybox",
	}
	if state != container.StateExited {
		c.FinishedAt = time.Time{}
	}
	return c
}
