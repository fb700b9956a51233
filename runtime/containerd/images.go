package containerd

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// ImportImages reads an OCI-layout or docker-save tarball, plain or
// gzipped, stores its images in the skiff namespace and unpacks them for
// the default snapshotter, so containers can start from them at once. It
// returns the image names.
//
// It is all or nothing: if an image cannot be stored or unpacked, the
// image records are put back as they were (an image that existed points
// at its old content again, a new one goes) and the error says "nothing
// imported". A lease holds the new content and the previous targets of
// existing images until the records are settled, so that containerd's
// garbage collection takes neither meanwhile. A tarball that names no
// image is an error (errdefs.ErrInvalid) too: its content would be
// unreachable.
func ImportImages(ctx context.Context, c *containerd.Client, r io.Reader) ([]string, error) {
	ctx = namespaces.WithNamespace(ctx, Namespace)
	br := bufio.NewReaderSize(r, 1<<20)
	r = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w; nothing imported", classed{err, errdefs.ErrInvalid})
		}
		defer zr.Close()
		r = zr
	}
	is := c.ImageService()
	existing, err := is.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", classify(err))
	}
	before := make(map[string]images.Image, len(existing))
	for _, img := range existing {
		before[img.Name] = img
	}
	ctx, done, err := c.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease: %w", classify(err))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		done(cctx)
	}()
	if lease, ok := leases.FromContext(ctx); ok {
		for _, img := range existing {
			res := leases.Resource{ID: img.Target.Digest.String(), Type: "content"}
			if err := c.LeasesService().AddResource(ctx, leases.Lease{ID: lease}, res); err != nil {
				return nil, fmt.Errorf("lease image %s: %w", img.Name, classify(err))
			}
		}
	}
	imgs, err := c.Import(ctx, r, containerd.WithAllPlatforms(false))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("import interrupted: %w", ctx.Err())
		}
		if cerr := classify(err); cerr != err && !errdefs.IsInvalid(cerr) {
			// containerd failed, not the tarball: unavailable, forbidden…
			return nil, fmt.Errorf("import images: %w; nothing imported", cerr)
		}
		return nil, fmt.Errorf("not an OCI-layout or docker-save image tarball: %w; nothing imported", classed{err, errdefs.ErrInvalid})
	}
	if len(imgs) == 0 {
		return nil, classed{errors.New("no named image in the tarball (an OCI layout names its images with the " +
			"io.containerd.image.name or org.opencontainers.image.ref.name annotation); nothing imported"), errdefs.ErrInvalid}
	}
	names := make([]string, 0, len(imgs))
	for _, img := range imgs {
		if err := containerd.NewImage(c, img).Unpack(ctx, ""); err != nil {
			err = classify(err)
			if rerr := restoreImages(ctx, is, imgs, before); rerr != nil {
				return nil, fmt.Errorf("unpack %s: %w; and putting back the images as they were: %v", img.Name, err, rerr)
			}
			return nil, fmt.Errorf("unpack %s: %w; nothing imported", img.Name, err)
		}
		names = append(names, img.Name)
	}
	return names, nil
}

// restoreImages undoes what an import did to the records of imgs: an
// image that existed points at its old target again, a new one goes.
func restoreImages(ctx context.Context, is images.Store, imgs []images.Image, before map[string]images.Image) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var errs []error
	for _, img := range imgs {
		var err error
		if old, ok := before[img.Name]; ok {
			_, err = is.Update(ctx, old, "target", "labels")
		} else if err = is.Delete(ctx, img.Name); cerrdefs.IsNotFound(err) {
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", img.Name, err))
		}
	}
	return errors.Join(errs...)
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
