package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/appimages"
	"github.com/skiffhq/skiff/server/apps"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
	"github.com/skiffhq/skiff/server/gitpush"
)

// AppsConfig turns on apps: git push at /git/APP.git, and the routes that
// change an app's config, roll it back and read its builds' logs.
type AppsConfig struct {
	Service *apps.Service
	// Repos are the apps' git repositories.
	Repos *gitpush.Repos
	// DefaultNamespace is where a push to an app that does not exist
	// creates it (default "default").
	DefaultNamespace string
	// MaxPushBytes bounds one push's pack (default 512 MiB).
	MaxPushBytes int64
	// Images, when set, is where the builds write their images (the
	// embedded node's containerd, which it may wait for): they are served
	// from it at /v2/, read-only, to nodes and to whoever may get the app,
	// so that any node runs them. Authorize is the server's own.
	Images *appimages.Config
}

// DefaultMaxPushBytes bounds a push's pack when AppsConfig says nothing.
const DefaultMaxPushBytes = 512 << 20

// setUpApps makes the git handler and registers the app routes.
func (s *Server) setUpApps(e *echo.Echo, cfg *AppsConfig) error {
	if cfg.DefaultNamespace == "" {
		cfg.DefaultNamespace = "default"
	}
	if cfg.MaxPushBytes == 0 {
		cfg.MaxPushBytes = DefaultMaxPushBytes
	}
	s.apps = cfg
	h, err := gitpush.NewHandler(gitpush.Config{
		Repos:        cfg.Repos,
		Authenticate: s.gitAuthenticate,
		Authorize:    s.gitAuthorize,
		CreateApp:    s.gitCreateApp,
		Receive:      cfg.Service.Receive,
		AppBranch:    s.appBranch,
		Track:        s.gitTrack,
		MaxPushBytes: cfg.MaxPushBytes,
		Log:          s.log,
	})
	if err != nil {
		return err
	}
	s.git = h
	if cfg.Images != nil {
		ic := *cfg.Images
		ic.Authorize = s.imageAuthorize
		if ic.Log == nil {
			ic.Log = s.log
		}
		images, err := appimages.New(ic)
		if err != nil {
			return err
		}
		// Read-only: nothing but GET and HEAD is routed.
		for _, p := range []string{"/v2/", "/v2/*"} {
			e.GET(p, echo.WrapHandler(images))
			e.HEAD(p, echo.WrapHandler(images))
		}
	}
	e.POST("/api/v1/namespaces/:namespace/apps/:name/config", s.appConfig)
	e.POST("/api/v1/namespaces/:namespace/apps/:name/rollback", s.appRollback)
	e.GET("/api/v1/namespaces/:namespace/builds/:name/log", s.buildLog)
	return nil
}

// serveGit answers /git/: the git handler checks credentials itself
// (HTTP Basic, the token as the password, as git sends them), and is
// audited like any other request.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request) {
	ri := &requestInfo{}
	r = r.WithContext(withRequestInfo(r.Context(), ri))
	if s.audit != nil {
		rec := &statusRecorder{ResponseWriter: w}
		w = rec
		defer func() { s.record(r, ri, rec.status()) }()
	}
	s.git.ServeHTTP(w, r)
}

// gitAuthenticate takes the password of git's Basic credentials as a
// bearer token: an API token, or the access token `skiff login` keeps.
// Failures count against the address like any bad token.
func (s *Server) gitAuthenticate(r *http.Request, _, password string) (gitpush.Identity, error) {
	done, err := s.fails.Attempt(r.RemoteAddr)
	if err != nil {
		return gitpush.Identity{}, err
	}
	id, err := s.auth.AuthenticateToken(r.Context(), password)
	done(errdefs.IsUnauthorized(err))
	if err != nil {
		return gitpush.Identity{}, fmt.Errorf("%v (use an API token, `skiff token create`, as the password): %w", err, errdefs.ErrUnauthorized)
	}
	if id.Via == "" {
		id.Via = "git"
	}
	infoFrom(r.Context()).id = id
	return gitpush.Identity{Name: id.Name, Server: id}, nil
}

// gitTrack ends a push's context when its credentials end, as any
// request's (authenticate does the same for the API).
func (s *Server) gitTrack(ctx context.Context, id gitpush.Identity) (context.Context, func()) {
	aid, ok := id.Server.(*auth.Identity)
	if !ok || s.accounts == nil {
		return ctx, func() {}
	}
	return s.accounts.Track(ctx, aid)
}

// gitIdentity is the server identity behind a git identity.
func gitIdentity(ctx context.Context, id gitpush.Identity) context.Context {
	if aid, ok := id.Server.(*auth.Identity); ok {
		return auth.WithIdentity(ctx, aid)
	}
	return ctx
}

// gitAuthorize allows a fetch to whoever may get the app and a push to
// whoever may push to it (the developer role may; viewers may fetch).
func (s *Server) gitAuthorize(ctx context.Context, id gitpush.Identity, name string, push bool) error {
	ctx = gitIdentity(ctx, id)
	app, err := s.apps.Service.Find(ctx, name)
	if err != nil {
		return err
	}
	get := auth.Attributes{Verb: "get", Resource: "apps", Namespace: app.Namespace, Name: name, Namespaced: true}
	a := get
	if push {
		a.Verb = "push" // a role may grant push alone
	}
	err = s.authorize(ctx, a)
	if errdefs.IsForbidden(err) && (!push || !s.allowed(ctx, get)) {
		// Someone who may not see the app is not told its namespace (app
		// names are unique, so that it exists cannot be hidden).
		return fmt.Errorf("you may not see the apps of its namespace: %w", errdefs.ErrForbidden)
	}
	if err != nil {
		return err
	}
	return s.claimRepo(app)
}

// imageAuthorize lets through a pull of an app's image (repository
// apps/<app>) by whoever may get the app, and by a node only while a pod
// bound to it runs one of the app's images (as with Secrets: a node
// reads another team's code only if it runs it). Someone refused hears
// what someone asking for an app that does not exist hears.
func (s *Server) imageAuthorize(r *http.Request, repository string) (map[string]string, error) {
	app, err := s.imageApp(r, repository)
	if err != nil {
		return nil, err
	}
	// Its own images, not a deleted namesake's.
	return map[string]string{api.LabelAppUID: string(app.UID)}, nil
}

// imageApp is the App whose images repository holds, if the caller may
// read them.
func (s *Server) imageApp(r *http.Request, repository string) (*api.App, error) {
	// Apps' images are skiff.local/apps/<app>: repositories apps/<app>.
	prefix := strings.TrimPrefix(api.AppImageRepository, api.AppImageHost+"/") + "/"
	name, ok := strings.CutPrefix(repository, prefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("there is no repository %q here: only apps' images are, as %s<app>: %w", repository, prefix, errdefs.ErrNotFound)
	}
	ctx := r.Context()
	unknown := fmt.Errorf("there is no app %q, or you may not read its images: %w", name, errdefs.ErrNotFound)
	app, err := s.apps.Service.Find(ctx, name)
	if errdefs.IsNotFound(err) {
		return nil, unknown
	} else if err != nil {
		return nil, err
	}
	a := auth.Attributes{Verb: "get", Resource: "apps", Namespace: app.Namespace, Name: name, Namespaced: true}
	if id, _ := auth.IdentityFrom(ctx); id != nil && id.InGroup(auth.GroupNodes) {
		return app, s.nodeMayPull(ctx, id, app, a)
	}
	if err := s.authorize(ctx, a); errdefs.IsForbidden(err) {
		return nil, unknown
	} else if err != nil {
		return nil, err
	}
	return app, nil
}

// nodeMayPull lets node id pull app's images while a pod bound to it
// runs one (recorded as the request's decision, as authorize does).
func (s *Server) nodeMayPull(ctx context.Context, id *auth.Identity, app *api.App, a auth.Attributes) error {
	ri := infoFrom(ctx)
	ri.attrs = a
	node := id.NodeName()
	if node == "" {
		err := fmt.Errorf("a node certificate that names no node may not pull images: %w", errdefs.ErrForbidden)
		ri.reason = err.Error()
		return err
	}
	pods, err := client.ListAll(ctx, s.backend, "pods", app.Namespace, api.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return err
	}
	repo := api.AppImageRepository + "/" + app.Name
	for _, o := range pods.Items {
		p := o.(*api.Pod)
		for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			if rest, ok := strings.CutPrefix(c.Image, repo); ok && (strings.HasPrefix(rest, "@") || strings.HasPrefix(rest, ":")) {
				ri.allowed = true
				return nil
			}
		}
	}
	err = fmt.Errorf("node %s may not pull the images of app %s: no pod bound to it runs one: %w", node, app.Name, errdefs.ErrForbidden)
	ri.reason = err.Error()
	return err
}

// appUIDFile, in an app's repository, names the App it belongs to.
const appUIDFile = "skiff-app-uid"

// claimRepo makes sure app's repository is app's: a repository left by
// a deleted app of the same name (perhaps another team's) is removed
// before anyone fetches its history or pushes onto it.
func (s *Server) claimRepo(app *api.App) error {
	dir := s.apps.Repos.Path(app.Name)
	if _, err := os.Stat(dir); err != nil {
		return nil // none yet: the push makes it, the next check claims it
	}
	owner, err := os.ReadFile(filepath.Join(dir, appUIDFile))
	switch {
	case err == nil && string(owner) == string(app.UID):
		return nil
	case err == nil:
		return s.removeRepo(app, "it belonged to app "+string(owner))
	case !os.IsNotExist(err):
		return err
	}
	// Not claimed yet: made by this app's first push (after the app),
	// or left by an older one from before apps claimed their
	// repositories. git writes "description" once, at init.
	if fi, err := os.Stat(filepath.Join(dir, "description")); err == nil && fi.ModTime().Before(app.CreationTimestamp.Time) {
		return s.removeRepo(app, "it is older than the app")
	}
	return os.WriteFile(filepath.Join(dir, appUIDFile), []byte(app.UID), 0o600)
}

// removeRepo takes a repository that is not app's away: renamed first,
// so that a git still running in it finishes in the old copy, then
// deleted.
func (s *Server) removeRepo(app *api.App, why string) error {
	dir := s.apps.Repos.Path(app.Name)
	s.log.Info("removing the repository of a deleted app of the same name", "app", app.Name, "why", why)
	trash := fmt.Sprintf("%s.removed-%d", dir, time.Now().UnixNano())
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("remove the repository a deleted app %s left: %w", app.Name, err)
	}
	go func() {
		if err := os.RemoveAll(trash); err != nil {
			s.log.Warn("could not delete a removed repository", "path", trash, "err", err)
		}
	}()
	return nil
}

// appBranch is the deploy branch an App names ("" = main or master).
func (s *Server) appBranch(ctx context.Context, name string) (string, error) {
	app, err := s.apps.Service.Find(ctx, name)
	if err != nil {
		return "", err
	}
	return app.Spec.Build.Branch, nil
}

// gitCreateApp creates, for a push to an app that has no repository, the
// App in the default namespace if the pusher may create apps there.
func (s *Server) gitCreateApp(ctx context.Context, id gitpush.Identity, name string) error {
	ctx = gitIdentity(ctx, id)
	if _, err := s.apps.Service.Find(ctx, name); err == nil || !errdefs.IsNotFound(err) {
		return err
	}
	ns := s.apps.DefaultNamespace
	if err := s.authorize(ctx, auth.Attributes{Verb: "create", Resource: "apps", Namespace: ns, Name: name, Namespaced: true}); err != nil {
		return err
	}
	_, err := s.apps.Service.Create(ctx, ns, name)
	return err
}

// appConfig sets and unsets an app's config vars, making a release.
func (s *Server) appConfig(c *echo.Context) error {
	r := c.Request()
	ns, name := c.Param("namespace"), c.Param("name")
	if err := s.authorizeAppChange(r.Context(), ns, name); err != nil {
		return err
	}
	var req client.AppConfigRequest
	if err := decodeSmallJSON(c, "app config", &req); err != nil {
		return err
	}
	if len(req.Set) == 0 && len(req.Unset) == 0 {
		return fmt.Errorf("app config: nothing to set or unset: %w", errdefs.ErrBadRequest)
	}
	rel, err := s.apps.Service.SetConfig(r.Context(), ns, name, req.Set, req.Unset, callerName(r.Context()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, client.AppReleaseResponse{Release: rel})
}

// appRollback makes a release of an earlier one's image and config.
func (s *Server) appRollback(c *echo.Context) error {
	r := c.Request()
	ns, name := c.Param("namespace"), c.Param("name")
	if err := s.authorizeAppChange(r.Context(), ns, name); err != nil {
		return err
	}
	var req client.AppRollbackRequest
	if err := decodeSmallJSON(c, "app rollback", &req); err != nil {
		return err
	}
	rel, err := s.apps.Service.Rollback(r.Context(), ns, name, req.Release, callerName(r.Context()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, client.AppReleaseResponse{Release: rel})
}

// authorizeAppChange: config changes and rollbacks change the app and
// its config vars (a Secret), so they need update on both.
func (s *Server) authorizeAppChange(ctx context.Context, ns, name string) error {
	for _, a := range []auth.Attributes{
		{Verb: "update", Resource: "apps", Namespace: ns, Name: name, Namespaced: true},
		{Verb: "update", Resource: "secrets", Namespace: ns, Name: api.AppConfigSecretName(name), Namespaced: true},
	} {
		if err := s.authorize(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// callerName is the request's user name.
func callerName(ctx context.Context) string {
	if id, ok := auth.IdentityFrom(ctx); ok && id != nil {
		return id.Name
	}
	return ""
}

// buildLog streams a build's log; with follow=true it goes on until the
// build ends.
func (s *Server) buildLog(c *echo.Context) error {
	r := c.Request()
	ns, name := c.Param("namespace"), c.Param("name")
	infoFrom(r.Context()).audit = true
	if err := s.authorize(r.Context(), auth.Attributes{Verb: "get", Resource: "builds/log", Namespace: ns, Name: name, Namespaced: true}); err != nil {
		return err
	}
	for k := range r.URL.Query() {
		if k != "follow" {
			return fmt.Errorf("unknown query parameter %q for a build's log; known: follow: %w", k, errdefs.ErrBadRequest)
		}
	}
	follow := r.URL.Query().Get("follow") == "true"
	builds := client.For[*api.Build](s.backend, ns)
	b, err := builds.Get(r.Context(), name)
	if err != nil {
		return err
	}
	f, err := os.Open(s.apps.Service.LogPath(ns, name))
	if os.IsNotExist(err) {
		return fmt.Errorf("the log of build %s is not on this server (it ran on node %q): %w", name, b.Status.Node, errdefs.ErrNotFound)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w := c.Response()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for {
		if _, err := io.Copy(w, f); err != nil {
			return nil
		}
		rc.Flush()
		if !follow || b.Status.Phase != api.BuildRunning {
			if follow { // what was written between the last copy and the end
				io.Copy(w, f)
			}
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
		if b, err = builds.Get(r.Context(), name); err != nil {
			fmt.Fprintf(w, "\n(the build's state could not be read: %s)\n", strings.TrimSpace(err.Error()))
			return nil
		}
	}
}
