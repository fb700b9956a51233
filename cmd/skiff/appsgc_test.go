package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"

	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client"
)

func gcRelease(ns, app string, v int64, image string) *api.Release {
	r := &api.Release{ObjectMeta: api.ObjectMeta{Name: api.ReleaseName(app, v), Namespace: ns}}
	r.Spec.App, r.Spec.Version, r.Spec.Image = app, v, image
	r.Spec.Processes = map[string]string{"web": ""}
	return r
}

func gcDigest(n int) string { return fmt.Sprintf("sha256:%064d", n) }

// gcPinned is the name a build pins its image by.
func gcPinned(app string, n int) string { return "skiff.local/apps/" + app + "@" + gcDigest(n) }

func TestUnusedAppImages(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	old := now.Add(-48 * time.Hour)
	cutoff := now.Add(-appGCImageGrace)
	// App "web" has releases v1..v7 with images 1..7 (v3 and v4 share
	// image 3: a config change); it runs v2 (the newer ones failed).
	var releases []*api.Release
	for v := int64(1); v <= 7; v++ {
		img := int(v)
		if v == 4 {
			img = 3
		}
		releases = append(releases, gcRelease("default", "web", v, gcPinned("web", img)))
	}
	// App "api" in another namespace: two releases, both kept.
	releases = append(releases, gcRelease("team", "api", 1, gcPinned("api", 21)), gcRelease("team", "api", 2, gcPinned("api", 22)))
	apps := []*api.App{
		{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-web"}, Status: api.AppStatus{Release: "web-v2"}},
		{ObjectMeta: api.ObjectMeta{Name: "api", Namespace: "team", UID: "uid-api"}, Status: api.AppStatus{Release: "api-v2"}},
	}
	// A pod still runs image 1 of web (a draining pod of an old release),
	// and one runs a tag of a deleted app's image.
	pods := []*api.Pod{
		{Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: gcPinned("web", 1)}}}},
		{Spec: api.PodSpec{InitContainers: []api.Container{{Name: "i", Image: "skiff.local/apps/gone:build-9"}}}},
	}
	inUse := appImagesInUse(apps, releases, pods, appGCKeepReleases)

	imgs := []appImage{
		{Name: gcPinned("web", 1), Digest: gcDigest(1), Updated: old},                   // a pod uses it
		{Name: "skiff.local/apps/web:build-1", Digest: gcDigest(1), Updated: old},       // its tag: same image
		{Name: gcPinned("web", 2), Digest: gcDigest(2), Updated: old},                   // the app runs v2
		{Name: "skiff.local/apps/web:build-2", Digest: gcDigest(2), Updated: old},       // tag of v2's image
		{Name: gcPinned("web", 3), Digest: gcDigest(3), Updated: old},                   // v3 and v4 (v4 is in the newest 5)
		{Name: gcPinned("web", 5), Digest: gcDigest(5), Updated: old},                   // newest 5
		{Name: gcPinned("web", 7), Digest: gcDigest(7), Updated: old},                   // newest
		{Name: gcPinned("web", 8), Digest: gcDigest(8), Updated: now.Add(-time.Minute)}, // just built, no release yet
		{Name: gcPinned("web", 9), Digest: gcDigest(9), Updated: old},                   // a build no release took
		{Name: "skiff.local/apps/web:build-9", Digest: gcDigest(9), Updated: old},       // its tag
		{Name: gcPinned("api", 21), Digest: gcDigest(21), Updated: old},
		{Name: gcPinned("api", 22), Digest: gcDigest(22), Updated: old},
		{Name: "skiff.local/apps/gone:build-9", Digest: gcDigest(31), Updated: old},    // a pod names the tag
		{Name: gcPinned("gone", 31), Digest: gcDigest(31), Updated: old},               // and so its pinned name stays
		{Name: gcPinned("gone", 32), Digest: gcDigest(32), Updated: old},               // an app destroyed long ago
		{Name: "docker.io/library/busybox:latest", Digest: gcDigest(40), Updated: old}, // not an app image
	}
	// v1 is not among web's newest 5 (v3..v7) but a pod keeps its image;
	// v2 is not either but the app runs it.
	live := liveApps(apps)
	got := unusedAppImages(imgs, inUse, live, cutoff)
	want := []string{gcPinned("gone", 32), gcPinned("web", 9), "skiff.local/apps/web:build-9"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("unused images:\n got %q\nwant %q", got, want)
	}

	// Keeping fewer releases frees v3's image (v3, v4 are then older
	// than the newest 2).
	got = unusedAppImages(imgs, appImagesInUse(apps, releases, pods, 2), live, cutoff)
	if !slices.Contains(got, gcPinned("web", 3)) || !slices.Contains(got, gcPinned("web", 5)) || slices.Contains(got, gcPinned("web", 7)) {
		t.Errorf("keep 2: unused %q; want web's images 3 and 5 but not 7", got)
	}
	// Nothing in use and everything old: every app image goes, nothing else.
	got = unusedAppImages(imgs, map[string]bool{}, live, cutoff)
	if len(got) != len(imgs)-2 || slices.Contains(got, "docker.io/library/busybox:latest") {
		t.Errorf("nothing in use: unused %q; want every app image but the one built a minute ago", got)
	}

	// An image built for an app that was deleted goes even when a pod
	// (of a new app of the same name) names it; one of a live app stays.
	pods = append(pods, &api.Pod{Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: gcPinned("reborn", 50)}}}})
	liveUID := string(apps[0].UID)
	imgs = []appImage{
		{Name: gcPinned("reborn", 50), Digest: gcDigest(50), Updated: old, AppUID: "uid-deleted"},
		{Name: "skiff.local/apps/reborn:build-50", Digest: gcDigest(50), Updated: old, AppUID: "uid-deleted"},
		{Name: gcPinned("web", 1), Digest: gcDigest(1), Updated: old, AppUID: liveUID},
	}
	got = unusedAppImages(imgs, appImagesInUse(apps, releases, pods, appGCKeepReleases), live, cutoff)
	want = []string{gcPinned("reborn", 50), "skiff.local/apps/reborn:build-50"}
	slices.Sort(want)
	if liveUID == "" || !slices.Equal(got, want) {
		t.Errorf("a deleted app's images (live %q): unused %q, want %q", liveUID, got, want)
	}
}

// TestAppImageGCPrune runs a round of the GC on a real containerd: an app
// image no release names goes, with both its names; the release's image,
// images outside skiff.local/apps and the build cache pass stay.
func TestAppImageGCPrune(t *testing.T) {
	n := startImagesNode(t)
	n.skiff(nil, "import", writeTarball(t, "imgtest.tar", ociTarball(t))).must(t, "images import imgtest.tar")
	n.skiff(bytes.NewReader(gzipped(t, dockerSave(t, false, "dsave:1.0"))), "import", "-").must(t, "images import -")
	ctx := n.ctx()
	is := n.client.ImageService()
	kept, err := is.Get(ctx, testimages.Ref(imgSpec.Name))
	if err != nil {
		t.Fatal(err)
	}
	stale, err := is.Get(ctx, "docker.io/library/dsave:1.0")
	if err != nil {
		t.Fatal(err)
	}
	shopPinned := "skiff.local/apps/shop@" + kept.Target.Digest.String()
	oldPinned := "skiff.local/apps/old@" + stale.Target.Digest.String()
	for name, target := range map[string]images.Image{
		"skiff.local/apps/shop:build-1": kept, shopPinned: kept,
		"skiff.local/apps/old:build-1": stale, oldPinned: stale,
	} {
		if _, err := is.Create(ctx, images.Image{Name: name, Target: target.Target}); err != nil {
			t.Fatal(err)
		}
	}
	rctx, reg := newRolloutRegistry(t)
	if _, err := client.For[*api.Release](reg, "default").Create(rctx, gcRelease("default", "shop", 1, shopPinned)); err != nil {
		t.Fatal(err)
	}
	var logBuf lockedBuffer
	g := &appImageGC{backend: reg, log: slog.New(slog.NewTextHandler(&logBuf, nil))}

	// A round now: the build cache is pruned; every image was named a
	// moment ago, so all stay.
	g.collect(context.Background(), n.client)
	if !strings.Contains(logBuf.String(), "pruned build cache") || strings.Contains(logBuf.String(), "removed app image") ||
		strings.Contains(logBuf.String(), "level=WARN") {
		t.Errorf("first round's log: %s; want the cache pruned and no image removed", logBuf.String())
	}

	// Two hours on: old's image goes.
	removed, err := g.pruneImages(context.Background(), n.client, time.Now().Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"skiff.local/apps/old:build-1", oldPinned}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	list, err := is.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, img := range list {
		left = append(left, img.Name)
	}
	slices.Sort(left)
	wantLeft := []string{"docker.io/library/dsave:1.0", testimages.Ref(imgSpec.Name), "skiff.local/apps/shop:build-1", shopPinned}
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("images left %q, want %q", left, wantLeft)
	}
	if !strings.Contains(logBuf.String(), "removed app image") {
		t.Errorf("the log does not say what was removed: %s", logBuf.String())
	}
}
