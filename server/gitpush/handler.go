package gitpush

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Config is what a Handler needs. Repos, Authenticate, Authorize and
// Receive are required.
type Config struct {
	// Repos holds the app repositories.
	Repos *Repos
	// Authenticate turns a request's HTTP Basic credentials into an
	// Identity. The password is the person's API token or session token;
	// the user name is whatever git sent and is ignored by convention (as
	// on GitHub). An error of class errdefs.ErrUnauthorized answers 401, so
	// that git asks for credentials again; any other class maps as usual.
	Authenticate func(r *http.Request, user, password string) (Identity, error)
	// Authorize decides whether id may fetch from (push false) or push to
	// and so deploy (push true) app. It is called before anything is
	// received: when git asks for the refs, and again when it sends the
	// pack. Return errdefs.ErrForbidden (wrapped, with a message saying
	// what is missing) to refuse; git prints the message.
	Authorize func(ctx context.Context, id Identity, app string, push bool) error
	// CreateApp is called when id pushes to an app that has no repository:
	// it returns nil if the app exists or it created it, and an error of
	// class errdefs.ErrForbidden if id may not create apps (the push is
	// answered 404 with how to create the app). Nil: no app is created by
	// a push.
	CreateApp func(ctx context.Context, id Identity, app string) error
	// Receive deploys a push to a deploy branch. It runs while git waits
	// with the refs not yet moved; what it writes to out reaches the
	// pusher's terminal as "remote:" lines as it is written (out is safe
	// for concurrent use). A nil error lets git move the refs; an error
	// refuses the push, git push exits non-zero and the error is shown.
	// ctx ends when the pusher goes away. Pushes to one app are handed
	// over one at a time.
	Receive func(ctx context.Context, p Push, out io.Writer) error
	// DeployBranches are the branches whose push deploys, in order of
	// preference when one push updates several; others are only stored.
	// Default: main, master.
	DeployBranches []string
	// Track, when set, is given each signed-in request's context and
	// returns one that ends when the identity's credentials do (a token
	// revoked, a user disabled), so that a push in progress stops; stop
	// is called when the request ends.
	Track func(ctx context.Context, id Identity) (tracked context.Context, stop func())
	// AppBranch, when set, names an app's own deploy branch ("" = the
	// DeployBranches).
	AppBranch func(ctx context.Context, app string) (string, error)
	// SocketPath is the unix socket hooks reach the Handler on. Default:
	// <Repos.Root>/.hook.sock.
	SocketPath string
	// PathPrefix is where the Handler is mounted; requests are
	// <PathPrefix>/<app>.git/... Default /git. A request whose path lacks
	// it (already stripped by http.StripPrefix) works too.
	PathPrefix string
	// MaxPushBytes, if positive, bounds the size of one push's pack
	// (git's receive.maxInputSize).
	MaxPushBytes int64
	// Log receives the Handler's logs. Default: slog.Default().
	Log *slog.Logger
}

// Validate reports what is missing from c.
func (c *Config) Validate() error {
	var missing []string
	if c.Repos == nil || c.Repos.Root == "" {
		missing = append(missing, "Repos (with a Root)")
	} else if len(c.Repos.HookCommand) == 0 {
		missing = append(missing, "Repos.HookCommand")
	}
	if c.Authenticate == nil {
		missing = append(missing, "Authenticate")
	}
	if c.Authorize == nil {
		missing = append(missing, "Authorize")
	}
	if c.Receive == nil {
		missing = append(missing, "Receive")
	}
	if len(missing) > 0 {
		return fmt.Errorf("gitpush config: missing %s: %w", strings.Join(missing, ", "), errdefs.ErrInvalid)
	}
	for _, b := range c.DeployBranches {
		if b == "" || strings.ContainsAny(b, " \t\n~^:?*[\\") {
			return fmt.Errorf("gitpush config: DeployBranches: %q is not a branch name: %w", b, errdefs.ErrInvalid)
		}
	}
	return nil
}

var _ http.Handler = (*Handler)(nil)

// Handler serves app repositories over git's smart HTTP protocol,
//
//	GET  <prefix>/<app>.git/info/refs?service=git-upload-pack|git-receive-pack
//	POST <prefix>/<app>.git/git-upload-pack
//	POST <prefix>/<app>.git/git-receive-pack
//
// by running `git http-backend`, and answers the repositories' pre-receive
// hooks on a unix socket. Make one with NewHandler and run Run.
type Handler struct {
	cfg Config
	log *slog.Logger
	ln  *net.UnixListener
	git string // absolute path of the git binary

	mu      sync.Mutex
	pending map[string]*pushState    // by token
	locks   map[string]chan struct{} // by app: one push handed to Receive at a time
}

// pushState is a receive-pack request in flight, found by its hook.
type pushState struct {
	ctx  context.Context
	app  string
	id   Identity
	repo string

	mu     sync.Mutex
	unlock func() // releases the app's lock once the request ends
}

// NewHandler checks cfg and listens on its hook socket (replacing a stale
// one). Run answers hooks; ServeHTTP may be called before Run starts, hooks
// then wait.
func NewHandler(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.DeployBranches) == 0 {
		cfg.DeployBranches = []string{"main", "master"}
	}
	if cfg.SocketPath == "" {
		cfg.SocketPath = filepath.Join(cfg.Repos.Root, ".hook.sock")
	}
	if cfg.PathPrefix == "" {
		cfg.PathPrefix = "/git"
	}
	cfg.PathPrefix = "/" + strings.Trim(cfg.PathPrefix, "/")
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	git, err := exec.LookPath(cfg.Repos.gitBin())
	if err != nil {
		return nil, fmt.Errorf("gitpush: the git binary serves pushes and was not found (%w); install git", err)
	}
	if git, err = filepath.Abs(git); err != nil {
		return nil, fmt.Errorf("gitpush: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.SocketPath), 0o700); err != nil {
		return nil, fmt.Errorf("git hook socket: %w", err)
	}
	if err := os.Remove(cfg.SocketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("git hook socket: remove stale %s: %w", cfg.SocketPath, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.SocketPath, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("git hook socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(cfg.SocketPath, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("git hook socket: %w", err)
	}
	return &Handler{
		git:     git,
		cfg:     cfg,
		log:     log.With("component", "gitpush"),
		ln:      ln,
		pending: map[string]*pushState{},
		locks:   map[string]chan struct{}{},
	}, nil
}

// Run answers pre-receive hooks until ctx ends, then closes the socket.
// Pushes whose hook runs after that are refused.
func (h *Handler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { h.ln.Close() })
	defer stop()
	defer h.ln.Close()
	for {
		conn, err := h.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("git hook socket: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			h.serveHook(conn)
		}()
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	app, rest, err := h.splitPath(r.URL.Path)
	if err != nil {
		h.refuse(w, r, "", http.StatusNotFound, "skiff: %v", err)
		return
	}
	service, method := rest, http.MethodPost
	if rest == "info/refs" {
		service, method = r.URL.Query().Get("service"), http.MethodGet
		if service != "git-upload-pack" && service != "git-receive-pack" {
			h.refuse(w, r, app, http.StatusForbidden, "skiff: only git's smart HTTP protocol is served; use git 1.6.6 or later")
			return
		}
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		h.refuse(w, r, app, http.StatusMethodNotAllowed, "skiff: %s %s: use %s", r.Method, r.URL.Path, method)
		return
	}
	push := service == "git-receive-pack"

	user, password, ok := r.BasicAuth()
	if !ok || password == "" {
		h.refuse(w, r, app, http.StatusUnauthorized, "skiff: sign in: give your API token as the password (any user name)")
		return
	}
	id, err := h.cfg.Authenticate(r, user, password)
	if err != nil {
		h.refuseErr(w, r, app, err, "skiff: sign-in failed: %v", err)
		return
	}
	ctx := r.Context()
	if h.cfg.Track != nil {
		var stop func()
		ctx, stop = h.cfg.Track(ctx, id)
		defer stop()
		r = r.WithContext(ctx)
	}
	if rf := h.admit(ctx, id, app, push); rf != nil {
		h.refuseWith(w, r, app, rf)
		return
	}

	env := append(h.gitEnv(id), "GIT_PROJECT_ROOT="+h.cfg.Repos.Root, "GIT_HTTP_EXPORT_ALL=1")
	// A push waits for its build; the API server's timeouts are for API
	// calls. Servers that cannot lift them answer ErrNotSupported: fine.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	if push && rest == "git-receive-pack" {
		hook, done := h.hookEnv(ctx, app, id)
		defer done()
		env = append(env, hook...)
	}
	h.runBackend(w, r, app, rest, env)
}

// runBackend runs git http-backend for the request.
func (h *Handler) runBackend(w http.ResponseWriter, r *http.Request, app, rest string, env []string) {
	// net/http/cgi refuses chunked bodies, which git sends for packs over
	// http.postBuffer; git http-backend reads to EOF when CONTENT_LENGTH
	// is unset, so hand the body over as one of unknown length.
	req := r.Clone(r.Context())
	req.Body = r.Body
	req.TransferEncoding = nil
	req.URL.Path = "/" + app + ".git/" + rest
	// Credentials stay here: git and its hooks get REMOTE_USER only.
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	backend := &cgi.Handler{
		Path:   h.git,
		Args:   []string{"http-backend"},
		Dir:    h.cfg.Repos.Root,
		Env:    env,
		Stderr: logWriter{h.log, app},
		Logger: slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
	backend.ServeHTTP(&flushWriter{w: w}, req)
}

// refusal is why a request is refused: the HTTP status of its class and
// the message for the person (over SSH, printed to their terminal).
type refusal struct {
	status int
	msg    string
}

// admit decides, before anything is received, whether id may fetch from
// (push false) or push to app, creating the app for a push to a missing
// one when Config.CreateApp allows, and readies the repository for a
// push. Both HTTP and SSH ask it; nil lets the request in.
func (h *Handler) admit(ctx context.Context, id Identity, app string, push bool) *refusal {
	exists, err := h.cfg.Repos.Exists(app)
	if err != nil {
		return h.refusalFor(app, err, "skiff: %v", err)
	}
	if !exists && push && h.cfg.CreateApp != nil {
		if err := h.cfg.CreateApp(ctx, id, app); err != nil && !errdefs.IsAlreadyExists(err) {
			if errdefs.IsForbidden(err) || errdefs.IsNotFound(err) {
				return &refusal{http.StatusNotFound, fmt.Sprintf("skiff: app %q does not exist, and a push may not create it: %v.\nAsk someone who may create apps to run: skiff apps create %s", app, err, app)}
			}
			return h.refusalFor(app, err, "skiff: create app %q: %v", app, err)
		}
		exists = true
	}
	if err := h.cfg.Authorize(ctx, id, app, push); err != nil {
		verb := "fetch from"
		if push {
			verb = "push to"
		}
		return h.refusalFor(app, err, "skiff: %s may not %s app %q: %v", id.Name, verb, app, err)
	}
	if !exists {
		return &refusal{http.StatusNotFound, fmt.Sprintf("skiff: app %q does not exist or has no repository yet.\nCreate it with: skiff apps create %s, then push to it", app, app)}
	}
	if push {
		// Rewrite the hook and settings on every push, so that an
		// upgraded server's HookCommand takes effect.
		if _, err := h.cfg.Repos.Ensure(ctx, app); err != nil {
			h.log.Error("prepare app repository", "app", app, "err", err)
			return h.refusalFor(app, err, "skiff: prepare the repository of app %q: %v", app, err)
		}
	}
	return nil
}

// gitEnv is the environment of the git that serves id's request (git
// http-backend, or git receive-pack and upload-pack over SSH): a clean
// configuration, the pusher's name, the push size limit. Credentials never
// reach git or its hooks.
func (h *Handler) gitEnv(id Identity) []string {
	env := []string{
		"REMOTE_USER=" + id.Name,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"HOME=/nonexistent",
	}
	if h.cfg.MaxPushBytes > 0 {
		env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=receive.maxInputSize", "GIT_CONFIG_VALUE_0="+strconv.FormatInt(h.cfg.MaxPushBytes, 10))
	}
	return env
}

// hookEnv registers a receive-pack request for its pre-receive hook to
// find and returns the environment that leads the hook to it; call done
// when git has ended. ctx is the Receive's: it ends when the pusher goes
// away.
func (h *Handler) hookEnv(ctx context.Context, app string, id Identity) (env []string, done func()) {
	token, st := h.register(ctx, app, id)
	return []string{EnvHookSocket + "=" + h.cfg.SocketPath, EnvPushToken + "=" + token}, func() { h.unregister(token, st) }
}

// splitPath splits <prefix>/<app>.git/<rest> into app and rest, for the
// three paths of the smart protocol.
func (h *Handler) splitPath(p string) (app, rest string, err error) {
	notRepo := fmt.Errorf("no repository at %s: app repositories are at %s/APP.git", p, h.cfg.PathPrefix)
	if s, cut := strings.CutPrefix(p, h.cfg.PathPrefix+"/"); cut {
		p = s
	} else {
		p = strings.TrimPrefix(p, "/")
	}
	repo, rest, _ := strings.Cut(p, "/")
	app, ok := strings.CutSuffix(repo, ".git")
	if !ok {
		return "", "", notRepo
	}
	if err := ValidateApp(app); err != nil {
		return "", "", err
	}
	switch rest {
	case "info/refs", "git-upload-pack", "git-receive-pack":
		return app, rest, nil
	}
	return "", "", fmt.Errorf("%s: not part of git's smart HTTP protocol, the only one served", p)
}

// register records a receive-pack request for its hook to find.
func (h *Handler) register(ctx context.Context, app string, id Identity) (string, *pushState) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	st := &pushState{ctx: ctx, app: app, id: id, repo: h.cfg.Repos.Path(app)}
	h.mu.Lock()
	h.pending[token] = st
	h.mu.Unlock()
	return token, st
}

// unregister forgets a finished request and releases its app's lock: git
// has moved (or not) the refs by now.
func (h *Handler) unregister(token string, st *pushState) {
	h.mu.Lock()
	delete(h.pending, token)
	h.mu.Unlock()
	st.mu.Lock()
	if st.unlock != nil {
		st.unlock()
		st.unlock = nil
	}
	st.mu.Unlock()
}

// lockApp takes app's push lock, waiting while another push holds it.
func (h *Handler) lockApp(ctx context.Context, app string, out io.Writer) (func(), error) {
	h.mu.Lock()
	l, ok := h.locks[app]
	if !ok {
		l = make(chan struct{}, 1)
		h.locks[app] = l
	}
	h.mu.Unlock()
	select {
	case l <- struct{}{}:
	default:
		fmt.Fprintf(out, "skiff: waiting for another push to app %s to finish...\n", app)
		select {
		case l <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var once sync.Once
	return func() { once.Do(func() { <-l }) }, nil
}

// refuse answers a request with status and a message git shows to the
// person: text/plain bodies of error answers are printed as "remote:" lines.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, app string, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelInfo
	if _, _, ok := r.BasicAuth(); !ok && status == http.StatusUnauthorized {
		level = slog.LevelDebug // git's first, anonymous, try
	}
	h.log.Log(r.Context(), level, "git request refused", "app", app, "method", r.Method, "path", r.URL.Path, "status", status, "reason", msg)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="skiff"`)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	io.WriteString(w, strings.TrimRight(msg, "\n")+"\n")
}

// refuseErr is refuse with the status of err's class.
func (h *Handler) refuseErr(w http.ResponseWriter, r *http.Request, app string, err error, format string, args ...any) {
	h.refuseWith(w, r, app, h.refusalFor(app, err, format, args...))
}

// refuseWith answers a request with a refusal.
func (h *Handler) refuseWith(w http.ResponseWriter, r *http.Request, app string, rf *refusal) {
	h.refuse(w, r, app, rf.status, "%s", rf.msg)
}

// refusalFor is the refusal of err's class; an internal error is logged
// and its details kept from the person.
func (h *Handler) refusalFor(app string, err error, format string, args ...any) *refusal {
	status := classStatus(err)
	if status == http.StatusInternalServerError {
		h.log.Error("git request failed", "app", app, "err", err)
		return &refusal{status, "skiff: internal error; the server's log has the details"}
	}
	return &refusal{status, fmt.Sprintf(format, args...)}
}

// classStatus maps an error class to the HTTP status git sees.
func classStatus(err error) int {
	switch {
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsForbidden(err):
		return http.StatusForbidden
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalid(err), errors.Is(err, errdefs.ErrBadRequest):
		return http.StatusBadRequest
	case errdefs.IsTooManyRequests(err):
		return http.StatusTooManyRequests
	case errdefs.IsUnavailable(err), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// flushWriter flushes after every write, so that git's progress and the
// hook's output reach the pusher as they come. Once the pusher has gone
// away it drops what it is given instead of failing: net/http/cgi would
// otherwise kill git http-backend and leave git receive-pack to die of
// SIGPIPE, which strands its quarantine directory; drained, receive-pack
// ends normally (refs untouched) and cleans up. It deliberately does not
// implement io.ReaderFrom, which would let io.Copy bypass Write.
type flushWriter struct {
	w    http.ResponseWriter
	gone bool
}

func (f *flushWriter) Header() http.Header  { return f.w.Header() }
func (f *flushWriter) WriteHeader(code int) { f.w.WriteHeader(code) }
func (f *flushWriter) Write(p []byte) (int, error) {
	if f.gone {
		return len(p), nil
	}
	_, err := f.w.Write(p)
	if err == nil {
		err = http.NewResponseController(f.w).Flush()
	}
	if err != nil {
		f.gone = true
	}
	return len(p), nil
}

// logWriter logs git http-backend's stderr.
type logWriter struct {
	log *slog.Logger
	app string
}

func (l logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			l.log.Warn("git http-backend", "app", l.app, "stderr", line)
		}
	}
	return len(p), nil
}

// hookTimeout bounds how long a hook may take to send its request.
const hookTimeout = 30 * time.Second
