package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
)

// buildLabel marks a RUN step's container: the node agent, which shares
// the namespace, leaves containers without its pod labels alone, and
// CleanUp finds them by it.
const buildLabel = "skiff.dev/build"

// CleanUp removes what builds that never finished left in containerd —
// their RUN containers (killed first: a shim outlives the process that
// started it), their leases (which hold their layers) and their
// half-made snapshots — and returns how many things it removed. Call it when no build is running: at start.
func (b *Builder) CleanUp(ctx context.Context) (int, error) {
	if b.Client == nil {
		return 0, errors.New("build: Builder.Client is nil")
	}
	ns := b.Namespace
	if ns == "" {
		ns = "default"
	}
	ctx = namespaces.WithNamespace(ctx, ns)
	removed := 0
	var errs []error
	ctrs, err := b.Client.Containers(ctx, `labels."`+buildLabel+`"==true`)
	if err != nil {
		return 0, fmt.Errorf("list build containers: %w", err)
	}
	for _, c := range ctrs {
		if err := stopTask(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("stop build container %s: %w", c.ID(), err))
			continue
		}
		if err := c.Delete(ctx); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete build container %s: %w", c.ID(), err))
			continue
		}
		removed++
	}
	// The leases of builds that never ended hold their layers.
	ls := b.Client.LeasesService()
	left, err := ls.List(ctx, `labels."`+buildLabel+`"==true`)
	if err != nil {
		errs = append(errs, fmt.Errorf("list build leases: %w", err))
	}
	for _, l := range left {
		if err := ls.Delete(ctx, l); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete build lease %s: %w", l.ID, err))
			continue
		}
		removed++
	}
	sn := b.Client.SnapshotService(b.snapshotter())
	var active []string
	err = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive && strings.HasPrefix(info.Name, "skiff-build-active-") {
			active = append(active, info.Name)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("list build snapshots: %w", err))
	}
	for _, name := range active {
		if err := sn.Remove(ctx, name); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove build snapshot %s: %w", name, err))
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// stopTask kills and deletes c's task, if it has one. The shim may go
// while the task dies, failing the delete ("ttrpc: closed") with the
// task gone all the same: it looks again before it says so.
func stopTask(ctx context.Context, c containerd.Container) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		t, terr := c.Task(ctx, nil)
		if cerrdefs.IsNotFound(terr) {
			return nil
		}
		if terr != nil {
			err = terr
		} else if _, err = t.Delete(ctx, containerd.WithProcessKill); err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}
