package testimages

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blob is one piece of content of an image.
type blob struct {
	desc ocispec.Descriptor
	data []byte
}

func newBlob(mediaType string, data []byte) blob {
	sum := sha256.Sum256(data)
	d := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))
	return blob{desc: ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, data: data}
}

// image is a built image: its blobs and the index naming it.
type image struct {
	layer, config, manifest blob
	index                   []byte
}

// Write writes img as an OCI image layout tarball to w.
func Write(w io.Writer, img Spec) error {
	im, err := build(img)
	if err != nil {
		return err
	}
	tw := newTarWriter(w)
	tw.file(ocispec.ImageLayoutFile, 0o644, []byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`))
	tw.file(ocispec.ImageIndexFile, 0o644, im.index)
	tw.dir(ocispec.ImageBlobsDir, 0o755)
	tw.dir(ocispec.ImageBlobsDir+"/sha256", 0o755)
	for _, b := range []blob{im.layer, im.config, im.manifest} {
		tw.file(ocispec.ImageBlobsDir+"/sha256/"+b.desc.Digest.Encoded(), 0o644, b.data)
	}
	if err := tw.close(); err != nil {
		return fmt.Errorf("write test image %s: %w", img.Name, err)
	}
	return nil
}

// ManifestDigest is the digest img's manifest has in what Write writes;
// a test can name the image as Registry/Name@digest.
func ManifestDigest(img Spec) (digest.Digest, error) {
	im, err := build(img)
	if err != nil {
		return "", err
	}
	return im.manifest.desc.Digest, nil
}

func build(img Spec) (image, error) {
	if img.Name == "" {
		return image{}, fmt.Errorf("test image: empty name")
	}
	busybox := img.Busybox
	if busybox == "" {
		busybox = "/bin/busybox"
	}
	layerData, err := rootfsLayer(busybox)
	if err != nil {
		return image{}, fmt.Errorf("test image %s: %w", img.Name, err)
	}
	var im image
	im.layer = newBlob(ocispec.MediaTypeImageLayer, layerData)

	arch, variant := img.Architecture, img.Variant
	if arch == "" {
		arch, variant = Platform()
	}
	created := time.Unix(epochUnix, 0).UTC()
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: arch, OS: "linux", Variant: variant},
		Config: ocispec.ImageConfig{
			Env:        append([]string{"PATH=/bin:/usr/bin"}, img.Env...),
			Entrypoint: img.Entrypoint,
			Cmd:        img.Cmd,
			WorkingDir: img.WorkingDir,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{im.layer.desc.Digest}},
	}
	if len(img.ExposedPorts) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range slices.Sorted(slices.Values(img.ExposedPorts)) {
			cfg.Config.ExposedPorts[p] = struct{}{}
		}
	}
	cfgData, err := json.Marshal(cfg)
	if err != nil {
		return image{}, fmt.Errorf("test image %s: config: %w", img.Name, err)
	}
	im.config = newBlob(ocispec.MediaTypeImageConfig, cfgData)

	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    im.config.desc,
		Layers:    []ocispec.Descriptor{im.layer.desc},
	}
	manData, err := json.Marshal(man)
	if err != nil {
		return image{}, fmt.Errorf("test image %s: manifest: %w", img.Name, err)
	}
	im.manifest = newBlob(ocispec.MediaTypeImageManifest, manData)

	desc := im.manifest.desc
	desc.Platform = &cfg.Platform
	desc.Annotations = map[string]string{
		// containerd's Import names the image by this one.
		"io.containerd.image.name": Ref(img.Name),
		ocispec.AnnotationRefName:  "latest",
	}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{desc},
	}
	if im.index, err = json.Marshal(index); err != nil {
		return image{}, fmt.Errorf("test image %s: index: %w", img.Name, err)
	}
	return im, nil
}
