package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"

	runtimecd "github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/build"
	"github.com/skiffhq/skiff/server/client"
)

// What the app GC keeps and how often it looks. A release older than the
// newest appGCKeepReleases of its app can no longer be rolled back to
// once its image is gone (skiff apps rollback then says the image is
// missing); an image named less than appGCImageGrace ago stays whatever
// names it, so that a build that just finished keeps its image while its
// release is being made.
const (
	appGCFirst         = time.Minute
	appGCEvery         = time.Hour
	appGCBuildCacheAge = 7 * 24 * time.Hour
	appGCKeepReleases  = 5
	appGCImageGrace    = time.Hour
)

// appImageGC frees what app builds leave on the builder's containerd: the
// build cache no build used for a week (build.Builder.Prune), and the app
// images (skiff.local/apps/*) that no recent release and no pod names. It
// runs appGCFirst after the node's containerd is up, then every
// appGCEvery.
type appImageGC struct {
	backend client.Backend
	slot    *builderSlot
	log     *slog.Logger
}

// Run collects until ctx ends. Without an embedded node (no containerd
// ever comes) it only waits.
func (g *appImageGC) Run(ctx context.Context) error {
	c, err := g.slot.get(ctx)
	if err != nil {
		return nil // ctx ended
	}
	repeat(ctx, appGCFirst, appGCEvery, func() { g.collect(ctx, c) })
	return nil
}

// repeat runs fn first after first, then every period, until ctx ends.
func repeat(ctx context.Context, first, period time.Duration, fn func()) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
		t.Reset(period)
	}
}

// pruneBuildCache drops a joined node's build cache (what it built as a
// builder node) that no build used for appGCBuildCacheAge, on the app
// GC's schedule, until ctx ends. The server's own node is the app GC's.
func pruneBuildCache(ctx context.Context, c *containerd.Client, log *slog.Logger) {
	repeat(ctx, appGCFirst, appGCEvery, func() { pruneCache(ctx, c, log) })
}

// pruneCache drops the build cache no build used for appGCBuildCacheAge;
// a failure is logged and the next round tries again.
func pruneCache(ctx context.Context, c *containerd.Client, log *slog.Logger) {
	b := &build.Builder{Client: c, Namespace: runtimecd.Namespace, Log: log}
	if _, err := b.Prune(ctx, appGCBuildCacheAge); err != nil && ctx.Err() == nil {
		log.Warn("prune the build cache", "err", err)
	}
}

// collect runs one round; a failure is logged and the next round tries
// again.
func (g *appImageGC) collect(ctx context.Context, c *containerd.Client) {
	pruneCache(ctx, c, g.log)
	removed, err := g.pruneImages(ctx, c, time.Now())
	if err != nil && ctx.Err() == nil {
		g.log.Warn("remove unused app images", "err", err)
	}
	if len(removed) > 0 {
		g.log.Info("removed unused app images", "count", len(removed), "images", removed)
	}
}

// pruneImages deletes the app images nothing uses any more and returns
// their names. It deletes nothing unless it could read every release,
// app and pod.
func (g *appImageGC) pruneImages(ctx context.Context, c *containerd.Client, now time.Time) ([]string, error) {
	inUse, live, err := appImagesInUseFrom(ctx, g.backend, appGCKeepReleases)
	if err != nil {
		return nil, err
	}
	ctx = namespaces.WithNamespace(ctx, runtimecd.Namespace)
	is := c.ImageService()
	list, err := is.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	imgs := make([]appImage, 0, len(list))
	for _, img := range list {
		updated := img.UpdatedAt
		if img.CreatedAt.After(updated) {
			updated = img.CreatedAt
		}
		imgs = append(imgs, appImage{Name: img.Name, Digest: img.Target.Digest.String(), Updated: updated, AppUID: img.Labels[api.LabelAppUID]})
	}
	drop := unusedAppImages(imgs, inUse, live, now.Add(-appGCImageGrace))
	var removed []string
	for i, name := range drop {
		var opts []images.DeleteOpt
		if i == len(drop)-1 {
			// Free the content now rather than at containerd's next
			// collection.
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, name, opts...); err != nil && !cerrdefs.IsNotFound(err) {
			return removed, fmt.Errorf("delete image %s: %w", name, err)
		}
		g.log.Info("removed app image", "image", name)
		removed = append(removed, name)
	}
	return removed, nil
}

// appImage is one name of an image in containerd.
type appImage struct {
	Name string
	// Digest is the target's ("sha256:…").
	Digest  string
	Updated time.Time
	// AppUID is the App it was built for (api.LabelAppUID; "" for an
	// image from before the label).
	AppUID string
}

// unusedAppImages picks, among imgs, the app images (skiff.local/apps/…)
// to delete: those named before cutoff whose name is not in use and whose
// repository@digest is not either (a build's tag and its pinned
// repo@sha256 name are one image; either in use keeps both), and those
// built for an App that no longer exists (live: the UIDs of the Apps
// there are), whatever names them: a pod of a new app of the same name
// must not keep the deleted one's image.
func unusedAppImages(imgs []appImage, inUse, live map[string]bool, cutoff time.Time) []string {
	pinned := func(img appImage) string { return build.Repository(img.Name) + "@" + img.Digest }
	orphan := func(img appImage) bool { return img.AppUID != "" && !live[img.AppUID] }
	kept := map[string]bool{}
	for _, img := range imgs {
		if !orphan(img) && (inUse[img.Name] || inUse[pinned(img)]) {
			kept[pinned(img)] = true
		}
	}
	var out []string
	for _, img := range imgs {
		if !strings.HasPrefix(img.Name, appImagePrefix) || img.Updated.After(cutoff) {
			continue
		}
		if kept[pinned(img)] && !orphan(img) {
			continue
		}
		out = append(out, img.Name)
	}
	slices.Sort(out)
	return out
}

// appImagesInUse are the image references that must stay: the images of
// each app's newest keep releases and of the release each app runs, and
// every image a pod names.
func appImagesInUse(apps []*api.App, releases []*api.Release, pods []*api.Pod, keep int) map[string]bool {
	inUse := map[string]bool{}
	byApp := map[string][]*api.Release{}
	byName := map[string]*api.Release{}
	for _, r := range releases {
		k := r.Namespace + "/" + r.Spec.App
		byApp[k] = append(byApp[k], r)
		byName[r.Namespace+"/"+r.Name] = r
	}
	for _, rs := range byApp {
		slices.SortFunc(rs, func(x, y *api.Release) int {
			switch {
			case x.Spec.Version > y.Spec.Version:
				return -1
			case x.Spec.Version < y.Spec.Version:
				return 1
			}
			return strings.Compare(x.Name, y.Name)
		})
		for _, r := range rs[:min(keep, len(rs))] {
			addRef(inUse, r.Spec.Image)
		}
	}
	for _, a := range apps {
		if r := byName[a.Namespace+"/"+a.Status.Release]; r != nil {
			addRef(inUse, r.Spec.Image)
		}
	}
	for _, p := range pods {
		for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			addRef(inUse, c.Image)
		}
		for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
			addRef(inUse, cs.Image)
		}
	}
	return inUse
}

func addRef(set map[string]bool, ref string) {
	if ref != "" {
		set[ref] = true
	}
}

// appImagesInUseFrom reads every app, release and pod and says which
// images they use.
func appImagesInUseFrom(ctx context.Context, b client.Backend, keep int) (inUse, live map[string]bool, err error) {
	apps, err := listEvery[*api.App](ctx, b, "apps")
	if err != nil {
		return nil, nil, err
	}
	releases, err := listEvery[*api.Release](ctx, b, "releases")
	if err != nil {
		return nil, nil, err
	}
	pods, err := listEvery[*api.Pod](ctx, b, "pods")
	if err != nil {
		return nil, nil, err
	}
	return appImagesInUse(apps, releases, pods, keep), liveApps(apps), nil
}

// liveApps are the UIDs of apps.
func liveApps(apps []*api.App) map[string]bool {
	live := make(map[string]bool, len(apps))
	for _, a := range apps {
		live[string(a.UID)] = true
	}
	return live
}

// listEvery reads every object of resource in every namespace.
func listEvery[T api.Object](ctx context.Context, b client.Backend, resource string) ([]T, error) {
	l, err := client.ListAll(ctx, b, resource, "", api.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", resource, err)
	}
	out := make([]T, 0, len(l.Items))
	for _, o := range l.Items {
		t, ok := o.(T)
		if !ok {
			return nil, fmt.Errorf("list %s: got a %T", resource, o)
		}
		out = append(out, t)
	}
	return out, nil
}
