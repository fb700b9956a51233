package apps

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/gitpush"
)

// Receive deploys a push (gitpush.Config.Receive): it builds the pushed
// commit, makes a release of the image and waits until the release has
// rolled out, writing what happens to out. An error refuses the push; the
// running release is then untouched (a build that fails makes no release;
// a release that fails is rolled back by the app controller).
func (s *Service) Receive(ctx context.Context, p gitpush.Push, out io.Writer) error {
	app, err := s.Find(ctx, p.App)
	if err != nil {
		return err
	}
	if s.cfg.Builder == nil {
		return fmt.Errorf("this server has no builder (it runs no node agent with containerd): %w", errdefs.ErrUnavailable)
	}
	commit := p.Update.New
	release, err := s.buildSlot(ctx, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "-----> Building %s from %s (%s)\n", app.Name, shortCommit(commit), p.Update.Branch())
	b, res, err := s.build(ctx, app, p, out)
	release()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "-----> Built %s (%d steps, %d from cache)\n", res.Image, res.Steps, res.CachedSteps)
	unlock := s.lock(app.Namespace, app.Name)
	rel, err := s.newRelease(ctx, app, api.ReleaseSpec{
		Image: res.Image, Build: b.Name, Commit: commit, Processes: res.Processes, Port: int32(res.Port),
		Description: "Deploy " + shortCommit(commit), CreatedBy: p.Pusher.Name,
	}, nil, builtAnnotations(res, s.cfg.NodeName))
	unlock()
	if err != nil {
		return err
	}
	return s.Wait(ctx, rel, out)
}

// builtAnnotations say where res was built (self: the server's node)
// and for which architecture.
func builtAnnotations(res BuildResult, self string) map[string]string {
	a := map[string]string{api.AnnotationImageNode: cmp.Or(res.Node, self)}
	if res.Arch != "" {
		a[api.AnnotationImageArch] = res.Arch
	}
	return a
}

// buildSlot waits for a free build slot, telling out when it must.
func (s *Service) buildSlot(ctx context.Context, out io.Writer) (release func(), err error) {
	select {
	case s.builds <- struct{}{}:
		return func() { <-s.builds }, nil
	default:
	}
	ahead := s.waiting.Add(1)
	defer s.waiting.Add(-1)
	fmt.Fprintf(out, "-----> Waiting for a build slot (%d running, %d waiting before this one)\n", cap(s.builds), ahead-1)
	select {
	case s.builds <- struct{}{}:
		return func() { <-s.builds }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("gave up waiting for a build slot: %w", ctx.Err())
	}
}

// Recover ends what a stopped server left behind: Builds still Running
// (here or on a builder node) are marked Failed, and checkouts removed.
// Call it once at start, before pushes are taken.
func (s *Service) Recover(ctx context.Context) error {
	builds, _, _, err := client.For[*api.Build](s.cfg.Backend, "").List(ctx, api.ListOptions{})
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range builds {
		// The server runs every build, on its node or through a
		// builder's agent (whose build ended with the request): all of
		// them stopped with it.
		if b.Status.Phase != api.BuildRunning {
			continue
		}
		err := s.finishBuild(ctx, b, func(st *api.BuildStatus) bool {
			if st.Phase != api.BuildRunning {
				return false
			}
			st.Phase, st.Message = api.BuildFailed, "the server stopped during the build; push again"
			return true
		})
		switch {
		case errdefs.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("end build %s/%s: %w", b.Namespace, b.Name, err))
		default:
			s.log.Info("build ended by a restart", "build", b.Namespace+"/"+b.Name)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(s.cfg.BuildDir, "*", "*-src-*"))
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	return errors.Join(errs...)
}

// finishBuild writes a build's end, on the latest version of it; set
// returns false when there is nothing to write.
func (s *Service) finishBuild(ctx context.Context, b *api.Build, set func(*api.BuildStatus) bool) error {
	builds := client.For[*api.Build](s.cfg.Backend, b.Namespace)
	return client.RetryOnConflict(ctx, func() error {
		cur, err := builds.Get(ctx, b.Name)
		if err != nil {
			return err
		}
		if !set(&cur.Status) {
			return nil
		}
		now := api.Now()
		cur.Status.CompletionTime = &now
		_, err = builds.UpdateStatus(ctx, cur)
		return err
	})
}

// shortCommit is the seven-character form git shows.
func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

// build runs one build of the pushed commit, recording it in a Build
// object and its log in BuildDir.
func (s *Service) build(ctx context.Context, app *api.App, p gitpush.Push, out io.Writer) (*api.Build, BuildResult, error) {
	builds := client.For[*api.Build](s.cfg.Backend, app.Namespace)
	now := api.Now()
	b, err := builds.Create(ctx, &api.Build{
		ObjectMeta: api.ObjectMeta{GenerateName: app.Name + "-", Namespace: app.Namespace,
			Labels: map[string]string{api.LabelApp: app.Name}, OwnerReferences: ownedBy(app)},
		Spec:   api.BuildSpec{App: app.Name, Commit: p.Update.New, Ref: p.Update.Ref, Pusher: p.Pusher.Name},
		Status: api.BuildStatus{Phase: api.BuildRunning, Node: s.cfg.NodeName, StartTime: &now},
	})
	if err != nil {
		return nil, BuildResult{}, fmt.Errorf("record the build: %w", err)
	}
	res, berr := s.runBuild(ctx, app, b, p, out)
	// The status is written even when the pusher has gone.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = s.finishBuild(wctx, b, func(st *api.BuildStatus) bool {
		if berr != nil {
			st.Phase, st.Message = api.BuildFailed, berr.Error()
			return true
		}
		st.Phase = api.BuildSucceeded
		st.Image, st.Kind, st.Processes = res.Image, res.Kind, res.Processes
		st.Port, st.Steps, st.CachedSteps = int32(res.Port), int32(res.Steps), int32(res.CachedSteps)
		if res.Node != "" { // a builder node's
			st.Node = res.Node
		}
		return true
	})
	if err != nil {
		s.log.Warn("could not record a build's end", "build", b.Name, "err", err)
	}
	if berr != nil {
		return b, res, fmt.Errorf("build %s failed: %w", b.Name, berr)
	}
	return b, res, nil
}

// buildNode records the node a running build went to; the build goes on
// if it cannot be written (its end is written with the result).
func (s *Service) buildNode(ctx context.Context, b *api.Build, node string) {
	builds := client.For[*api.Build](s.cfg.Backend, b.Namespace)
	err := client.RetryOnConflict(ctx, func() error {
		cur, err := builds.Get(ctx, b.Name)
		if err != nil {
			return err
		}
		if cur.Status.Phase != api.BuildRunning || cur.Status.Node == node {
			return nil
		}
		cur.Status.Node = node
		_, err = builds.UpdateStatus(ctx, cur)
		return err
	})
	if err != nil {
		s.log.Warn("could not record a build's node", "build", b.Name, "node", node, "err", err)
	}
}

// LogPath is where build's log is kept.
func (s *Service) LogPath(ns, build string) string {
	return filepath.Join(s.cfg.BuildDir, ns, build+".log")
}

// runBuild checks the commit out and hands it to the Builder, the log
// going to out and to the build's log file.
func (s *Service) runBuild(ctx context.Context, app *api.App, b *api.Build, p gitpush.Push, out io.Writer) (BuildResult, error) {
	dir := filepath.Join(s.cfg.BuildDir, app.Namespace)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return BuildResult{}, err
	}
	logf, err := os.OpenFile(s.LogPath(app.Namespace, b.Name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return BuildResult{}, err
	}
	defer logf.Close()
	w := &syncWriter{w: io.MultiWriter(out, &cappedWriter{w: logf, left: s.cfg.MaxLogBytes})}
	src, err := os.MkdirTemp(dir, b.Name+"-src-")
	if err != nil {
		return BuildResult{}, err
	}
	defer os.RemoveAll(src)
	if err := checkout(ctx, p, src, s.cfg.MaxSourceBytes, s.cfg.MaxSourceFiles); err != nil {
		fmt.Fprintf(w, "checkout: %v\n", err)
		return BuildResult{}, err
	}
	res, err := s.cfg.Builder(ctx, BuildRequest{
		ContextDir: src, Dockerfile: app.Spec.Build.Dockerfile, BuildArgs: app.Spec.Build.Args,
		Image: s.cfg.ImageRepository + "/" + app.Name + ":" + b.Name, AppUID: string(app.UID), Out: w,
		Node: func(node string) { s.buildNode(ctx, b, node) },
	})
	if err != nil {
		fmt.Fprintf(w, "error: %v\n", err)
	}
	return res, err
}

// cappedWriter keeps the first left bytes and then one line saying the
// rest was dropped; it never fails, so the pusher still sees everything.
type cappedWriter struct {
	w    io.Writer
	left int64
	cut  bool
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	switch {
	case int64(len(p)) <= c.left:
		c.w.Write(p)
		c.left -= int64(len(p))
	case !c.cut:
		c.w.Write(p[:c.left])
		c.left = 0
		c.cut = true
		io.WriteString(c.w, "\n[the build log is cut here: it is longer than the server keeps]\n")
	}
	return len(p), nil
}

// syncWriter serializes writes from the build's steps.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// checkout writes the tree of the pushed commit into dir with git
// archive. Symbolic links are written as links; the builder reads the
// tree through os.Root, so none leads outside it.
func checkout(ctx context.Context, p gitpush.Push, dir string, maxBytes int64, maxFiles int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := p.Command(ctx, "archive", "--format=tar", p.Update.New)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	xerr := extract(tar.NewReader(stdout), dir, maxBytes, maxFiles)
	if xerr != nil {
		cancel() // git need not write the rest
		cmd.Wait()
		return xerr
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git archive %s: %v: %s", shortCommit(p.Update.New), err, strings.TrimSpace(stderr.String()))
	}
	return xerr
}

// extract writes a git archive's entries under dir, at most maxBytes of
// file content in at most maxFiles entries.
func extract(tr *tar.Reader, dir string, maxBytes int64, maxFiles int) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	files, limit := 0, maxBytes
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the archive: %w", err)
		}
		name := filepath.Clean(h.Name)
		if name == "." || h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if files++; files > maxFiles {
			return fmt.Errorf("the commit has more than %d files, more than a build takes", maxFiles)
		}
		if h.Size > maxBytes {
			return fmt.Errorf("the commit's files add up to more than %d MiB, more than a build takes", limit>>20)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("the commit's symbolic link %s: %w", name, err)
			}
		case tar.TypeReg:
			if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				return fmt.Errorf("the commit's file %s (is it written through a symbolic link that leads out of the repository?): %w", name, err)
			}
			_, err = io.Copy(f, tr)
			maxBytes -= h.Size
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
		}
	}
}

// Wait follows rel's rollout until it succeeds or fails, telling out how
// the processes come up. A failed or superseded release is an error whose
// message says why and which release keeps serving.
func (s *Service) Wait(ctx context.Context, rel *api.Release, out io.Writer) error {
	fmt.Fprintf(out, "-----> Releasing v%d (%s)\n", rel.Spec.Version, rel.Spec.Description)
	rels := client.For[*api.Release](s.cfg.Backend, rel.Namespace)
	apps := client.For[*api.App](s.cfg.Backend, rel.Namespace)
	// Bounded by the rollout's own deadline, with room for the
	// controller to see and report it.
	deadline := time.Duration(api.DefaultHealthCheckDeadlineSeconds) * time.Second
	if a, err := apps.Get(ctx, rel.Spec.App); err == nil && a.Spec.HealthCheck.DeadlineSeconds > 0 {
		deadline = time.Duration(a.Spec.HealthCheck.DeadlineSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, deadline+time.Minute)
	defer cancel()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for v%d to roll out (it goes on): %w", rel.Spec.Version, ctx.Err())
		case <-t.C:
		}
		r, err := rels.Get(ctx, rel.Name)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("v%d has not rolled out within %s (it goes on; see skiff releases %s): %w", rel.Spec.Version, deadline+time.Minute, rel.Spec.App, ctx.Err())
			}
			return err
		}
		app, err := apps.Get(ctx, rel.Spec.App)
		if err != nil {
			return err
		}
		if p := progress(app); p != last && r.Status.Phase == api.ReleaseDeploying {
			fmt.Fprintf(out, "       %s\n", p)
			last = p
		}
		switch r.Status.Phase {
		case api.ReleaseSucceeded:
			if app.Status.Version < r.Spec.Version {
				continue // the app's status is a moment behind
			}
			fmt.Fprintf(out, "-----> v%d is live", r.Spec.Version)
			if len(app.Status.URLs) > 0 {
				fmt.Fprintf(out, " at %s", strings.Join(app.Status.URLs, " "))
			}
			fmt.Fprintln(out)
			return nil
		case api.ReleaseFailed:
			keeps := "nothing else was running"
			if app.Status.Release != "" {
				keeps = fmt.Sprintf("v%d keeps serving", app.Status.Version)
			}
			return fmt.Errorf("release v%d failed: %s; %s", r.Spec.Version, r.Status.Message, keeps)
		case api.ReleaseSuperseded:
			// A config change made during the rollout runs the same
			// image: its rollout is this push's.
			next, err := s.successor(ctx, r)
			if err != nil {
				return err
			}
			if next == nil {
				return fmt.Errorf("release v%d was replaced by a newer release with another image before it rolled out", r.Spec.Version)
			}
			fmt.Fprintf(out, "-----> v%d (%s) replaces v%d with the same image\n", next.Spec.Version, next.Spec.Description, r.Spec.Version)
			rel = next
		}
	}
}

// successor is the newest release after r with r's image, or nil.
func (s *Service) successor(ctx context.Context, r *api.Release) (*api.Release, error) {
	rels, err := s.Releases(ctx, r.Namespace, r.Spec.App)
	if err != nil {
		return nil, err
	}
	for _, n := range rels { // newest first
		if n.Spec.Version > r.Spec.Version && n.Spec.Image == r.Spec.Image && n.Status.Phase != api.ReleaseSuperseded {
			return n, nil
		}
	}
	return nil, nil
}

// progress is one line of how an app's processes are coming up.
func progress(app *api.App) string {
	var parts []string
	for _, p := range app.Status.Processes {
		parts = append(parts, fmt.Sprintf("%s %d/%d ready", p.Type, p.ReadyReplicas, p.Replicas))
	}
	return strings.Join(parts, ", ")
}
