package appimages

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/go-digest"
)

// Config says where the images are.
type Config struct {
	// Containerd returns the client of the containerd that holds the
	// images; it may wait (the node's containerd starts after the API) and
	// fails with ctx.
	Containerd func(ctx context.Context) (*containerd.Client, error)
	// Namespace is the containerd namespace of the images ("skiff").
	Namespace string
	// Host is the registry host in the images' names, "skiff.local":
	// repository "apps/shop" is images named "skiff.local/apps/shop:…" and
	// "skiff.local/apps/shop@…".
	Host string
	// Authorize, if set, is asked before anything of repository (e.g.
	// "apps/shop") is served; its error is answered (errdefs from
	// github.com/skiffhq/skiff/server/api/errdefs: IsForbidden → 403
	// DENIED, IsUnauthorized → 401 UNAUTHORIZED, IsNotFound → 404
	// NAME_UNKNOWN, others 500). It is not asked for /v2/ itself, which
	// names no repository and serves nothing.
	//
	// What it returns are labels an image's containerd record must carry
	// to be served (nil: any image of the repository): the images of the
	// App that has the name now, not those a deleted one left.
	Authorize func(r *http.Request, repository string) (labels map[string]string, err error)
	// Log receives the failures answered 5xx; nil means slog.Default().
	Log *slog.Logger
}

// Validate reports what is missing or wrong in c.
func (c Config) Validate() error {
	var errs []error
	if c.Containerd == nil {
		errs = append(errs, errors.New("appimages: Config.Containerd is nil: give the function that returns the containerd client holding the app images"))
	}
	if err := identifiers.Validate(c.Namespace); err != nil {
		errs = append(errs, fmt.Errorf("appimages: Config.Namespace %q: %w (the app images are in namespace \"skiff\")", c.Namespace, err))
	}
	if c.Host == "" || strings.ContainsAny(c.Host, "/@ ") {
		errs = append(errs, fmt.Errorf("appimages: Config.Host %q is not a registry host such as \"skiff.local\"", c.Host))
	}
	return errors.Join(errs...)
}

// Handler serves /v2/… (the full request path, starting with /v2/): the
// pull side of the OCI distribution API over the images of a containerd
// namespace. Make one with New.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	cache reachCache
}

// New checks cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &Handler{cfg: cfg, log: log.With("component", "appimages")}, nil
}

// ServeHTTP answers one request of the distribution API's pull side.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if err := h.serve(w, r); err != nil {
		var re *regError
		if !errors.As(err, &re) || re.status >= 500 {
			h.log.Error("serve image request", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(w, r, err)
	}
}

// serve answers r, or returns the error to answer instead (nothing has
// been written then).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return newError(http.StatusMethodNotAllowed, codeUnsupported,
			fmt.Sprintf("%s is not supported: this registry is read-only; app images are made by `git push` to the app, not pushed here", r.Method))
	}
	rt := splitPath(r.URL.Path)
	switch rt.kind {
	case routeUnknown:
		return newError(http.StatusNotFound, codeUnsupported,
			fmt.Sprintf("%s is not a path of this registry: it serves /v2/, /v2/<name>/manifests/<reference>, /v2/<name>/blobs/<digest> and /v2/<name>/tags/list", r.URL.Path))
	case routeBase:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		if r.Method == http.MethodGet {
			w.Write([]byte("{}"))
		}
		return nil
	}
	if err := checkName(rt.name); err != nil {
		return newError(http.StatusBadRequest, codeNameInvalid, err.Error())
	}
	var (
		dgst digest.Digest
		tag  string
		err  error
	)
	switch {
	case rt.kind == routeBlob || (rt.kind == routeManifest && strings.Contains(rt.ref, ":")):
		if dgst, err = parseDigest(rt.ref); err != nil {
			return newError(http.StatusBadRequest, codeDigestInvalid, err.Error())
		}
	case rt.kind == routeManifest:
		if err := checkTag(rt.ref); err != nil {
			return newError(http.StatusBadRequest, codeTagInvalid, err.Error())
		}
		tag = rt.ref
	}
	var want map[string]string
	if h.cfg.Authorize != nil {
		labels, err := h.cfg.Authorize(r, rt.name)
		if err != nil {
			return authError(err)
		}
		want = labels
	}

	c, err := h.cfg.Containerd(r.Context())
	if err != nil {
		return newError(http.StatusServiceUnavailable, codeUnavailable,
			fmt.Sprintf("the image store (containerd) is not available: %v; try again", err))
	}
	ctx := namespaces.WithNamespace(r.Context(), h.cfg.Namespace)
	repo, err := h.listRepo(ctx, c, rt.name, want)
	if err != nil {
		return err
	}
	switch rt.kind {
	case routeTags:
		return serveTags(w, r, repo)
	case routeManifest:
		return h.serveManifest(ctx, w, r, c, repo, tag, dgst)
	default:
		return h.serveBlob(ctx, w, r, c, repo, dgst)
	}
}

// repoImages is the images of one repository.
type repoImages struct {
	name   string
	images []images.Image
	// tags maps each tag to its image.
	tags map[string]images.Image
}

// listRepo returns the images of repository name that carry the labels
// want; a repository without such images answers 404 NAME_UNKNOWN.
func (h *Handler) listRepo(ctx context.Context, c *containerd.Client, name string, want map[string]string) (*repoImages, error) {
	prefix := h.cfg.Host + "/" + name
	filter := "name~=" + strconv.Quote("^"+regexp.QuoteMeta(prefix)+"[:@]")
	all, err := c.ImageService().List(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list the images of %s: %w", prefix, err)
	}
	repo := &repoImages{name: name, tags: map[string]images.Image{}}
	for _, img := range all {
		rest, ok := strings.CutPrefix(img.Name, prefix)
		if !ok || rest == "" || !hasLabels(img.Labels, want) {
			continue
		}
		switch rest[0] {
		case ':':
			repo.tags[rest[1:]] = img
		case '@':
		default:
			continue // apps/shop2 when asked for apps/shop
		}
		repo.images = append(repo.images, img)
	}
	if len(repo.images) == 0 {
		return nil, newError(http.StatusNotFound, codeNameUnknown,
			fmt.Sprintf("repository %s has no images: an app's image is made when its code is pushed with git push", name))
	}
	return repo, nil
}

// hasLabels says whether have holds every label of want.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
