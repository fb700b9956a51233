package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/containerd/continuity/fs"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The build cache is containerd snapshots: a filesystem step's result is
// committed as snapshot "skiff-build/<cache key>" (its parent the previous
// step's), labelled with the layer its diff made. The gc.root label keeps
// the snapshot from containerd's garbage collection and its gc.ref label
// keeps the layer blob; Prune removes the labels' owners that were not used
// for a while.
const (
	cachePrefix       = "skiff-build/"
	labelLayer        = "skiff.build/layer"
	labelDiffID       = "skiff.build/diffid"
	labelMediaType    = "skiff.build/mediatype"
	labelSize         = "skiff.build/size"
	labelUsed         = "skiff.build/used"    // unix seconds of the last build that used it
	labelCreated      = "skiff.build/created" // RFC 3339 time the step ran, for the history
	labelGCRoot       = "containerd.io/gc.root"
	labelGCRefLayer   = "containerd.io/gc.ref.content.layer"
	layerMediaType    = v1.MediaTypeImageLayerGzip
	labelUncompressed = "containerd.io/uncompressed"
)

func cacheName(key string) string { return cachePrefix + key }

// cached returns the layer of the committed snapshot of key, if there is
// one whose layer blob is still in the content store, and marks it used.
func (e *execution) cached(ctx context.Context, key string) (layer, bool, error) {
	sn := e.b.Client.SnapshotService(e.b.snapshotter())
	info, err := sn.Stat(ctx, cacheName(key))
	if cerrdefs.IsNotFound(err) {
		return layer{}, false, nil
	}
	if err != nil {
		return layer{}, false, fmt.Errorf("build cache: %w", err)
	}
	l, ok := layerOf(info)
	if !ok || info.Kind != snapshots.KindCommitted {
		return layer{}, false, nil
	}
	if _, err := e.b.Client.ContentStore().Info(ctx, l.desc.Digest); err != nil {
		if cerrdefs.IsNotFound(err) {
			return layer{}, false, nil
		}
		return layer{}, false, fmt.Errorf("build cache: %w", err)
	}
	info.Labels[labelUsed] = strconv.FormatInt(time.Now().Unix(), 10)
	if _, err := sn.Update(ctx, info, "labels."+labelUsed); err != nil {
		e.b.log().Warn("build cache: mark used", "snapshot", info.Name, "err", err)
	}
	return l, true, nil
}

func layerOf(info snapshots.Info) (layer, bool) {
	d, err1 := digest.Parse(info.Labels[labelLayer])
	id, err2 := digest.Parse(info.Labels[labelDiffID])
	size, err3 := strconv.ParseInt(info.Labels[labelSize], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return layer{}, false
	}
	mt := info.Labels[labelMediaType]
	if mt == "" {
		mt = layerMediaType
	}
	created, err := time.Parse(time.RFC3339Nano, info.Labels[labelCreated])
	if err != nil {
		created = info.Created.UTC()
	}
	return layer{desc: v1.Descriptor{MediaType: mt, Digest: d, Size: size}, diffID: id, created: created}, true
}

// fsStep runs a filesystem step on a snapshot of cur, makes its diff a
// layer and commits the snapshot under the step's cache name.
func (e *execution) fsStep(ctx context.Context, cur *stageOut, step Step, key string, from *stageOut) (layer, error) {
	sn := e.b.Client.SnapshotService(e.b.snapshotter())
	active := "skiff-build-active-" + key[:16] + "-" + randomID()
	mounts, err := sn.Prepare(ctx, active, cur.snapshot)
	if err != nil {
		return layer{}, fmt.Errorf("line %d: prepare snapshot: %w", step.Line, err)
	}
	committed := false
	defer func() {
		if !committed {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			if err := sn.Remove(cctx, active); err != nil && !cerrdefs.IsNotFound(err) {
				e.b.log().Warn("remove build snapshot", "snapshot", active, "err", err)
			}
		}
	}()
	fail := func(err error) (layer, error) {
		return layer{}, fmt.Errorf("line %d: %s: %w", step.Line, step.Original, err)
	}
	switch step.Kind {
	case StepRun:
		if err := e.runStep(ctx, cur, step, active); err != nil {
			return layer{}, err
		}
	default:
		err := withMounted(mounts, false, func(root string) error {
			if step.Kind == StepWorkdir {
				return mkdirIn(root, cur.abs(step.Args[0]))
			}
			return e.copyStep(ctx, root, cur, step, from)
		})
		if err != nil {
			return fail(err)
		}
	}
	if err := ctx.Err(); err != nil {
		return layer{}, err
	}
	desc, err := rootfs.CreateDiff(ctx, active, sn, e.b.Client.DiffService(),
		diff.WithMediaType(layerMediaType), diff.WithReference("skiff-build-diff-"+active))
	if err != nil {
		return fail(fmt.Errorf("compute the layer: %w", err))
	}
	diffID, err := e.diffID(ctx, desc)
	if err != nil {
		return fail(err)
	}
	l := layer{desc: v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, diffID: diffID, created: time.Now().UTC()}
	labels := map[string]string{
		labelLayer:      desc.Digest.String(),
		labelDiffID:     diffID.String(),
		labelMediaType:  desc.MediaType,
		labelSize:       strconv.FormatInt(desc.Size, 10),
		labelUsed:       strconv.FormatInt(time.Now().Unix(), 10),
		labelCreated:    l.created.Format(time.RFC3339Nano),
		labelGCRoot:     time.Now().UTC().Format(time.RFC3339),
		labelGCRefLayer: desc.Digest.String(),
	}
	err = sn.Commit(ctx, cacheName(key), active, snapshots.WithLabels(labels))
	switch {
	case err == nil:
		committed = true
	case cerrdefs.IsAlreadyExists(err):
		// Another build of the same step committed first; its snapshot is
		// the same step's, so it serves.
		info, err := sn.Stat(ctx, cacheName(key))
		if err != nil {
			return fail(fmt.Errorf("commit snapshot: %w", err))
		}
		if l2, ok := layerOf(info); ok {
			l = l2
		}
	default:
		return fail(fmt.Errorf("commit snapshot: %w", err))
	}
	return l, nil
}

// diffID is the uncompressed digest of a layer the differ wrote: newer
// differs annotate the descriptor, older ones (containerd 1.6) label the
// content.
func (e *execution) diffID(ctx context.Context, desc v1.Descriptor) (digest.Digest, error) {
	if d, err := digest.Parse(desc.Annotations[labelUncompressed]); err == nil {
		return d, nil
	}
	info, err := e.b.Client.ContentStore().Info(ctx, desc.Digest)
	if err != nil {
		return "", fmt.Errorf("layer %s: %w", desc.Digest, err)
	}
	d, err := digest.Parse(info.Labels[labelUncompressed])
	if err != nil {
		return "", fmt.Errorf("the differ gave no uncompressed digest for layer %s", desc.Digest)
	}
	return d, nil
}

// dirExists reports whether dir is a directory in cur's filesystem.
func (e *execution) dirExists(ctx context.Context, cur *stageOut, dir string) (bool, error) {
	if cur.snapshot == "" {
		return dir == "/", nil
	}
	sn := e.b.Client.SnapshotService(e.b.snapshotter())
	view := "skiff-build-view-" + randomID()
	mounts, err := sn.View(ctx, view, cur.snapshot)
	if err != nil {
		return false, fmt.Errorf("view snapshot: %w", err)
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		sn.Remove(cctx, view)
	}()
	exists := false
	err = withMounted(mounts, true, func(root string) error {
		p, err := fs.RootPath(root, dir)
		if err != nil {
			return err
		}
		st, err := os.Stat(p)
		exists = err == nil && st.IsDir()
		return nil
	})
	return exists, err
}

// withMounted mounts a snapshot's mounts on a temporary directory for fn.
func withMounted(mounts []mount.Mount, readOnly bool, fn func(root string) error) error {
	dir, err := os.MkdirTemp("", "skiff-build-mnt-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if readOnly {
		mounts = readonlyMounts(mounts)
	}
	if err := mount.All(mounts, dir); err != nil {
		return fmt.Errorf("mount snapshot: %w", err)
	}
	ferr := fn(dir)
	if err := mount.UnmountAll(dir, 0); err != nil {
		return errors.Join(ferr, fmt.Errorf("unmount snapshot: %w", err))
	}
	return ferr
}

// readonlyMounts adds "ro" to bind mounts; an overlay view is read-only
// already (no upperdir).
func readonlyMounts(ms []mount.Mount) []mount.Mount {
	out := make([]mount.Mount, len(ms))
	for i, m := range ms {
		m.Options = append([]string{}, m.Options...)
		if m.Type == "bind" && !containsString(m.Options, "ro") {
			m.Options = append(m.Options, "ro")
		}
		out[i] = m
	}
	return out
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Prune deletes the build cache snapshots no build used in the last
// olderThan, children before parents, and returns how many it removed.
// Images are not touched: an image keeps its own unpacked snapshots and its
// layers, so what the named images use stays; a cache snapshot that a more
// recently used one builds on stays too. containerd's garbage collection
// then frees the layers only the removed snapshots held.
func (b *Builder) Prune(ctx context.Context, olderThan time.Duration) (int, error) {
	if b.Client == nil {
		return 0, errors.New("build: Builder.Client is nil")
	}
	ns := b.Namespace
	if ns == "" {
		ns = "default"
	}
	ctx = namespaces.WithNamespace(ctx, ns)
	sn := b.Client.SnapshotService(b.snapshotter())
	cutoff := time.Now().Add(-olderThan).Unix()
	var stale []string
	err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if !strings.HasPrefix(info.Name, cachePrefix) {
			return nil
		}
		used, err := strconv.ParseInt(info.Labels[labelUsed], 10, 64)
		if err != nil || used <= cutoff {
			stale = append(stale, info.Name)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune build cache: list snapshots: %w", err)
	}
	removed := 0
	// A snapshot with children cannot go before them: remove in rounds
	// until a round removes nothing.
	for len(stale) > 0 {
		var left []string
		for _, name := range stale {
			err := sn.Remove(ctx, name)
			switch {
			case err == nil || cerrdefs.IsNotFound(err):
				removed++
			case cerrdefs.IsFailedPrecondition(err):
				left = append(left, name)
			default:
				return removed, fmt.Errorf("prune build cache: remove %s: %w", name, err)
			}
		}
		if len(left) == len(stale) {
			break
		}
		stale = left
	}
	b.log().Info("pruned build cache", "removed", removed, "olderThan", olderThan)
	return removed, nil
}
