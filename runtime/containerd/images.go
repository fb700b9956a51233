package containerd

import (
	"context"
	"fmt"
	"io"
	"sort"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// ImportImages reads an OCI-layout or docker-save tarball, stores its
// images and unpacks them for the default snapshotter, so containers can
// start from them at once. It returns the image names.
func ImportImages(ctx context.Context, c *containerd.Client, r io.Reader) ([]string, error) {
	ctx = namespaces.WithNamespace(ctx, Namespace)
	imgs, err := c.Import(ctx, r, containerd.WithAllPlatforms(false))
	if err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	names := make([]string, 0, len(imgs))
	for _, img := range imgs {
		if err := containerd.NewImage(c, img).Unpack(ctx, ""); err != nil {
			return names, fmt.Errorf("unpack %s: %w", img.Name, err)
		}
		names = append(names, img.Name)
	}
	return names, nil
}

// GetImage returns a present image; errdefs.ErrNotFound if it is absent.
func (r *Runtime) GetImage(ctx context.Context, ref string) (container.Image, error) {
	ctx = r.ns(ctx)
	img, err := r.image(ctx, ref)
	if err != nil {
		return container.Image{}, err
	}
	return imageOf(ctx, img)
}

// ListImages returns every image in the skiff namespace, sorted by
// reference. An image whose content is incomplete is listed without its
// config.
func (r *Runtime) ListImages(ctx context.Context) ([]container.Image, error) {
	ctx = r.ns(ctx)
	imgs, err := r.c.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", classify(err))
	}
	out := make([]container.Image, 0, len(imgs))
	for _, img := range imgs {
		i, err := imageOf(ctx, img)
		if err != nil {
			r.log.Warn("image without usable content", "image", img.Name(), "err", err)
			i = container.Image{Ref: img.Name(), ID: img.Target().Digest.String()}
		}
		out = append(out, i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// RemoveImage deletes an image's name; its content and snapshots go with
// containerd's garbage collection once nothing else uses them.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	ctx = r.ns(ctx)
	name, err := normalize(ref)
	if err != nil {
		return err
	}
	if err := r.c.ImageService().Delete(ctx, name, images.SynchronousDelete()); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("remove image %s: %w", ref, errdefs.ErrNotFound)
		}
		return fmt.Errorf("remove image %s: %w", ref, classify(err))
	}
	return nil
}

// imageOf reads what an image says about itself from its config blob.
func imageOf(ctx context.Context, img containerd.Image) (container.Image, error) {
	spec, err := img.Spec(ctx)
	if err != nil {
		return container.Image{}, fmt.Errorf("image %s: config: %w", img.Name(), classify(err))
	}
	size, err := img.Size(ctx)
	if err != nil {
		return container.Image{}, fmt.Errorf("image %s: size: %w", img.Name(), classify(err))
	}
	return container.Image{
		Ref:  img.Name(),
		ID:   img.Target().Digest.String(),
		Size: size,
		Config: container.ImageConfig{
			Entrypoint: spec.Config.Entrypoint,
			Cmd:        spec.Config.Cmd,
			Env:        spec.Config.Env,
			WorkingDir: spec.Config.WorkingDir,
			User:       spec.Config.User,
		},
	}, nil
}
