package containerd

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Create makes the container: a snapshot of its image as root
// filesystem, an OCI spec built from s, and labels enough to rebuild its
// Status. It starts nothing.
func (r *Runtime) Create(ctx context.Context, s container.Spec) error {
	ctx = r.ns(ctx)
	if s.ID == "" {
		return fmt.Errorf("create container: empty ID: %w", errdefs.ErrInvalid)
	}
	if _, err := r.c.LoadContainer(ctx, s.ID); err == nil {
		return fmt.Errorf("create container %q: %w", s.ID, errdefs.ErrAlreadyExists)
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("create container %q: %w", s.ID, classify(err))
	}
	img, err := r.image(ctx, s.Image)
	if err != nil {
		return fmt.Errorf("create container %q: %w", s.ID, err)
	}
	if ok, err := img.IsUnpacked(ctx, r.snapshotter); err != nil || !ok {
		if err := img.Unpack(ctx, r.snapshotter); err != nil {
			return fmt.Errorf("create container %q: unpack image %s: %w", s.ID, s.Image, classify(err))
		}
	}
	ispec, err := img.Spec(ctx)
	if err != nil {
		return fmt.Errorf("create container %q: config of image %s: %w", s.ID, s.Image, classify(err))
	}
	opts, err := specOpts(s, ispec.Config)
	if err != nil {
		return err
	}
	// A snapshot without its container is what a Create cut short left;
	// it is this ID's, so it goes.
	if err := r.c.SnapshotService(r.snapshotter).Remove(ctx, s.ID); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("create container %q: remove stale snapshot: %w", s.ID, classify(err))
	}
	cgroup := cgroupPath(s)
	_, err = r.c.NewContainer(ctx, s.ID,
		containerd.WithImageName(img.Name()),
		containerd.WithContainerLabels(createLabels(s, img.Target().Digest.String(), cgroup)),
		containerd.WithSnapshotter(r.snapshotter),
		containerd.WithNewSnapshot(s.ID, img),
		containerd.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(img)}, opts...)...),
	)
	if err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if !cerrdefs.IsAlreadyExists(err) {
			r.c.SnapshotService(r.snapshotter).Remove(cctx, s.ID)
		}
		return fmt.Errorf("create container %q: %w", s.ID, classify(err))
	}
	r.mu.Lock()
	r.podUIDs[s.ID] = s.Pod.UID
	r.mu.Unlock()
	return nil
}

// image finds a present image by reference ("busybox" is
// docker.io/library/busybox:latest).
func (r *Runtime) image(ctx context.Context, ref string) (containerd.Image, error) {
	name, err := normalize(ref)
	if err != nil {
		return nil, err
	}
	img, err := r.c.GetImage(ctx, name)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("image %s: %w", ref, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("image %s: %w", ref, classify(err))
	}
	return img, nil
}

// normalize turns an image reference into containerd's full name.
func normalize(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %v: %w", ref, err, errdefs.ErrInvalid)
	}
	return n.String(), nil
}
