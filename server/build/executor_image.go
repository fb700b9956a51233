package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// baseImage is an image a stage starts FROM or COPY --from names, resolved
// for the build's platform and unpacked.
type baseImage struct {
	name    string        // containerd's name of it
	digest  digest.Digest // what the name points to (manifest or index)
	spec    v1.Image
	layers  []layer
	history []v1.History
	chainID string // its unpacked rootfs snapshot; "" for no layers
}

// image resolves ref once per build: containerd's image by the name as
// written or its normalized form (busybox → docker.io/library/busybox:latest),
// else Builder.Pull's.
func (e *execution) image(ctx context.Context, ref, stagePlatform string) (*baseImage, error) {
	plat := e.platform
	if stagePlatform != "" {
		p, err := platforms.Parse(stagePlatform)
		if err != nil {
			return nil, fmt.Errorf("--platform=%s: %v", stagePlatform, err)
		}
		if !platforms.Default().Match(p) {
			return nil, fmt.Errorf("--platform=%s is not this host's (%s): skiff builds natively only; drop --platform or build on a node of that platform", stagePlatform, platforms.DefaultString())
		}
		plat = platforms.Normalize(p)
	}
	key := ref + "|" + platforms.Format(plat)
	e.mu.Lock()
	img, ok := e.images[key]
	e.mu.Unlock()
	if ok {
		return img, nil
	}
	img, err := e.resolve(ctx, ref, plat)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.images[key] = img
	e.mu.Unlock()
	return img, nil
}

func (e *execution) resolve(ctx context.Context, ref string, plat v1.Platform) (*baseImage, error) {
	c := e.b.Client
	names := []string{ref}
	if n, err := reference.ParseDockerRef(ref); err == nil && n.String() != ref {
		names = append(names, n.String())
	}
	for _, name := range names {
		if err := e.privateBase(name); err != nil {
			return nil, err
		}
	}
	var found containerd.Image
	for _, name := range names {
		img, err := c.GetImage(ctx, name)
		if err == nil {
			found = img
			break
		}
		if !cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("look up image %s: %w", name, err)
		}
	}
	if found != nil {
		if err := e.privateLabels(found); err != nil {
			return nil, err
		}
	}
	if found == nil {
		if e.b.Pull == nil {
			return nil, fmt.Errorf("image %s is not in containerd (namespace %s) and this builder does not pull; import it with `skiff images import` (a `docker save` or OCI tarball) and build again", ref, e.b.Namespace)
		}
		fmt.Fprintf(e.out, "Pulling %s\n", ref)
		img, err := e.b.Pull(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", ref, err)
		}
		found = img
	}
	matcher := platforms.Only(plat)
	img := containerd.NewImageWithPlatform(c, found.Metadata(), matcher)
	cs := c.ContentStore()
	manifest, err := images.Manifest(ctx, cs, img.Target(), matcher)
	if err != nil {
		return nil, fmt.Errorf("image %s has no usable manifest for %s: %w", ref, platforms.Format(plat), err)
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s: read config: %w", ref, err)
	}
	if len(spec.RootFS.DiffIDs) != len(manifest.Layers) {
		return nil, fmt.Errorf("image %s: config lists %d layers, manifest %d", ref, len(spec.RootFS.DiffIDs), len(manifest.Layers))
	}
	if ok, err := img.IsUnpacked(ctx, e.b.snapshotter()); err != nil || !ok {
		if err := img.Unpack(ctx, e.b.snapshotter()); err != nil {
			return nil, fmt.Errorf("unpack image %s: %w", ref, err)
		}
	}
	b := &baseImage{name: found.Name(), digest: img.Target().Digest, spec: spec}
	for i, d := range manifest.Layers {
		d.Annotations = nil
		b.layers = append(b.layers, layer{desc: d, diffID: spec.RootFS.DiffIDs[i]})
	}
	// History is kept only when it matches the layers, as the image spec
	// requires; otherwise the base's is dropped.
	nonEmpty := 0
	for _, h := range spec.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty == len(b.layers) {
		b.history = spec.History
	} else {
		for range b.layers {
			b.history = append(b.history, v1.History{Comment: "base layer of " + ref})
		}
	}
	if len(spec.RootFS.DiffIDs) > 0 {
		b.chainID = identity.ChainID(spec.RootFS.DiffIDs).String()
	}
	return b, nil
}

// healthConfig is Docker's HEALTHCHECK in an image config (durations in
// nanoseconds), an extension the OCI config has no field for.
type healthConfig struct {
	Test          []string      `json:",omitempty"`
	Interval      time.Duration `json:",omitempty"`
	Timeout       time.Duration `json:",omitempty"`
	StartPeriod   time.Duration `json:",omitempty"`
	StartInterval time.Duration `json:",omitempty"`
	Retries       int           `json:",omitempty"`
}

// imageJSON is the OCI image config with Docker's Healthcheck beside the
// OCI config fields.
type imageJSON struct {
	v1.Image
	Config configJSON `json:"config"`
}

type configJSON struct {
	v1.ImageConfig
	Healthcheck *healthConfig `json:"Healthcheck,omitempty"`
}

// writeImage writes the config and manifest of the final stage, names them
// Request.Image and unpacks the image for the snapshotter, so containers
// start from it at once.
func (e *execution) writeImage(ctx context.Context, final stageOut, cfg v1.ImageConfig, hc *Healthcheck) (v1.Descriptor, error) {
	c := e.b.Client
	cs := c.ContentStore()
	// The image is as old as its newest step, so that an all-cached
	// rebuild writes the same config.
	created := final.lastCreated()
	if created == nil {
		now := time.Now().UTC()
		created = &now
	}
	img := imageJSON{
		Image: v1.Image{
			Created:  created,
			Platform: e.platform,
			RootFS:   v1.RootFS{Type: "layers"},
			History:  final.history,
		},
		Config: configJSON{ImageConfig: cfg},
	}
	if final.base != nil {
		img.Author = final.base.spec.Author
	}
	if hc != nil {
		img.Config.Healthcheck = &healthConfig{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, StartInterval: hc.StartInterval, Retries: hc.Retries}
	}
	manifest := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest}
	labels := map[string]string{}
	for i, l := range final.layers {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.diffID)
		manifest.Layers = append(manifest.Layers, l.desc)
		labels["containerd.io/gc.ref.content.l."+strconv.Itoa(i)] = l.desc.Digest.String()
	}
	cb, err := json.Marshal(img)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("encode image config: %w", err)
	}
	manifest.Config = v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}
	if err := content.WriteBlob(ctx, cs, "skiff-build-"+manifest.Config.Digest.String(), bytes.NewReader(cb), manifest.Config); err != nil {
		return v1.Descriptor{}, fmt.Errorf("write image config: %w", err)
	}
	labels["containerd.io/gc.ref.content.config"] = manifest.Config.Digest.String()
	mb, err := json.Marshal(manifest)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("encode manifest: %w", err)
	}
	mdesc := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	if err := content.WriteBlob(ctx, cs, "skiff-build-"+mdesc.Digest.String(), bytes.NewReader(mb), mdesc, content.WithLabels(labels)); err != nil {
		return v1.Descriptor{}, fmt.Errorf("write manifest: %w", err)
	}
	// Unpacked before it is named: a container started from the name
	// finds its snapshots ready.
	rec := images.Image{Name: e.req.Image, Target: mdesc, Labels: e.req.ImageLabels}
	if err := containerd.NewImageWithPlatform(c, rec, platforms.Only(e.platform)).Unpack(ctx, e.b.snapshotter()); err != nil {
		return v1.Descriptor{}, fmt.Errorf("unpack the built image: %w", err)
	}
	is := c.ImageService()
	if _, err := is.Create(ctx, rec); cerrdefs.IsAlreadyExists(err) {
		_, err = is.Update(ctx, rec, "target", "labels")
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("update image %s: %w", e.req.Image, err)
		}
	} else if err != nil {
		return v1.Descriptor{}, fmt.Errorf("create image %s: %w", e.req.Image, err)
	}
	// And by digest, the name a release runs (no registry needed on
	// this node, the name served to the others).
	pin := images.Image{Name: PinnedName(e.req.Image, mdesc.Digest), Target: mdesc, Labels: e.req.ImageLabels}
	if _, err := is.Create(ctx, pin); cerrdefs.IsAlreadyExists(err) {
		// The same image again (a rebuild): its labels become this
		// build's.
		if _, err := is.Update(ctx, pin, "labels"); err != nil {
			return v1.Descriptor{}, fmt.Errorf("update image %s: %w", pin.Name, err)
		}
	} else if err != nil {
		return v1.Descriptor{}, fmt.Errorf("create image %s: %w", pin.Name, err)
	}
	return mdesc, nil
}

// privateBase refuses a base image (FROM, COPY --from) under
// Request.PrivateImages that is not Request.Image's own repository.
func (e *execution) privateBase(name string) error {
	p := e.req.PrivateImages
	if p == "" || !strings.HasPrefix(hostFolded(name), hostFolded(p)) {
		return nil
	}
	own := Repository(e.req.Image)
	if rest, ok := strings.CutPrefix(hostFolded(name), hostFolded(own)); ok && (rest == "" || rest[0] == ':' || rest[0] == '@') {
		return nil
	}
	return fmt.Errorf("image %s is another app's: a build may start from its own app's images (%s) but not from others' under %s", name, own, p)
}

// privateLabels refuses an image of Request.Image's own repository (under
// Request.PrivateImages) that lacks Request.ImageLabels: one a deleted
// app of the same name left.
func (e *execution) privateLabels(img containerd.Image) error {
	if e.req.PrivateImages == "" || !strings.HasPrefix(hostFolded(img.Name()), hostFolded(e.req.PrivateImages)) {
		return nil
	}
	labels := img.Labels()
	for k, v := range e.req.ImageLabels {
		if labels[k] != v {
			return fmt.Errorf("image %s was not built for this app (its %s is %q): an app of the same name that was deleted left it", img.Name(), k, labels[k])
		}
	}
	return nil
}

// hostFolded is name with its registry host, if it has one, in lower
// case and without a port: SKIFF.LOCAL:443/apps/x names what
// skiff.local/apps/x does to a registry client.
func hostFolded(name string) string {
	host, rest, ok := strings.Cut(name, "/")
	if !ok || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return name
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(host) + "/" + rest
}

// Repository is image without its tag or digest.
func Repository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// PinnedName is image's repository (its tag dropped) at digest d:
// skiff.local/apps/shop:b1 → skiff.local/apps/shop@sha256:….
func PinnedName(image string, d digest.Digest) string {
	return Repository(image) + "@" + d.String()
}
