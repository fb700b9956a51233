package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	digest "github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	runtimecd "github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/apiserver"
	"github.com/skiffhq/skiff/server/appimages"
	"github.com/skiffhq/skiff/server/apps"
	"github.com/skiffhq/skiff/server/build"
	"github.com/skiffhq/skiff/server/build/remote"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/gitpush"
)

// newGitHookCommand is the hidden `skiff git-hook pre-receive` that every
// app repository's pre-receive hook runs: it hands the push to the server
// that let it in and streams the server's answer to the pusher.
func newGitHookCommand(io streams) *cobra.Command {
	return &cobra.Command{
		Use:                "git-hook",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			if code := gitpush.RunHook(os.Getenv, io.in, io.out); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}

// appRepos are the apps' git repositories under <data-dir>/git, whose
// hook runs this binary.
func appRepos(dataDir string) (*gitpush.Repos, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("git hooks run this binary, and its path is unknown: %w", err)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	return &gitpush.Repos{Root: filepath.Join(abs, "git"), HookCommand: []string{exe, "git-hook"}}, nil
}

// newAppService makes the server's apps: the repositories, and the
// service that builds (on the embedded node's containerd, once it is up)
// and releases. Without an embedded node a push is refused: this server
// has nowhere to build.
func newAppService(cfg ServerConfig, b client.Backend, agents apiserver.AgentProxyConfig, log *slog.Logger) (*apps.Service, *gitpush.Repos, *builderSlot, error) {
	repos, err := appRepos(cfg.DataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	slot := newBuilderSlot()
	var builder apps.Builder
	if !cfg.DisableAgent {
		recipes, err := cfg.recipes()
		if err != nil {
			return nil, nil, nil, err
		}
		builder = (&serverBuilds{slot: slot, recipes: recipes, cgroupParent: buildCgroup(cfg.Node),
			timeout: time.Duration(cfg.BuildTimeoutSeconds) * time.Second, memory: int64(cfg.BuildMemoryMB) << 20,
			self: cfg.Node.NodeName, backend: b, agents: agents, log: log.With("component", "build")}).build
	}
	svc, err := apps.New(apps.Config{Backend: b, Builder: builder, BuildDir: filepath.Join(cfg.DataDir, "builds"),
		NodeName: cfg.Node.NodeName, Log: log.With("component", "apps")})
	return svc, repos, slot, err
}

// buildCgroup is where a node's RUN steps' cgroups go: under the node's,
// beside its pods'.
func buildCgroup(n NodeConfig) string { return path.Join(n.cgroupRoot(), "builds") }

// appsConfig is the API server's part of apps: git push, and the built
// images served to the nodes from the embedded node's containerd (none
// without one: nothing is built).
func appsConfig(cfg ServerConfig, svc *apps.Service, repos *gitpush.Repos, slot *builderSlot) *apiserver.AppsConfig {
	c := &apiserver.AppsConfig{Service: svc, Repos: repos}
	if !cfg.DisableAgent {
		c.Images = &appimages.Config{Containerd: slot.get, Namespace: runtimecd.Namespace, Host: api.AppImageHost}
	}
	return c
}

// appImageMirror makes a joined node fetch apps' images (skiff.local/…)
// from its server, over its own connection and certificate.
func appImageMirror(c *client.HTTP) runtimecd.Mirror {
	return appImageMirrorAt(c.Server(), c.HTTPClient())
}

// appImageMirrorAt fetches apps' images from the /v2/ API at u through hc.
func appImageMirrorAt(u *url.URL, hc *http.Client) runtimecd.Mirror {
	return runtimecd.Mirror{Host: api.AppImageHost, URL: u, Client: hc}
}

// builderSlot hands the embedded node's containerd to the server's
// builds: it is set once the node has connected, and a push before that
// waits for it.
type builderSlot struct {
	once  sync.Once
	ready chan struct{}
	c     *containerd.Client
}

func newBuilderSlot() *builderSlot { return &builderSlot{ready: make(chan struct{})} }

// set gives the slot its containerd (the first call wins).
func (b *builderSlot) set(c *containerd.Client) {
	b.once.Do(func() { b.c = c; close(b.ready) })
}

// cleanUpBuilds removes from a node's containerd what builds a stopped
// server or agent left in it (the node does it once connected, before
// any build).
func cleanUpBuilds(ctx context.Context, c *containerd.Client, log *slog.Logger) {
	n, err := (&build.Builder{Client: c, Namespace: runtimecd.Namespace}).CleanUp(ctx)
	if err != nil {
		log.Warn("could not remove what unfinished builds left", "err", err)
	} else if n > 0 {
		log.Info("removed what unfinished builds left", "objects", n)
	}
}

// builderRoutes are a node agent's part of the server's builds, behind
// its endpoint's API-server-only check: POST /build runs one on this
// node, and GET /v2/ serves the images built here for the server to
// fetch.
func builderRoutes(c *containerd.Client, cfg NodeConfig, dataDir string, log *slog.Logger) (map[string]http.Handler, error) {
	builds, err := remote.NewHandler(remote.HandlerConfig{
		Builder: func(context.Context) (*build.Builder, error) { return newExecutor(c, buildCgroup(cfg), nil, log), nil },
		// Not <data-dir>/builds: a server keeps its checkouts there.
		Dir: filepath.Join(dataDir, "node-builds"),
		Log: log,
	})
	if err != nil {
		return nil, err
	}
	images, err := appimages.New(appimages.Config{
		Containerd: func(context.Context) (*containerd.Client, error) { return c, nil },
		Namespace:  runtimecd.Namespace, Host: api.AppImageHost, Log: log,
	})
	if err != nil {
		return nil, err
	}
	return map[string]http.Handler{"POST /build": builds, "GET /v2/": images}, nil
}

// get waits for the containerd, or for ctx.
func (b *builderSlot) get(ctx context.Context) (*containerd.Client, error) {
	select {
	case <-b.ready:
		return b.c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("the node's containerd is not up yet: %w", ctx.Err())
	}
}

// serverBuilds runs the server's builds: on a Ready node labelled
// skiff.dev/builder=true if there is one (natively on its architecture,
// through its agent), else on the server's own node. An image built
// elsewhere is fetched into the server's containerd at once, from the
// builder's agent: the server's /v2/ serves every node from there.
type serverBuilds struct {
	slot         *builderSlot
	recipes      build.Recipes
	cgroupParent string
	timeout      time.Duration
	memory       int64
	// backend finds the builder nodes; agents reaches them; self is the
	// server's own node.
	self    string
	backend client.Backend
	agents  apiserver.AgentProxyConfig
	log     *slog.Logger
}

// build is an apps.Builder.
func (a *serverBuilds) build(ctx context.Context, req apps.BuildRequest) (apps.BuildResult, error) {
	select {
	case <-a.slot.ready:
	default:
		fmt.Fprintln(req.Out, "-----> Waiting for the node's containerd to start")
	}
	c, err := a.slot.get(ctx)
	if err != nil {
		return apps.BuildResult{}, err
	}
	node, err := a.builderNode(ctx, req.Out)
	if err != nil {
		return apps.BuildResult{}, err
	}
	if node != nil {
		res, err := a.buildOn(ctx, c, node, req)
		if !errdefs.IsUnavailable(err) || ctx.Err() != nil {
			return res, err
		}
		// Busy, unreachable or too old to build, before the build
		// began there (remote.Build), or its result refused: the server
		// builds, as when no builder is ready.
		fmt.Fprintf(req.Out, "-----> %v\n-----> Building on the server's node instead\n", err)
		if req.Node != nil {
			req.Node(a.self)
		}
	}
	res, err := newExecutor(c, a.cgroupParent, req.Out, a.log).Build(ctx, build.Request{
		ContextDir: req.ContextDir, Dockerfile: req.Dockerfile, Recipes: a.recipes, BuildArgs: req.BuildArgs,
		Image: req.Image, Out: req.Out, Timeout: a.timeout, Memory: a.memory,
		PrivateImages: appImagePrefix, ImageLabels: appImageLabels(req),
	})
	if err != nil {
		return apps.BuildResult{}, err
	}
	// Built natively: here, for this host's architecture.
	return apps.BuildResult{Image: res.Image, Kind: res.Kind, Processes: res.Processes, Port: res.Port,
		Steps: res.Steps, CachedSteps: res.CachedSteps, Node: a.self, Arch: runtime.GOARCH}, nil
}

// builderNode is the Ready builder node builds go to, or nil: none is
// labelled, or none labelled is Ready (then out hears that the server
// builds instead).
func (a *serverBuilds) builderNode(ctx context.Context, out io.Writer) (*api.Node, error) {
	nodes, _, _, err := client.For[*api.Node](a.backend, "").List(ctx, api.ListOptions{LabelSelector: api.LabelBuilder + "=true"})
	if err != nil {
		return nil, fmt.Errorf("find the builder nodes: %w", err)
	}
	n := pickBuilder(nodes)
	if n != nil && n.Name == a.self {
		return nil, nil // the server's own node, labelled: built here, directly
	}
	if n == nil && len(nodes) > 0 {
		fmt.Fprintf(out, "-----> No builder node is ready (%d labelled %s=true); building on the server's node\n", len(nodes), api.LabelBuilder)
	}
	return n, nil
}

// pickBuilder is the first by name of the Ready, not deleted nodes, or
// nil.
func pickBuilder(nodes []*api.Node) *api.Node {
	var best *api.Node
	for _, n := range nodes {
		if nodeReady(n) && n.DeletionTimestamp == nil && (best == nil || n.Name < best.Name) {
			best = n
		}
	}
	return best
}

// nodeReady says whether n's Ready condition is True.
func nodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// buildOn builds on node through its agent, then fetches the image from
// the agent's /v2/ into c, the server's containerd. The build is bounded
// by the build timeout (plus time to send the tree and fetch the image),
// so that a builder that hangs does not hold the build slot; what the
// builder says it made is checked before anything is named after it.
func (a *serverBuilds) buildOn(ctx context.Context, c *containerd.Client, node *api.Node, req apps.BuildRequest) (apps.BuildResult, error) {
	u, err := apiserver.AgentURL(node)
	if err != nil {
		return apps.BuildResult{}, err
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout+remoteBuildSlack)
		defer cancel()
	}
	hc := &http.Client{Transport: a.agents.Transport(node.Name)}
	defer hc.CloseIdleConnections()
	fmt.Fprintf(req.Out, "-----> Building on node %s\n", node.Name)
	if req.Node != nil {
		req.Node(node.Name)
	}
	res, err := remote.Build(ctx, hc, u.String()+"/build", req.ContextDir, remote.Request{
		Dockerfile: req.Dockerfile, BuildArgs: req.BuildArgs, Image: req.Image, Recipes: a.recipes,
		TimeoutSeconds: int(a.timeout / time.Second), MemoryBytes: a.memory,
		PrivateImages: appImagePrefix, ImageLabels: appImageLabels(req),
	}, req.Out)
	if err != nil {
		return apps.BuildResult{}, err
	}
	if err := checkRemoteResult(req.Image, node, res); err != nil {
		return apps.BuildResult{}, err
	}
	fmt.Fprintf(req.Out, "-----> Fetching the image from %s\n", node.Name)
	img, err := runtimecd.PullImage(ctx, c, "", res.Image, appImageMirrorAt(u, hc))
	if err != nil {
		return apps.BuildResult{}, fmt.Errorf("fetch the image built on %s: %w", node.Name, err)
	}
	// A pull names the image without the builder's labels.
	rec := img.Metadata()
	rec.Labels = appImageLabels(req)
	if _, err := c.ImageService().Update(namespaces.WithNamespace(ctx, runtimecd.Namespace), rec, "labels"); err != nil {
		return apps.BuildResult{}, fmt.Errorf("label the image built on %s: %w", node.Name, err)
	}
	return apps.BuildResult{Image: res.Image, Kind: res.Kind, Processes: res.Processes, Port: res.Port,
		Steps: res.Steps, CachedSteps: res.CachedSteps, Node: node.Name, Arch: res.Arch}, nil
}

// appImageLabels are the containerd labels of an app's built image.
func appImageLabels(req apps.BuildRequest) map[string]string {
	return map[string]string{api.LabelAppUID: req.AppUID}
}

// appImagePrefix starts the names of every app's built images: what one
// app's build may not start from unless they are its own app's, what the
// app GC collects, what the server's node keeps from disk GC.
const appImagePrefix = api.AppImageRepository + "/"

// remoteBuildSlack is the time a build on a builder node gets beyond the
// build timeout: sending the tree and fetching the image back.
const remoteBuildSlack = 5 * time.Minute

// checkRemoteResult refuses what a builder node says it built unless it
// is image's own repository at a well-formed digest, for the node's own
// architecture: the server names an image after it in its containerd
// and runs it on nodes of that architecture.
func checkRemoteResult(image string, node *api.Node, res remote.Result) error {
	d, err := digest.Parse(res.Digest)
	switch {
	case err != nil:
		return fmt.Errorf("builder node %s answered a bad digest %q: %v: %w", node.Name, res.Digest, err, errdefs.ErrUnavailable)
	case res.Image != build.PinnedName(image, d):
		return fmt.Errorf("builder node %s answered image %q, not %s: %w", node.Name, res.Image, build.PinnedName(image, d), errdefs.ErrUnavailable)
	case res.Arch != node.Labels["kubernetes.io/arch"]:
		return fmt.Errorf("builder node %s says it built for %q, but it is a %q node: %w", node.Name, res.Arch, node.Labels["kubernetes.io/arch"], errdefs.ErrUnavailable)
	}
	return nil
}

// newExecutor is server/build's executor on c, RUN steps' cgroups under
// cgroupParent; a base image not in containerd is pulled from its
// registry, anonymously (out, if set, hears so).
func newExecutor(c *containerd.Client, cgroupParent string, out io.Writer, log *slog.Logger) *build.Builder {
	return &build.Builder{Client: c, Namespace: runtimecd.Namespace, CgroupParent: cgroupParent, Log: log,
		Pull: func(ctx context.Context, ref string) (containerd.Image, error) {
			if out != nil {
				fmt.Fprintf(out, "Pulling %s\n", ref)
			}
			return runtimecd.PullImage(ctx, c, "", ref)
		}}
}
