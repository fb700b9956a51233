package testimages

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SaveImage is one image of a docker-save tarball (WriteDockerSave).
type SaveImage struct {
	Spec Spec
	// Tags are the image's RepoTags as docker save writes them
	// ("app:1.0"); containerd's Import names it by each, normalised
	// (docker.io/library/app:1.0). Spec.Name is not one of them.
	Tags []string
	// BadDiffID makes the config name a layer other than the one in the
	// tarball, as a corrupt save would: the image is stored, and fails
	// to unpack.
	BadDiffID bool
}

// WriteDockerSave writes imgs as one tarball in the layout `docker save`
// writes (manifest.json, <config>.json, <layer>/layer.tar), the other
// form containerd's Import takes. Images share the one layer, written
// once.
func WriteDockerSave(w io.Writer, imgs ...SaveImage) error {
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	tw := newTarWriter(w)
	written := map[string]bool{}
	file := func(name string, b []byte) {
		if !written[name] {
			written[name] = true
			tw.file(name, 0o644, b)
		}
	}
	var manifest []entry
	for _, si := range imgs {
		im, err := build(si.Spec)
		if err != nil {
			return err
		}
		config := im.config.data
		if si.BadDiffID {
			var cfg ocispec.Image
			if err := json.Unmarshal(config, &cfg); err != nil {
				return fmt.Errorf("docker save of %s: %w", si.Spec.Name, err)
			}
			cfg.RootFS.DiffIDs = []digest.Digest{digest.FromString("not the layer")}
			if config, err = json.Marshal(cfg); err != nil {
				return fmt.Errorf("docker save of %s: %w", si.Spec.Name, err)
			}
		}
		configName := digest.FromBytes(config).Encoded() + ".json"
		layerName := im.layer.desc.Digest.Encoded() + "/layer.tar"
		file(configName, config)
		file(layerName, im.layer.data)
		manifest = append(manifest, entry{Config: configName, RepoTags: si.Tags, Layers: []string{layerName}})
	}
	b, err := json.Marshal(manifest)
	if err != nil {
		return fmt.Errorf("docker save: manifest: %w", err)
	}
	file("manifest.json", b)
	if err := tw.close(); err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	return nil
}
