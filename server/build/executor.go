package build

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Builder runs builds on one containerd: each filesystem step of a Plan
// (RUN, COPY, ADD, a WORKDIR that creates its directory) runs on a snapshot
// prepared from the previous step's, its diff becomes a layer, and the
// snapshot is committed under a name derived from the step's cache key, so
// that the next build with the same key reuses it. The result is an OCI
// image in containerd, unpacked for the snapshotter containers run on.
//
// RUN steps run in runc containers in the host's network namespace: builds
// share the host network, as `docker build --network host` does, so that
// package managers reach their registries without a CNI network.
//
// A Builder holds no state of its own: the cache is in containerd, and
// builds may run concurrently (two that make the same step share its
// snapshot). The cache snapshots are the build's own; the image is unpacked
// besides them into the snapshots containerd names by chain ID, as any
// image is, so a layer takes its space twice until Prune drops the cache.
type Builder struct {
	// Client is the containerd the builds run on.
	Client *containerd.Client
	// Namespace is the containerd namespace of the images, snapshots and
	// build containers, e.g. "skiff".
	Namespace string
	// Snapshotter is the snapshotter of the build and of the unpacked
	// image; "" = overlayfs.
	Snapshotter string
	// Platform of the build ("" = the host's, e.g. linux/arm64 on a Pi).
	// Builds are native only: a platform the host cannot run is refused.
	Platform string
	// Pull fetches an image FROM (or COPY --from) names when it is not in
	// containerd yet; nil: only local images are used, and a missing one
	// is an error that says how to import it.
	Pull func(ctx context.Context, ref string) (containerd.Image, error)
	// CgroupParent is the parent cgroup of RUN steps' containers (a cgroup
	// v1 path such as "/skiff-build", or a v2 systemd slice such as
	// "skiff-build.slice"); "" = containerd's default (/<namespace>/<id>).
	CgroupParent string
	// Log receives the builder's own records (not the build log, which
	// goes to Request.Out); nil discards them.
	Log *slog.Logger
}

// Request is one build.
type Request struct {
	// ContextDir is the checked-out source tree; it is only read.
	ContextDir string
	// Dockerfile is its path relative to ContextDir; "" = "Dockerfile" if
	// it exists, else the app kind is detected and Recipes write one.
	Dockerfile string
	// Recipes are used when there is no Dockerfile.
	Recipes Recipes
	// BuildArgs are the build arguments (docker build --build-arg).
	BuildArgs map[string]string
	// Image is the name to give the result, e.g.
	// "skiff.local/apps/myapp:build-3". It is created or moved only when
	// the build succeeds.
	Image string
	// Out receives the build log: "Step 3/7 : RUN ...", " ---> Using
	// cache", RUN output and the error with its line; nil discards it.
	Out io.Writer
	// Timeout bounds the whole build; 0 = none. A build that exceeds it
	// fails with "build timed out after ..." and names no image.
	Timeout time.Duration
	// Memory is the memory limit of each RUN container in bytes; 0 =
	// none. A RUN the kernel kills for exceeding it fails with an error
	// saying so.
	Memory int64
	// Labels are added to the image config's labels.
	Labels map[string]string
	// PrivateImages, if set, is a name prefix ("skiff.local/apps/")
	// under which only Image's own repository may be a base image or
	// COPY --from source, and only its images carrying ImageLabels: one
	// app's build does not read another's (nor one a deleted app of the
	// same name left).
	PrivateImages string
	// ImageLabels are the labels of the image's records in containerd
	// (both names; not the image config's labels).
	ImageLabels map[string]string
}

// Result is what a successful build made.
type Result struct {
	// Image is Request.Image's repository pinned to the manifest,
	// repo@sha256:…, an image name in containerd too (besides
	// Request.Image).
	Image string
	// Digest is the image manifest's digest.
	Digest digest.Digest
	// Config is the final image config.
	Config v1.ImageConfig
	// Kind is "dockerfile", or the Kind detected when there was none.
	Kind string
	// Processes are the Procfile's process types when ContextDir has a
	// Procfile, else {"web": ""}: one process running the image's own
	// command.
	Processes map[string]string
	// Port is the one TCP port the image EXPOSEs (Plan.Port), or 0.
	Port int
	// Steps is how many steps (instructions after FROM, in the stages the
	// image needs) the build ran or reused; CachedSteps how many of them
	// came from the cache. A metadata step (ENV, CMD, …) counts as cached
	// when every filesystem step before it in its stage chain did, since
	// it redoes nothing.
	Steps, CachedSteps int
	// Healthcheck is the image's HEALTHCHECK, or nil.
	Healthcheck *Healthcheck
}

// errTimedOut is the cause of a build context that ran out of
// Request.Timeout.
var errTimedOut = errors.New("build timed out")

// Build runs req and writes its image. On failure Request.Image is neither
// created nor moved, and the error, also written to Request.Out, names the
// failing instruction's line.
func (b *Builder) Build(ctx context.Context, req Request) (*Result, error) {
	if b.Client == nil {
		return nil, errors.New("build: Builder.Client is nil")
	}
	if req.Image == "" {
		return nil, errors.New("build: Request.Image is empty; name the image to build, e.g. skiff.local/apps/myapp:build-1")
	}
	if req.ContextDir == "" {
		return nil, errors.New("build: Request.ContextDir is empty; give the checked-out source directory")
	}
	out := req.Out
	if out == nil {
		out = io.Discard
	}
	out = &lockedWriter{w: out}
	started := time.Now()
	res, err := b.build(ctx, req, out)
	if err != nil {
		fmt.Fprintf(out, "ERROR: %v\n", err)
		b.log().Info("build failed", "image", req.Image, "err", err, "took", time.Since(started))
		return nil, err
	}
	fmt.Fprintf(out, "Successfully built %s\n", res.Image)
	b.log().Info("build done", "image", res.Image, "steps", res.Steps, "cached", res.CachedSteps, "took", time.Since(started))
	return res, nil
}

func (b *Builder) build(ctx context.Context, req Request, out io.Writer) (*Result, error) {
	ns := b.Namespace
	if ns == "" {
		ns = "default"
	}
	ctx = namespaces.WithNamespace(ctx, ns)
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, req.Timeout, errTimedOut)
		defer cancel()
	}
	plat, err := b.platform()
	if err != nil {
		return nil, err
	}
	// The lease holds what the build writes (active snapshots, layers,
	// config, manifest) until the image or a cache snapshot refers to it.
	ls := b.Client.LeasesService()
	lease, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(24*time.Hour),
		leases.WithLabel(buildLabel, "true"))
	if err != nil {
		return nil, b.timeoutOr(ctx, req, fmt.Errorf("build: create lease: %w", err))
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := ls.Delete(cctx, lease, leases.SynchronousDelete); err != nil {
			b.log().Warn("delete build lease", "lease", lease.ID, "err", err)
		}
	}()
	ctx = leases.WithLease(ctx, lease.ID)
	e := &execution{b: b, req: req, out: out, platform: plat, images: map[string]*baseImage{}}
	res, err := e.run(ctx)
	if err != nil {
		return nil, b.timeoutOr(ctx, req, err)
	}
	return res, nil
}

// timeoutOr turns err into the timeout error when the build ran out of
// time (whatever failed then failed because of it).
func (b *Builder) timeoutOr(ctx context.Context, req Request, err error) error {
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), errTimedOut) {
		return fmt.Errorf("build timed out after %s; make the build faster or raise its timeout", req.Timeout)
	}
	return err
}

func (b *Builder) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

func (b *Builder) snapshotter() string {
	if b.Snapshotter == "" {
		return "overlayfs"
	}
	return b.Snapshotter
}

// platform is the build's platform; only one the host runs natively.
func (b *Builder) platform() (v1.Platform, error) {
	if b.Platform == "" {
		return platforms.DefaultSpec(), nil
	}
	p, err := platforms.Parse(b.Platform)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("build: platform %q: %v; want os/arch[/variant], e.g. linux/arm64", b.Platform, err)
	}
	if !platforms.Default().Match(p) {
		return v1.Platform{}, fmt.Errorf("build: platform %s is not this host's (%s): skiff builds natively only; build on a node of that platform", platforms.Format(p), platforms.DefaultString())
	}
	return platforms.Normalize(p), nil
}

// execution is the state of one build.
type execution struct {
	b        *Builder
	req      Request
	out      io.Writer
	platform v1.Platform

	mu     sync.Mutex
	images map[string]*baseImage // by reference as written
}

// stageOut is a stage's filesystem and history so far.
type stageOut struct {
	base     *baseImage // the root base image; nil for scratch
	snapshot string     // committed snapshot of the rootfs; "" = empty
	layers   []layer
	history  []v1.History
	cached   bool // every filesystem step so far came from the cache
}

// layer is one layer of the image being built.
type layer struct {
	desc    v1.Descriptor
	diffID  digest.Digest
	created time.Time // when the step that made it ran
}

func (s stageOut) clone() stageOut {
	s.layers = slices.Clone(s.layers)
	s.history = slices.Clone(s.history)
	return s
}

// baseConfig is the base image's config, for the stage's ENV and paths.
func (s stageOut) baseConfig() v1.ImageConfig {
	if s.base == nil {
		return v1.ImageConfig{}
	}
	return s.base.spec.Config
}

// workdir is the base image's working directory, "/" when it sets none.
func (s stageOut) workdir() string {
	if wd := s.baseConfig().WorkingDir; wd != "" {
		return wd
	}
	return "/"
}

// abs resolves a path the plan left relative against the base's
// WorkingDir, keeping a trailing "/".
func (s stageOut) abs(p string) string {
	if p == "" {
		return s.workdir()
	}
	if path.IsAbs(p) {
		return p
	}
	r := path.Join(s.workdir(), p)
	if strings.HasSuffix(p, "/") && r != "/" {
		r += "/"
	}
	return r
}

func (e *execution) run(ctx context.Context) (*Result, error) {
	plan, kind, err := e.plan(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(e.out, "WARNING: %s\n", w)
	}
	if len(plan.UnusedBuildArgs) > 0 {
		fmt.Fprintf(e.out, "WARNING: build arguments not consumed by any ARG: %s\n", strings.Join(plan.UnusedBuildArgs, ", "))
	}
	keys, err := plan.CacheKeysWith(e.req.ContextDir, KeyOptions{
		Platform: platforms.Format(e.platform),
		ImageDigest: func(ref, platform string) (string, error) {
			img, err := e.image(ctx, ref, platform)
			if err != nil {
				return "", err
			}
			return img.digest.String(), nil
		},
	})
	if err != nil {
		return nil, err
	}
	total := 0
	for _, st := range plan.Stages {
		if st.Needed {
			total += len(st.Steps)
		}
	}
	res := &Result{Kind: kind}
	outs := make([]stageOut, len(plan.Stages))
	n := 0
	for si, st := range plan.Stages {
		if !st.Needed {
			continue
		}
		var cur stageOut
		if st.BaseStage >= 0 {
			cur = outs[st.BaseStage].clone()
			fmt.Fprintf(e.out, "FROM %s (stage %d)\n", st.From, st.BaseStage+1)
		} else {
			cur = stageOut{cached: true}
			if !strings.EqualFold(st.From, "scratch") {
				img, err := e.image(ctx, st.From, st.Platform)
				if err != nil {
					return nil, fmt.Errorf("line %d: FROM %s: %w", st.Line, st.From, err)
				}
				cur.base = img
				cur.snapshot = img.chainID
				cur.layers = slices.Clone(img.layers)
				cur.history = slices.Clone(img.history)
				fmt.Fprintf(e.out, "FROM %s (%s)\n", st.From, img.digest)
			} else {
				fmt.Fprintln(e.out, "FROM scratch")
			}
		}
		for _, step := range st.Steps {
			n++
			fmt.Fprintf(e.out, "Step %d/%d : %s\n", n, total, step.Original)
			res.Steps++
			hit, err := e.step(ctx, plan, outs, &cur, step, keys[step.Index])
			if err != nil {
				return nil, err
			}
			if hit {
				res.CachedSteps++
			}
		}
		outs[si] = cur
	}
	final := outs[len(plan.Stages)-1]
	cfg := plan.ImageConfig(final.baseConfig())
	if len(e.req.Labels) > 0 {
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for k, v := range e.req.Labels {
			cfg.Labels[k] = v
		}
	}
	desc, err := e.writeImage(ctx, final, cfg, plan.Healthcheck)
	if err != nil {
		return nil, err
	}
	res.Digest = desc.Digest
	res.Image = PinnedName(e.req.Image, desc.Digest)
	res.Config = cfg
	res.Healthcheck = plan.Healthcheck
	if p, ok := plan.Port(); ok {
		res.Port = p
	}
	if res.Processes, err = readProcfile(e.req.ContextDir); err != nil {
		return nil, err
	}
	if res.Processes == nil {
		res.Processes = map[string]string{"web": ""}
	}
	return res, nil
}

// plan reads the Dockerfile, or writes one with the recipe of the kind of
// app detected, and parses it with the base images' configs.
func (e *execution) plan(ctx context.Context) (*Plan, string, error) {
	opts := ParseOptions{
		BuildArgs: e.req.BuildArgs,
		// A base that cannot be resolved gives an empty config here: the
		// stage may not be needed, and a needed one fails when it runs,
		// with the FROM line.
		BaseConfig: func(ref, platform string) (v1.ImageConfig, error) {
			img, err := e.image(ctx, ref, platform)
			if err != nil {
				return v1.ImageConfig{}, nil
			}
			return img.spec.Config, nil
		},
	}
	name := e.req.Dockerfile
	if name == "" {
		f, err := openInContext(e.req.ContextDir, "Dockerfile")
		switch {
		case err == nil:
			f.Close()
			name = "Dockerfile"
		case !errors.Is(err, fs.ErrNotExist):
			return nil, "", fmt.Errorf("build context: %w", err)
		}
	}
	if name != "" {
		f, err := openInContext(e.req.ContextDir, name)
		if err != nil {
			return nil, "", fmt.Errorf("dockerfile %s: %w", name, err)
		}
		defer f.Close()
		p, err := ParseDockerfileWith(f, opts)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		return p, "dockerfile", nil
	}
	kind, err := Detect(e.req.ContextDir)
	if err != nil {
		return nil, "", err
	}
	text, err := e.req.Recipes.Dockerfile(kind, e.req.ContextDir)
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(e.out, "No Dockerfile: building a %s app with this recipe:\n%s", kind, text)
	p, err := ParseDockerfileWith(strings.NewReader(text), opts)
	if err != nil {
		return nil, "", fmt.Errorf("%s recipe: %w", kind, err)
	}
	return p, string(kind), nil
}

// step runs or reuses one step on cur and reports whether it came from the
// cache.
func (e *execution) step(ctx context.Context, plan *Plan, outs []stageOut, cur *stageOut, step Step, key string) (bool, error) {
	switch step.Kind {
	case StepRun, StepCopy, StepAdd, StepWorkdir:
	default:
		// A metadata step: the config says it, no layer does.
		cur.history = append(cur.history, historyOf(step, true, cur.lastCreated()))
		if cur.cached {
			fmt.Fprintln(e.out, " ---> Using cache")
		}
		return cur.cached, nil
	}
	if l, ok, err := e.cached(ctx, key); err != nil {
		return false, err
	} else if ok {
		fmt.Fprintf(e.out, " ---> Using cache %s\n", short(l.diffID))
		cur.snapshot = cacheName(key)
		cur.layers = append(cur.layers, l)
		cur.history = append(cur.history, historyOf(step, false, &l.created))
		return cur.cached, nil
	}
	if step.Kind == StepWorkdir {
		exists, err := e.dirExists(ctx, cur, cur.abs(step.Args[0]))
		if err != nil {
			return false, fmt.Errorf("line %d: %s: %w", step.Line, step.Original, err)
		}
		if exists {
			// Nothing to create: no layer, as Docker does.
			cur.history = append(cur.history, historyOf(step, true, cur.lastCreated()))
			return cur.cached, nil
		}
	}
	var from *stageOut
	if step.Kind == StepCopy || step.Kind == StepAdd {
		switch {
		case step.FromStage >= 0:
			from = &outs[step.FromStage]
		case step.FromImage != "":
			img, err := e.image(ctx, step.FromImage, plan.Stages[step.Stage].Platform)
			if err != nil {
				return false, fmt.Errorf("line %d: %s: image %s: %w", step.Line, step.Kind, step.FromImage, err)
			}
			from = &stageOut{base: img, snapshot: img.chainID}
		}
	}
	started := time.Now()
	l, err := e.fsStep(ctx, cur, step, key, from)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(e.out, " ---> %s (%s)\n", short(l.diffID), time.Since(started).Round(time.Millisecond))
	cur.cached = false
	cur.snapshot = cacheName(key)
	cur.layers = append(cur.layers, l)
	cur.history = append(cur.history, historyOf(step, false, &l.created))
	return false, nil
}

// historyOf is a step's history entry. Its time is when the step's layer
// was made (a cached one's, not this build's) and a metadata step takes the
// time of the entry before it, so that a build whose steps all come from
// the cache writes the same config, and the same image digest, again.
func historyOf(step Step, empty bool, created *time.Time) v1.History {
	return v1.History{Created: created, CreatedBy: step.Original, Comment: "skiff build", EmptyLayer: empty}
}

// lastCreated is the time of the stage's last history entry, else the
// base image's creation time, else nil.
func (s stageOut) lastCreated() *time.Time {
	for i := len(s.history) - 1; i >= 0; i-- {
		if s.history[i].Created != nil {
			return s.history[i].Created
		}
	}
	if s.base != nil {
		return s.base.spec.Created
	}
	return nil
}

func short(d digest.Digest) string {
	h := d.Encoded()
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// lockedWriter serializes writes: a RUN's stdout and stderr are copied by
// two goroutines into one log.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cleanupContext is for undoing work after ctx may have ended: same
// namespace and lease, no cancellation, a bound of its own.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
