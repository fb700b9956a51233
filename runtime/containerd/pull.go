package containerd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiffhq/skiff/runtime/container"
)

// Mirror fetches the images of one registry host from elsewhere: a joined
// node gets apps' images (skiff.local/apps/…, which no registry serves)
// from its server's /v2/ API, with the node's certificate.
type Mirror struct {
	// Host is the registry host in image references ("skiff.local").
	Host string
	// URL is where the /v2/ API is: https://<server>:8443.
	URL *url.URL
	// Client sends the requests (the node's, which carries its
	// certificate and trusts the cluster CA).
	Client *http.Client
}

// Resolver finds images in their registries with auth (nil: anonymous),
// over plain HTTP for a registry on the loopback (localhost, 127.0.0.1,
// ::1), and those of a mirror's host at the mirror (auth is not sent
// there: the mirror's client has its own credentials). Pull uses it, and
// so do builds that pull their base images.
func Resolver(auth *container.PullAuth, mirrors ...Mirror) remotes.Resolver {
	creds := func(string) (string, string, error) {
		switch {
		case auth == nil:
			return "", "", nil
		case auth.IdentityToken != "":
			return "", auth.IdentityToken, nil
		}
		return auth.Username, auth.Password, nil
	}
	registries := docker.ConfigureDefaultRegistries(
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(creds))),
		docker.WithPlainHTTP(docker.MatchLocalhost),
	)
	return docker.NewResolver(docker.ResolverOptions{Hosts: func(host string) ([]docker.RegistryHost, error) {
		for _, m := range mirrors {
			if m.Host == host {
				return []docker.RegistryHost{{
					Client:       m.Client,
					Host:         m.URL.Host,
					Scheme:       m.URL.Scheme,
					Path:         strings.TrimSuffix(m.URL.Path, "/") + "/v2",
					Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
				}}, nil
			}
		}
		return registries(host)
	}})
}

// PullImage fetches ref from its registry (or a mirror's) anonymously and
// unpacks it for snapshotter ("" = overlayfs), in skiff's namespace: what
// a build whose base image is not on the board does, and the server with
// an image built on a builder node.
func PullImage(ctx context.Context, c *containerd.Client, snapshotter, ref string, mirrors ...Mirror) (containerd.Image, error) {
	name, err := normalize(ref)
	if err != nil {
		return nil, err
	}
	if snapshotter == "" {
		snapshotter = "overlayfs"
	}
	img, err := c.Pull(namespaces.WithNamespace(ctx, Namespace), name, containerd.WithResolver(Resolver(nil, mirrors...)),
		containerd.WithPullUnpack, containerd.WithPullSnapshotter(snapshotter))
	if err != nil {
		return nil, fmt.Errorf("pull image %s: %w", ref, classify(err))
	}
	return img, nil
}

// Pull fetches ref from its registry with auth (nil: anonymous), over
// plain HTTP for a registry on the loopback (localhost, 127.0.0.1, ::1),
// and unpacks it for the Runtime's snapshotter. progress, if not nil,
// hears every 100 ms how many bytes of how many known are fetched.
func (r *Runtime) Pull(ctx context.Context, ref string, auth *container.PullAuth, progress func(container.PullProgress)) (container.Image, error) {
	ctx = r.ns(ctx)
	name, err := normalize(ref)
	if err != nil {
		return container.Image{}, err
	}
	resolver := Resolver(auth, r.mirrors...)
	tr := &pullTracker{seen: map[digest.Digest]int64{}, done: map[digest.Digest]bool{}}
	opts := []containerd.RemoteOpt{
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.snapshotter),
	}
	stopPolling := func() {}
	if progress != nil {
		opts = append(opts, containerd.WithImageHandlerWrapper(tr.wrap))
		pctx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-pctx.Done():
					return
				case <-t.C:
					done, total := tr.progress(pctx, r.c.ContentStore())
					progress(container.PullProgress{Ref: ref, Done: done, Total: total})
				}
			}
		}()
		stopPolling = func() { stop(); <-stopped }
	}
	img, err := r.c.Pull(ctx, name, opts...)
	stopPolling() // the last word is the final figure below, from this goroutine
	if err != nil {
		return container.Image{}, fmt.Errorf("pull image %s: %w", ref, classify(err))
	}
	if progress != nil {
		total := tr.total()
		progress(container.PullProgress{Ref: ref, Done: total, Total: total})
	}
	return imageOf(ctx, img)
}

// pullTracker learns a pull's blobs as its handlers meet them, and which
// of them are fetched.
type pullTracker struct {
	mu   sync.Mutex
	seen map[digest.Digest]int64 // size of each blob met
	done map[digest.Digest]bool
}

func (p *pullTracker) wrap(h images.Handler) images.Handler {
	return images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		p.mu.Lock()
		p.seen[desc.Digest] = desc.Size
		p.mu.Unlock()
		children, err := h.Handle(ctx, desc)
		if err == nil {
			p.mu.Lock()
			p.done[desc.Digest] = true
			p.mu.Unlock()
		}
		return children, err
	})
}

func (p *pullTracker) total() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var t int64
	for _, s := range p.seen {
		t += s
	}
	return t
}

// progress sums fetched blobs and the bytes written so far of those in
// flight (the content store's ingests).
func (p *pullTracker) progress(ctx context.Context, cs content.Store) (done, total int64) {
	statuses, _ := cs.ListStatuses(ctx)
	inflight := make(map[digest.Digest]int64, len(statuses))
	for _, s := range statuses {
		inflight[s.Expected] = s.Offset
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for d, size := range p.seen {
		total += size
		switch {
		case p.done[d]:
			done += size
		default:
			done += inflight[d]
		}
	}
	return done, total
}
