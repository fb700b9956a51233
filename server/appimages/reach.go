package appimages

import (
	"context"
	"fmt"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxCachedTargets bounds the reach cache; when it is full it is emptied
// and refilled by the requests that follow (a walk is a few small reads).
const maxCachedTargets = 1024

// reachCache holds, per image target digest, every descriptor reachable
// from that target (the target itself, child manifests, configs, layers).
// A target's reach never changes, since content is named by its digest, so
// entries need no invalidation: a repository whose images change simply
// asks for other targets.
type reachCache struct {
	mu      sync.Mutex
	reaches map[digest.Digest]map[digest.Digest]ocispec.Descriptor
}

// reach returns the descriptors reachable from target, walking its
// manifests in provider when they are not cached.
func (c *reachCache) reach(ctx context.Context, provider content.Provider, target ocispec.Descriptor) (map[digest.Digest]ocispec.Descriptor, error) {
	c.mu.Lock()
	got, ok := c.reaches[target.Digest]
	c.mu.Unlock()
	if ok {
		return got, nil
	}
	got, partial, err := walk(ctx, provider, target)
	if err != nil {
		return nil, err
	}
	if partial {
		// A child manifest may be fetched later: walk again next time.
		return got, nil
	}
	c.mu.Lock()
	if c.reaches == nil || len(c.reaches) >= maxCachedTargets {
		c.reaches = make(map[digest.Digest]map[digest.Digest]ocispec.Descriptor)
	}
	c.reaches[target.Digest] = got
	c.mu.Unlock()
	return got, nil
}

// walk returns the descriptors reachable from target. A child manifest
// missing from the content store (an index whose other platforms were
// never stored) is counted, but not descended into: asking for it answers
// not found when its content is read. partial says one was.
func walk(ctx context.Context, provider content.Provider, target ocispec.Descriptor) (_ map[digest.Digest]ocispec.Descriptor, partial bool, _ error) {
	seen := make(map[digest.Digest]ocispec.Descriptor)
	var mu sync.Mutex // images.Walk is sequential today; do not depend on it
	handler := images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		mu.Lock()
		_, dup := seen[desc.Digest]
		if !dup {
			seen[desc.Digest] = desc
		}
		mu.Unlock()
		if dup {
			return nil, nil
		}
		children, err := images.Children(ctx, provider, desc)
		if cerrdefs.IsNotFound(err) && desc.Digest != target.Digest {
			mu.Lock()
			partial = true
			mu.Unlock()
			return nil, nil
		}
		return children, err
	})
	if err := images.Walk(ctx, handler, target); err != nil {
		return nil, false, fmt.Errorf("read the manifests of image target %s: %w", target.Digest, err)
	}
	return seen, partial, nil
}
