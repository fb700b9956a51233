package appimages

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blobs is a content.Provider over a map.
type blobs map[digest.Digest][]byte

func (b blobs) ReaderAt(_ context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	data, ok := b[desc.Digest]
	if !ok {
		return nil, cerrdefs.ErrNotFound
	}
	return readerAt{bytes.NewReader(data)}, nil
}

type readerAt struct{ *bytes.Reader }

func (readerAt) Close() error { return nil }

func (b blobs) add(t *testing.T, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	b[d] = data
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// A walk that met a missing child manifest is not kept: once the child
// is stored, its blobs are reachable.
func TestReachDoesNotKeepPartialWalks(t *testing.T) {
	store := blobs{}
	config := store.add(t, ocispec.MediaTypeImageConfig, ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}})
	manifest := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: config}
	mdesc := store.add(t, ocispec.MediaTypeImageManifest, manifest)
	mdata := store[mdesc.Digest]
	delete(store, mdesc.Digest) // not fetched yet
	index := store.add(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{mdesc}})

	var c reachCache
	ctx := context.Background()
	got, err := c.reach(ctx, store, index)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[config.Digest]; ok {
		t.Fatal("the config is reachable before its manifest is stored")
	}
	store[mdesc.Digest] = mdata
	got, err = c.reach(ctx, store, index)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[config.Digest]; !ok {
		t.Errorf("the config is not reachable once its manifest is stored: the partial walk was kept")
	}
}
