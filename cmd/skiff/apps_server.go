package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/spf13/cobra"

	runtimecd "github.com/skiffhq/skiff/runtime/containerd"
	"github.com/skiffhq/skiff/server/apps"
	"github.com/skiffhq/skiff/server/build"
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
func newAppService(cfg ServerConfig, b client.Backend, log *slog.Logger) (*apps.Service, *gitpush.Repos, *builderSlot, error) {
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
		// RUN steps' cgroups go under the node's, beside its pods'.
		builder = appBuilder(slot, recipes, path.Join(cfg.Node.cgroupRoot(), "builds"),
			time.Duration(cfg.BuildTimeoutSeconds)*time.Second, int64(cfg.BuildMemoryMB)<<20, log.With("component", "build"))
	}
	svc, err := apps.New(apps.Config{Backend: b, Builder: builder, BuildDir: filepath.Join(cfg.DataDir, "builds"),
		NodeName: cfg.Node.NodeName, Log: log.With("component", "apps")})
	return svc, repos, slot, err
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

// setter is what the node calls with its containerd: what builds a
// stopped server left in it is removed first.
func (b *builderSlot) setter(ctx context.Context, log *slog.Logger) func(*containerd.Client) {
	return func(c *containerd.Client) {
		n, err := (&build.Builder{Client: c, Namespace: runtimecd.Namespace}).CleanUp(ctx)
		if err != nil {
			log.Warn("could not remove what unfinished builds left", "err", err)
		} else if n > 0 {
			log.Info("removed what unfinished builds left", "objects", n)
		}
		b.set(c)
	}
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

// appBuilder builds on the node's containerd with server/build's
// executor. The image it returns is named by digest as well
// (repo@sha256:…), the name releases run, so that a pod finds it in
// containerd without a registry.
func appBuilder(slot *builderSlot, recipes build.Recipes, cgroupParent string, timeout time.Duration, memory int64, log *slog.Logger) apps.Builder {
	return func(ctx context.Context, req apps.BuildRequest) (apps.BuildResult, error) {
		select {
		case <-slot.ready:
		default:
			fmt.Fprintln(req.Out, "-----> Waiting for the node's containerd to start")
		}
		c, err := slot.get(ctx)
		if err != nil {
			return apps.BuildResult{}, err
		}
		b := &build.Builder{Client: c, Namespace: runtimecd.Namespace, CgroupParent: cgroupParent, Log: log,
			Pull: func(ctx context.Context, ref string) (containerd.Image, error) {
				// Base images not on the board come from their
				// registry, anonymously.
				fmt.Fprintf(req.Out, "Pulling %s\n", ref)
				return runtimecd.PullImage(ctx, c, "", ref)
			}}
		res, err := b.Build(ctx, build.Request{
			ContextDir: req.ContextDir, Dockerfile: req.Dockerfile, Recipes: recipes, BuildArgs: req.BuildArgs,
			Image: req.Image, Out: req.Out, Timeout: timeout, Memory: memory,
		})
		if err != nil {
			return apps.BuildResult{}, err
		}
		repo := req.Image // without its tag
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		pinned := repo + "@" + res.Digest.String()
		if err := nameImage(ctx, c, req.Image, pinned); err != nil {
			return apps.BuildResult{}, fmt.Errorf("name the image %s: %w", pinned, err)
		}
		return apps.BuildResult{Image: pinned, Kind: res.Kind, Processes: res.Processes, Port: res.Port,
			Steps: res.Steps, CachedSteps: res.CachedSteps}, nil
	}
}

// nameImage gives the image named from a second name, to.
func nameImage(ctx context.Context, c *containerd.Client, from, to string) error {
	ctx = namespaces.WithNamespace(ctx, runtimecd.Namespace)
	is := c.ImageService()
	img, err := is.Get(ctx, from)
	if err != nil {
		return err
	}
	_, err = is.Create(ctx, images.Image{Name: to, Target: img.Target, Labels: img.Labels})
	if cerrdefs.IsAlreadyExists(err) {
		return nil
	}
	return err
}
