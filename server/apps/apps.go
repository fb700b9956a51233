// Package apps is the server's side of skiff's PaaS: it turns a git push
// into a Build, the Build's image into a Release, and waits for the app
// controller to roll the Release out, telling the pusher as it goes. It
// also makes the Releases that config changes and rollbacks need.
//
//	gitpush ──Receive──► Build object ──► Builder (containerd) ──► image
//	                                                               │
//	config Secret ──snapshot──► Release vN (image, config, processes)
//	                                   │
//	        app controller rolls it out (server/controller/app) ◄──┘
//	                                   │
//	Receive waits for Succeeded / Failed and answers the push
//
// It owns no loop of its own: every method runs on its caller's request.
// Objects are written with the server's identity (the callers have
// authorized the person already) and carry an owner reference to their
// App, so that deleting the App deletes them.
package apps

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// BuildRequest is what the Builder is asked to build.
type BuildRequest struct {
	// ContextDir is the checked-out commit.
	ContextDir string
	// Dockerfile is the App's build.dockerfile ("" = Dockerfile if it
	// exists, else the app's kind is detected).
	Dockerfile string
	BuildArgs  map[string]string
	// Image is the name to give the image.
	Image string
	// AppUID is the App's UID, to label the image with (api.LabelAppUID).
	AppUID string
	// Out receives the build's log as it runs.
	Out io.Writer
	// Node, if set, is told the node the build goes to, before it starts
	// there, when the Builder sends it to a node other than the server's
	// own (and again, with Config.NodeName, if it falls back): the
	// Build's status names the node while it runs.
	Node func(name string)
}

// BuildResult is what a build made.
type BuildResult struct {
	// Image is the image by digest ("name@sha256:…").
	Image string
	// Kind is "dockerfile" or the kind detected.
	Kind string
	// Processes are the process types (Procfile), {"web": ""} when the
	// image's own command is the web process.
	Processes   map[string]string
	Port        int
	Steps       int
	CachedSteps int
	// Node is the node that built it ("" the server's own, Config.NodeName)
	// and Arch its architecture (GOARCH; "" unknown): the release's pods
	// run only on nodes of that architecture.
	Node, Arch string
}

// Builder builds an image from a source tree. cmd/skiff adapts
// server/build's executor to it.
type Builder func(ctx context.Context, req BuildRequest) (BuildResult, error)

// Config configures a Service.
type Config struct {
	// Backend is where Apps, Builds, Releases and Secrets are written
	// (with the server's identity).
	Backend client.Backend
	// Builder runs builds; nil: this server cannot build, and a push is
	// refused with a message saying so.
	Builder Builder
	// BuildDir holds the builds' logs and checkouts (<data-dir>/builds).
	BuildDir string
	// NodeName is the server's node, where builds run unless the Builder
	// sends them elsewhere (BuildRequest.Node); recorded in their status.
	NodeName string
	// ImageRepository prefixes the names of built images; default
	// "skiff.local/apps".
	ImageRepository string
	// Poll is how often a push checks its release's rollout (default
	// 200 ms).
	Poll time.Duration
	// MaxBuilds is how many builds run at once (default 1: a board has
	// memory for one); later pushes wait, and are told so.
	MaxBuilds int
	// MaxSourceBytes and MaxSourceFiles bound a checked-out commit
	// (default 1 GiB, 100,000 files); MaxLogBytes bounds a build's kept
	// log (default 16 MiB; the pusher still sees all of it).
	MaxSourceBytes int64
	MaxSourceFiles int
	MaxLogBytes    int64
	Log            *slog.Logger
}

// Service makes Builds and Releases. Make one with New.
type Service struct {
	cfg Config
	log *slog.Logger
	// locks serializes release making per app (ns/name), so that two
	// config changes cannot both take version N.
	mu    sync.Mutex
	locks map[string]*sync.Mutex
	// builds holds a token per running build.
	builds  chan struct{}
	waiting atomic.Int32
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Backend == nil {
		return nil, errors.New("apps: a backend is required")
	}
	if cfg.BuildDir == "" {
		return nil, errors.New("apps: a build directory is required")
	}
	if cfg.ImageRepository == "" {
		cfg.ImageRepository = api.AppImageRepository
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxBuilds <= 0 {
		cfg.MaxBuilds = 1
	}
	if cfg.MaxSourceBytes <= 0 {
		cfg.MaxSourceBytes = 1 << 30
	}
	if cfg.MaxSourceFiles <= 0 {
		cfg.MaxSourceFiles = 100_000
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = 16 << 20
	}
	return &Service{cfg: cfg, log: cfg.Log, locks: map[string]*sync.Mutex{}, builds: make(chan struct{}, cfg.MaxBuilds)}, nil
}

// lock takes the release lock of one app.
func (s *Service) lock(ns, app string) func() {
	s.mu.Lock()
	l, ok := s.locks[ns+"/"+app]
	if !ok {
		l = &sync.Mutex{}
		s.locks[ns+"/"+app] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Find returns the App named name, whichever namespace it is in (app
// names are unique in the cluster), or an error of class ErrNotFound.
func (s *Service) Find(ctx context.Context, name string) (*api.App, error) {
	list, _, _, err := client.For[*api.App](s.cfg.Backend, "").List(ctx, api.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("there is no app %q; create it with `skiff apps create %s`: %w", name, name, errdefs.ErrNotFound)
	}
	return list[0], nil
}

// Create makes an App with default settings in namespace ns.
func (s *Service) Create(ctx context.Context, ns, name string) (*api.App, error) {
	a := &api.App{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns}}
	return client.For[*api.App](s.cfg.Backend, ns).Create(ctx, a)
}

// ownedBy is an owner reference to app.
func ownedBy(app *api.App) []api.OwnerReference {
	t := true
	return []api.OwnerReference{{APIVersion: "skiff.dev/v1", Kind: "App", Name: app.Name, UID: app.UID, Controller: &t, BlockOwnerDeletion: &t}}
}

// Releases returns app's releases, newest first.
func (s *Service) Releases(ctx context.Context, ns, app string) ([]*api.Release, error) {
	list, _, _, err := client.For[*api.Release](s.cfg.Backend, ns).List(ctx, api.ListOptions{LabelSelector: api.LabelApp + "=" + app})
	if err != nil {
		return nil, err
	}
	list = slices.DeleteFunc(list, func(r *api.Release) bool { return r.Spec.App != app })
	slices.SortFunc(list, func(a, b *api.Release) int { return int(b.Spec.Version - a.Spec.Version) })
	return list, nil
}

// current returns the release app runs or is moving to: the newest one
// that has not failed, or nil.
func current(rels []*api.Release) *api.Release {
	for _, r := range rels {
		if r.Status.Phase != api.ReleaseFailed {
			return r
		}
	}
	return nil
}

// config reads app's config vars (none when its Secret does not exist).
func (s *Service) config(ctx context.Context, ns, app string) (map[string][]byte, error) {
	sec, err := client.For[*api.Secret](s.cfg.Backend, ns).Get(ctx, api.AppConfigSecretName(app))
	if errdefs.IsNotFound(err) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	return sec.Data, nil
}

// configHash is an HMAC-SHA-256 of config vars in a stable order, keyed
// by the UID of the app's config Secret (which only those who may read
// Secrets see; the App's UID when there is none, and then no value to
// guess), so that the hash on a Release, which viewers read, tells of a
// change from one release to the next without confirming a guessed
// value.
func configHash(key string, data map[string][]byte) string {
	h := hmac.New(sha256.New, []byte(key))
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%d:%s=%d:", len(k), k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// imageAnnotations are the annotations of r about its image, which a
// release with the same image carries on.
func imageAnnotations(r *api.Release) map[string]string {
	out := map[string]string{}
	for _, k := range []string{api.AnnotationImageNode, api.AnnotationImageArch} {
		if v := r.Annotations[k]; v != "" {
			out[k] = v
		}
	}
	return out
}

// newRelease writes the next release of app: a snapshot of config (the
// app's config vars when nil) and then the Release, with version one
// above the newest, annotated with where its image was built and for
// which architecture (imageAnnotations). Callers hold the app's lock.
func (s *Service) newRelease(ctx context.Context, app *api.App, spec api.ReleaseSpec, config map[string][]byte, image map[string]string) (*api.Release, error) {
	ns := app.Namespace
	key := string(app.UID)
	if sec, err := client.For[*api.Secret](s.cfg.Backend, ns).Get(ctx, api.AppConfigSecretName(app.Name)); err == nil {
		key = string(sec.UID)
	}
	if config == nil {
		var err error
		if config, err = s.config(ctx, ns, app.Name); err != nil {
			return nil, err
		}
	}
	rels, err := s.Releases(ctx, ns, app.Name)
	if err != nil {
		return nil, err
	}
	version := int64(1)
	if len(rels) > 0 {
		version = rels[0].Spec.Version + 1
	}
	for {
		name := api.ReleaseName(app.Name, version)
		labels := map[string]string{api.LabelApp: app.Name}
		snap := &api.Secret{
			ObjectMeta: api.ObjectMeta{Name: api.ReleaseConfigSecretName(name), Namespace: ns, Labels: labels, OwnerReferences: ownedBy(app)},
			Data:       config,
		}
		created, err := client.For[*api.Secret](s.cfg.Backend, ns).Create(ctx, snap)
		if errdefs.IsAlreadyExists(err) {
			// A release that failed to be written after its snapshot, or
			// another server's: take the next number.
			version++
			continue
		} else if err != nil {
			return nil, fmt.Errorf("save the config of %s: %w", name, err)
		}
		spec.App, spec.Version = app.Name, version
		spec.Config, spec.ConfigHash = created.Name, configHash(key, config)
		rel := &api.Release{
			ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: labels, OwnerReferences: ownedBy(app)},
			Spec:       spec,
		}
		if len(image) > 0 {
			rel.Annotations = maps.Clone(image)
		}
		out, err := client.For[*api.Release](s.cfg.Backend, ns).Create(ctx, rel)
		if errdefs.IsAlreadyExists(err) {
			version++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write release %s: %w", name, err)
		}
		return out, nil
	}
}

// SetConfig sets and unsets app's config vars and, if the app has a
// release, makes a new one with the same image and the new config (no
// rebuild). It returns the new release, or nil when the app has none yet
// (the config applies from its first deploy) or nothing changed.
func (s *Service) SetConfig(ctx context.Context, ns, name string, set map[string]string, unset []string, by string) (*api.Release, error) {
	for k := range set {
		if err := checkEnvName(k); err != nil {
			return nil, err
		}
	}
	defer s.lock(ns, name)()
	app, err := client.For[*api.App](s.cfg.Backend, ns).Get(ctx, name)
	if err != nil {
		return nil, err
	}
	secrets := client.For[*api.Secret](s.cfg.Backend, ns)
	changed := false
	var data map[string][]byte
	err = client.RetryOnConflict(ctx, func() error {
		changed = false
		sec, err := secrets.Get(ctx, api.AppConfigSecretName(name))
		missing := errdefs.IsNotFound(err)
		if err != nil && !missing {
			return err
		}
		if missing {
			sec = &api.Secret{ObjectMeta: api.ObjectMeta{Name: api.AppConfigSecretName(name), Namespace: ns,
				Labels: map[string]string{api.LabelApp: name}, OwnerReferences: ownedBy(app)}}
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		for k, v := range set {
			if old, ok := sec.Data[k]; !ok || string(old) != v {
				sec.Data[k] = []byte(v)
				changed = true
			}
		}
		for _, k := range unset {
			if _, ok := sec.Data[k]; ok {
				delete(sec.Data, k)
				changed = true
			}
		}
		data = sec.Data
		switch {
		case !changed:
			return nil
		case missing:
			_, err = secrets.Create(ctx, sec)
		default:
			_, err = secrets.Update(ctx, sec)
		}
		return err
	})
	if err != nil || !changed {
		return nil, err
	}
	rels, err := s.Releases(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	cur := current(rels)
	if cur == nil {
		return nil, nil
	}
	spec := cur.Spec
	spec.Description = describeConfig(set, unset)
	spec.CreatedBy = by
	return s.newRelease(ctx, app, spec, data, imageAnnotations(cur))
}

// describeConfig is a release's description for a config change.
func describeConfig(set map[string]string, unset []string) string {
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "Set "+strings.Join(slices.Sorted(maps.Keys(set)), ", "))
	}
	if len(unset) > 0 {
		parts = append(parts, "Unset "+strings.Join(unset, ", "))
	}
	return strings.Join(parts, "; ")
}

// checkEnvName refuses a config var name a process could not read.
func checkEnvName(k string) error {
	if k == "" {
		return fmt.Errorf("a config var needs a name (KEY=value): %w", errdefs.ErrBadRequest)
	}
	for i, c := range k {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("config var %q: a name is letters, digits and '_', not starting with a digit: %w", k, errdefs.ErrBadRequest)
		}
	}
	return nil
}

// Rollback makes a new release that runs an earlier one's image and
// config, and puts the app's config vars back to that config, so that a
// later config change starts from it. target names the release (its name
// or "vN"); "" means the one before the current release.
func (s *Service) Rollback(ctx context.Context, ns, name, target, by string) (*api.Release, error) {
	defer s.lock(ns, name)()
	app, err := client.For[*api.App](s.cfg.Backend, ns).Get(ctx, name)
	if err != nil {
		return nil, err
	}
	rels, err := s.Releases(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	var to *api.Release
	if target == "" {
		cur := app.Status.Version
		for _, r := range rels {
			if r.Spec.Version < cur && r.Status.Phase == api.ReleaseSucceeded {
				to = r
				break
			}
		}
		if to == nil {
			return nil, fmt.Errorf("app %s has no earlier release that ran to roll back to: %w", name, errdefs.ErrBadRequest)
		}
	} else {
		for _, r := range rels {
			if r.Name == target || r.Name == name+"-"+target {
				to = r
			}
		}
		if to == nil {
			return nil, fmt.Errorf("app %s has no release %q (see `skiff releases %s`): %w", name, target, name, errdefs.ErrNotFound)
		}
	}
	config := map[string][]byte{}
	if to.Spec.Config != "" {
		snap, err := client.For[*api.Secret](s.cfg.Backend, ns).Get(ctx, to.Spec.Config)
		if err != nil {
			return nil, fmt.Errorf("read the config of %s: %w", to.Name, err)
		}
		if snap.Data != nil { // nil would mean "the app's config now"
			config = snap.Data
		}
	}
	spec := to.Spec
	spec.Description = fmt.Sprintf("Rollback to v%d", to.Spec.Version)
	spec.CreatedBy = by
	rel, err := s.newRelease(ctx, app, spec, config, imageAnnotations(to))
	if err != nil {
		return nil, err
	}
	// The release runs the old config whatever happens next; the config
	// vars follow, so that the next change starts from them.
	if err := s.putConfig(ctx, app, config); err != nil {
		return rel, fmt.Errorf("%s runs v%d's config, but the app's config vars could not be put back to it: %w", rel.Name, to.Spec.Version, err)
	}
	return rel, nil
}

// putConfig replaces app's config vars with data.
func (s *Service) putConfig(ctx context.Context, app *api.App, data map[string][]byte) error {
	secrets := client.For[*api.Secret](s.cfg.Backend, app.Namespace)
	return client.RetryOnConflict(ctx, func() error {
		sec, err := secrets.Get(ctx, api.AppConfigSecretName(app.Name))
		if errdefs.IsNotFound(err) {
			_, err = secrets.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Name: api.AppConfigSecretName(app.Name),
				Namespace: app.Namespace, Labels: map[string]string{api.LabelApp: app.Name}, OwnerReferences: ownedBy(app)}, Data: data})
			return err
		}
		if err != nil {
			return err
		}
		sec.Data = data
		_, err = secrets.Update(ctx, sec)
		return err
	})
}
