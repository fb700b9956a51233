package gc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/distribution/reference"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// image is what the collector removes as one: a digest and every
// reference to it.
type image struct {
	key  string // imageKey
	id   string
	refs []string
	size int64
}

// imageKey names an image across passes: its digest, or for an image the
// runtime reports without one, its reference.
func imageKey(img container.Image) string {
	if img.ID != "" {
		return img.ID
	}
	return "ref:" + normalizeRef(img.Ref)
}

// normalizeRef spells a reference in full ("busybox" is
// docker.io/library/busybox:latest), so that a container and an image
// that name it differently still match; one that does not parse stays
// as it is.
func normalizeRef(ref string) string {
	if n, err := reference.ParseDockerRef(ref); err == nil {
		return n.String()
	}
	return ref
}

// collectImages records which images are unused and since when, and
// when ImageFS is more than HighThresholdPercent used removes unused
// images, least recently used first, until it is below
// LowThresholdPercent.
func (g *GC) collectImages(ctx context.Context, cs []container.Status, now time.Time, rep *Report) error {
	// Measured first, listed always: the images' use is recorded on
	// every pass, whether the disk is full or not, and even when it
	// cannot be measured.
	used, total, diskErr := g.cfg.DiskUsage(g.cfg.ImageFS)
	list, err := g.cfg.Runtime.ListImages(ctx)
	if err != nil {
		return errors.Join(fmt.Errorf("gc: list images: %w", err), g.diskErr(diskErr))
	}
	unused := g.track(list, cs, now)
	if diskErr != nil {
		return g.diskErr(diskErr)
	}
	if total == 0 {
		return fmt.Errorf("gc: image filesystem %s reports a size of 0", g.cfg.ImageFS)
	}
	high, low := g.cfg.HighThresholdPercent, g.cfg.LowThresholdPercent
	if !above(used, total, high) {
		return nil
	}
	g.log.Info("image filesystem above threshold; removing unused images", "path", g.cfg.ImageFS, "used-percent", percent(used, total), "high", high, "low", low)
	candidates, kept, young := g.candidates(unused, now)
	// estimate assumes each removal frees its image's size; measured
	// is the disk read again. Either one below low ends the pass.
	estimate, measured := used, used
	var errs []error
	for _, img := range candidates {
		if below(estimate, total, low) || below(measured, total, low) || ctx.Err() != nil {
			break
		}
		if err := g.removeImage(ctx, img); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.ImagesRemoved++
		rep.ImageBytesFreed += img.size
		delete(g.unused, img.key)
		estimate -= min(estimate, uint64(max(img.size, 0)))
		if m, _, err := g.cfg.DiskUsage(g.cfg.ImageFS); err == nil {
			measured = m
		}
		g.log.Info("removed unused image", "image", img.refs, "digest", img.id, "size", img.size)
	}
	switch {
	case below(estimate, total, low) || below(measured, total, low) || ctx.Err() != nil || len(errs) > 0:
	case young > 0:
		// Not an error yet: they will be removable in a later pass.
		g.log.Info("image filesystem still above the low threshold; unused images too recently used to remove yet",
			"path", g.cfg.ImageFS, "used-percent", percent(min(estimate, measured), total), "low", low, "waiting", young, "min-age", g.cfg.ImageMinAge)
	default:
		errs = append(errs, fmt.Errorf("gc: image filesystem %s is still %d%% used (above the low threshold of %d%%) and no image can be removed: %d unused ones are kept by Config.Keep, the others are in use",
			g.cfg.ImageFS, percent(min(estimate, measured), total), low, kept))
	}
	return errors.Join(errs...)
}

func (g *GC) diskErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("gc: image filesystem usage: %w", err)
}

// track groups the listed images by digest, forgets the ones gone, marks
// the ones some container uses as used and the others as unused since
// now unless they already were, and returns the unused ones.
func (g *GC) track(list []container.Image, cs []container.Status, now time.Time) []image {
	refs, ids := map[string]bool{}, map[string]bool{}
	for _, c := range cs {
		if c.Image != "" {
			refs[normalizeRef(c.Image)] = true
		}
		if c.ImageID != "" {
			ids[c.ImageID] = true
		}
	}
	byKey := map[string]*image{}
	inUse := map[string]bool{}
	var keys []string
	for _, li := range list {
		k := imageKey(li)
		img := byKey[k]
		if img == nil {
			img = &image{key: k, id: li.ID}
			byKey[k] = img
			keys = append(keys, k)
		}
		img.refs = append(img.refs, li.Ref)
		img.size = max(img.size, li.Size)
		if refs[normalizeRef(li.Ref)] || (li.ID != "" && ids[li.ID]) {
			inUse[k] = true
		}
	}
	for k := range g.unused {
		if byKey[k] == nil || inUse[k] {
			delete(g.unused, k)
		}
	}
	var out []image
	for _, k := range keys {
		if inUse[k] {
			continue
		}
		if _, ok := g.unused[k]; !ok {
			g.unused[k] = now
		}
		out = append(out, *byKey[k])
	}
	return out
}

// candidates are the unused images that may go, the one unused longest
// first, and how many others are kept by Config.Keep or are too young.
func (g *GC) candidates(unused []image, now time.Time) (out []image, kept, young int) {
	for _, img := range unused {
		switch {
		case g.keep(img):
			kept++
		case now.Sub(g.unused[img.key]) < g.cfg.ImageMinAge:
			young++
		default:
			out = append(out, img)
		}
	}
	slices.SortFunc(out, func(a, b image) int {
		return cmp.Or(g.unused[a.key].Compare(g.unused[b.key]), cmp.Compare(a.key, b.key))
	})
	return out, kept, young
}

// keep asks Config.Keep about each of img's references and its digest.
func (g *GC) keep(img image) bool {
	if img.id != "" && g.cfg.Keep(img.id) {
		return true
	}
	return slices.ContainsFunc(img.refs, g.cfg.Keep)
}

// removeImage removes every reference of img; one already gone counts
// as removed.
func (g *GC) removeImage(ctx context.Context, img image) error {
	var errs []error
	for _, ref := range img.refs {
		if err := g.cfg.Runtime.RemoveImage(ctx, ref); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("gc: remove image %s: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}
