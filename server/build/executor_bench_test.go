package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/opencontainers/image-spec/identity"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// benchDockerfile is a COPY and a RUN on the busybox test image.
var benchDockerfile = "FROM " + testBase + "\nCOPY app.txt /app/app.txt\nRUN cat /app/app.txt > /app/copy.txt\nCMD [\"cat\", \"/app/copy.txt\"]\n"

// BenchmarkBuild times a whole build of benchDockerfile: cold (the build
// cache pruned before each build: every step runs, the layers are diffed
// and the image is written and unpacked) and warm (every step from the
// cache: the cost of parsing, keying and writing the image). The floor is
// the same COPY and RUN done with raw containerd calls (prepare, mount,
// write, unmount, a runc task, diff, commit) and no image: what a build
// costs at least on this containerd.
//
//	sudo go test ./server/build -run '^$' -bench Build -benchtime 20x
func BenchmarkBuild(b *testing.B) {
	bl := testBuilder(b)
	dir := newTree(b, map[string]string{"Dockerfile": benchDockerfile, "app.txt": "bench\n"})
	name := imageName(b)
	ctx := context.Background()
	req := Request{ContextDir: dir, Image: name}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if _, err := bl.Prune(ctx, -time.Second); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if res, err := bl.Build(ctx, req); err != nil || res.CachedSteps != 0 {
				b.Fatalf("cold build: %v (cached %v)", err, res)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		if _, err := bl.Build(ctx, req); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if res, err := bl.Build(ctx, req); err != nil || res.CachedSteps != res.Steps {
				b.Fatalf("warm build: %v (%+v)", err, res)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		c := bl.Client
		ctx := namespaces.WithNamespace(ctx, testNamespace)
		img, err := c.GetImage(ctx, testBase)
		if err != nil {
			b.Fatal(err)
		}
		diffIDs, err := img.RootFS(ctx)
		if err != nil {
			b.Fatal(err)
		}
		parent := identity.ChainID(diffIDs).String()
		for b.Loop() {
			ctx, done, err := c.WithLease(ctx)
			if err != nil {
				b.Fatal(err)
			}
			parent := floorStep(ctx, b, c, parent, func(active string, mounts []mount.Mount) {
				if err := withMounted(mounts, false, func(root string) error {
					os.MkdirAll(filepath.Join(root, "app"), 0o755)
					return os.WriteFile(filepath.Join(root, "app", "app.txt"), []byte("bench\n"), 0o644)
				}); err != nil {
					b.Fatal(err)
				}
			})
			top := floorStep(ctx, b, c, parent, func(active string, _ []mount.Mount) {
				floorRun(ctx, b, c, active, "/bin/sh", "-c", "cat /app/app.txt > /app/copy.txt")
			})
			sn := c.SnapshotService("overlayfs")
			if err := sn.Remove(ctx, top); err != nil {
				b.Fatal(err)
			}
			if err := sn.Remove(ctx, parent); err != nil {
				b.Fatal(err)
			}
			done(ctx)
		}
	})
}

// floorStep is one filesystem step with raw calls: prepare on parent, fn,
// diff, commit; it returns the committed snapshot.
func floorStep(ctx context.Context, b *testing.B, c *containerd.Client, parent string, fn func(active string, mounts []mount.Mount)) string {
	sn := c.SnapshotService("overlayfs")
	active := "floor-" + randomID()
	mounts, err := sn.Prepare(ctx, active, parent)
	if err != nil {
		b.Fatal(err)
	}
	fn(active, mounts)
	if _, err := rootfs.CreateDiff(ctx, active, sn, c.DiffService(), diff.WithMediaType(v1.MediaTypeImageLayerGzip)); err != nil {
		b.Fatal(err)
	}
	name := "floor-committed-" + randomID()
	if err := sn.Commit(ctx, name, active); err != nil {
		b.Fatal(err)
	}
	return name
}

// floorRun runs args in a container on the active snapshot and waits.
func floorRun(ctx context.Context, b *testing.B, c *containerd.Client, active string, args ...string) {
	id := "floor-run-" + randomID()
	ctr, err := c.NewContainer(ctx, id, containerd.WithSnapshotter("overlayfs"), containerd.WithSnapshot(active),
		containerd.WithNewSpec(oci.WithProcessArgs(args...), oci.WithHostNamespace(specs.NetworkNamespace),
			oci.WithCgroup(fmt.Sprintf("/skiff-buildtest-%d/%s", os.Getpid(), id))))
	if err != nil {
		b.Fatal(err)
	}
	defer ctr.Delete(ctx)
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		b.Fatal(err)
	}
	exit, err := task.Wait(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if st := <-exit; st.ExitCode() != 0 {
		b.Fatalf("floor run: exit %d", st.ExitCode())
	}
	task.Delete(ctx)
}
