package containerd

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skiffhq/skiff/internal/containerdtest"
	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/scripts/testimages"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// TestPull pushes an image of its own to a registry on the loopback,
// forgets it (content and all), and pulls it back through the Runtime.
func TestPull(t *testing.T) {
	addr := containerdtest.StartRegistry(t)
	r := newTestRuntime(t)
	c := testClient(t)
	ctx := context.Background()
	nctx := namespaces.WithNamespace(ctx, Namespace)

	// A busybox with 4 MiB of noise after its ELF image (which the
	// kernel never loads) makes a layer that is this image's own, so the
	// pull has content to fetch.
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed (scripts/install-deps.sh installs it): %v", err)
	}
	extra := make([]byte, 4<<20)
	rand.Read(extra)
	noisy := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(noisy, append(bb, extra...), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := busyboxSpec
	spec.Name, spec.Busybox = "pullme", noisy
	local := testimages.Ref(spec.Name)
	path, err := writeImage(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ImportImages(ctx, c, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.GetImage(nctx, local)
	if err != nil {
		t.Fatal(err)
	}
	remote := addr + "/skiff/pullme:1"
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost))})
	if err := c.Push(nctx, remote, img.Target(), containerd.WithResolver(resolver)); err != nil {
		t.Fatalf("push to %s: %v", remote, err)
	}
	if err := c.ImageService().Delete(nctx, local, images.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContentStore().Info(nctx, img.Target().Digest); err == nil {
		t.Fatal("pushed image's content still here after delete; the pull would fetch nothing")
	}

	var last container.PullProgress
	calls := 0
	got, err := r.Pull(ctx, remote, nil, func(p container.PullProgress) { last = p; calls++ })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.RemoveImage(ctx, remote); err != nil {
			t.Errorf("remove image %s: %v", remote, err)
		}
	})
	if got.Ref != remote || got.ID != img.Target().Digest.String() || strings.Join(got.Config.Cmd, " ") != "/bin/sh" {
		t.Errorf("pulled %+v, want %s as %s with cmd /bin/sh", got, remote, img.Target().Digest)
	}
	if calls == 0 || last.Total < int64(len(extra)) || last.Done != last.Total || last.Ref != remote {
		t.Errorf("progress: %d calls, last %+v, want done = total >= %d", calls, last, len(extra))
	}
	if ok, err := containerd.NewImage(c, images.Image{Name: remote, Target: img.Target()}).IsUnpacked(nctx, "overlayfs"); !ok || err != nil {
		t.Errorf("pulled image not unpacked: %v", err)
	}
	// Its busybox is the noisy one: the layer came from the registry.
	s := testSpec(t, "sh", "-c", fmt.Sprintf("test $(wc -c < /bin/busybox) -eq %d", len(bb)+len(extra)))
	s.Image = remote
	run(t, r, s)
	if st := waitState(t, r, s.ID, container.StateExited); st.ExitCode != 0 {
		t.Errorf("container from the pulled image: exit code %d", st.ExitCode)
	}

	if _, err := r.Pull(ctx, addr+"/skiff/absent:1", nil, nil); !errdefs.IsNotFound(err) {
		t.Errorf("pull of an absent image: got %v, want not found", err)
	}

	// PullImage, a build's pull of its base image: the same image again,
	// from nothing, unpacked.
	if err := r.RemoveImage(ctx, remote); err != nil {
		t.Fatal(err)
	}
	c.ImageService().Delete(nctx, remote, images.SynchronousDelete())
	bimg, err := PullImage(ctx, c, "", remote)
	if err != nil {
		t.Fatalf("PullImage: %v", err)
	}
	if bimg.Target().Digest != img.Target().Digest {
		t.Errorf("PullImage got %s, want %s", bimg.Target().Digest, img.Target().Digest)
	}
	if ok, err := bimg.IsUnpacked(nctx, "overlayfs"); !ok || err != nil {
		t.Errorf("PullImage's image not unpacked: %v", err)
	}
	if _, err := PullImage(ctx, c, "", addr+"/skiff/absent:1"); !errdefs.IsNotFound(err) {
		t.Errorf("PullImage of an absent image: got %v, want not found", err)
	}

	// A mirror: skiff.local, a name no resolver finds, is fetched from
	// the registry (as a joined node fetches apps' images from its
	// server), and other hosts still from their own.
	if err := r.RemoveImage(ctx, remote); err != nil {
		t.Fatal(err)
	}
	c.ImageService().Delete(nctx, remote, images.SynchronousDelete())
	mr, err := NewRuntime(ctx, RuntimeConfig{Client: c, FIFODir: filepath.Join(t.TempDir(), "fifo"),
		Mirrors: []Mirror{{Host: "skiff.local", URL: &url.URL{Scheme: "http", Host: addr, Path: "/"}, Client: http.DefaultClient}}})
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	mirrored := "skiff.local/skiff/pullme:1"
	got, err = mr.Pull(ctx, mirrored, &container.PullAuth{Username: "not", Password: "sent"}, nil)
	if err != nil {
		t.Fatalf("pull through the mirror: %v", err)
	}
	if got.ID != img.Target().Digest.String() {
		t.Errorf("pulled %s through the mirror, want %s", got.ID, img.Target().Digest)
	}
	if err := mr.RemoveImage(ctx, mirrored); err != nil {
		t.Errorf("remove image %s: %v", mirrored, err)
	}
	if _, err := mr.Pull(ctx, remote, nil, nil); err != nil {
		t.Errorf("pull from the registry itself with a mirror of another host: %v", err)
	}
	if _, err := mr.Pull(ctx, "skiff.local/skiff/absent:1", nil, nil); !errdefs.IsNotFound(err) {
		t.Errorf("pull of an image the mirror lacks: got %v, want not found", err)
	}
	if _, err := NewRuntime(ctx, RuntimeConfig{Client: c, FIFODir: t.TempDir(), Mirrors: []Mirror{{Host: "skiff.local"}}}); !errdefs.IsInvalid(err) {
		t.Errorf("a mirror without a URL: got %v, want invalid", err)
	}
}
