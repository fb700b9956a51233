package containerd

import (
	"context"
	"fmt"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FloorStart creates and starts a `sleep` container from image (present
// and unpacked) with the bare containerd client, none of skiff's logic
// (no labels, no log copying, no cgroup parent), in netnsPath ("" for the
// host's network), and returns how long that took until its task ran.
// It is the floor that benchmarks of skiff's own container start compare
// against. cleanup kills and deletes what it made.
func FloorStart(ctx context.Context, c *containerd.Client, image, netnsPath string) (time.Duration, func(), error) {
	if _, ok := namespaces.Namespace(ctx); !ok {
		ctx = namespaces.WithNamespace(ctx, Namespace)
	}
	name, err := normalize(image)
	if err != nil {
		return 0, func() {}, err
	}
	id := "floor-" + randomHex(6)
	start := time.Now()
	img, err := c.GetImage(ctx, name)
	if err != nil {
		return 0, func() {}, fmt.Errorf("floor start: image %s: %w", image, classify(err))
	}
	ns := oci.WithHostNamespace(specs.NetworkNamespace)
	if netnsPath != "" {
		ns = oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netnsPath})
	}
	ctr, err := c.NewContainer(ctx, id,
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "100000"), ns))
	if err != nil {
		return 0, func() {}, fmt.Errorf("floor start: container %s: %w", id, classify(err))
	}
	cleanup := func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if t, err := ctr.Task(cctx, nil); err == nil {
			t.Kill(cctx, syscall.SIGKILL)
			t.Delete(cctx, containerd.WithProcessKill)
		}
		ctr.Delete(cctx, containerd.WithSnapshotCleanup)
	}
	t, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		cleanup()
		return 0, func() {}, fmt.Errorf("floor start: task %s: %w", id, classify(err))
	}
	if err := t.Start(ctx); err != nil {
		cleanup()
		return 0, func() {}, fmt.Errorf("floor start: start %s: %w", id, classify(err))
	}
	st, err := t.Status(ctx)
	if err != nil || st.Status != containerd.Running {
		cleanup()
		return 0, func() {}, fmt.Errorf("floor start: %s is %q after start: %v", id, st.Status, err)
	}
	return time.Since(start), cleanup, nil
}
