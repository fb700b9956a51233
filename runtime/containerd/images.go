package containerd

import (
	"context"
	"fmt"
	"io"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
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
