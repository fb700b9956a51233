package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/skiffhq/skiff/server/build"
)

// The default bounds of an unpacked tree.
const (
	defaultMaxContextBytes = 1 << 30
	defaultMaxFiles        = 100_000
)

// maxTrailingBytes bounds what a request body may hold after its tar's
// end (tar pads to a record; more is refused).
const maxTrailingBytes = 1 << 20

// HandlerConfig is a builder node's side.
type HandlerConfig struct {
	// Builder returns the executor to run builds with (its Client is the
	// node's containerd; it may wait for it). The handler sets nothing on
	// it.
	Builder func(ctx context.Context) (*build.Builder, error)
	// Dir is where source trees are unpacked, one directory per build,
	// removed after it (e.g. <data-dir>/builds). It is created if missing.
	Dir string
	// MaxContextBytes bounds the unpacked tree (default 1 GiB) and
	// MaxFiles its entries (default 100,000) — the server checks the same
	// bounds; the node does not trust it.
	MaxContextBytes int64
	MaxFiles        int
	// Log receives a record per build; nil discards them.
	Log *slog.Logger
}

// handler serves POST /build.
type handler struct {
	cfg  HandlerConfig
	lim  limits
	log  *slog.Logger
	busy chan struct{} // holds a token while a build runs
}

// NewHandler returns the handler of POST /build (any path; the method must
// be POST).
func NewHandler(cfg HandlerConfig) (http.Handler, error) {
	switch {
	case cfg.Builder == nil:
		return nil, errors.New("remote: HandlerConfig.Builder is nil; give the function that returns the node's build executor")
	case cfg.Dir == "":
		return nil, errors.New("remote: HandlerConfig.Dir is empty; give the directory to unpack source trees in, e.g. <data-dir>/builds")
	case cfg.MaxContextBytes < 0:
		return nil, fmt.Errorf("remote: HandlerConfig.MaxContextBytes is %d; give a positive bound, or 0 for 1 GiB", cfg.MaxContextBytes)
	case cfg.MaxFiles < 0:
		return nil, fmt.Errorf("remote: HandlerConfig.MaxFiles is %d; give a positive bound, or 0 for 100,000", cfg.MaxFiles)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("remote: create the build directory: %w", err)
	}
	// No build runs before the handler exists: trees left in Dir are a
	// stopped agent's.
	left, err := filepath.Glob(filepath.Join(cfg.Dir, "build-*"))
	if err != nil {
		return nil, err
	}
	for _, d := range left {
		if err := os.RemoveAll(d); err != nil {
			return nil, fmt.Errorf("remote: remove the tree a stopped build left: %w", err)
		}
	}
	h := &handler{cfg: cfg, lim: limits{maxBytes: cfg.MaxContextBytes, maxFiles: cfg.MaxFiles}, log: cfg.Log, busy: make(chan struct{}, 1)}
	if h.lim.maxBytes == 0 {
		h.lim.maxBytes = defaultMaxContextBytes
	}
	if h.lim.maxFiles == 0 {
		h.lim.maxFiles = defaultMaxFiles
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, fmt.Sprintf("%s is not allowed: a build is started with POST", r.Method), http.StatusMethodNotAllowed)
		return
	}
	var req Request
	if err := decodeRequest(r.Header.Get(headerRequest), &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case h.busy <- struct{}{}:
		defer func() { <-h.busy }()
	default:
		http.Error(w, "the builder node is busy with another build; try again when it is done", http.StatusServiceUnavailable)
		return
	}
	ctx := r.Context()
	log := h.log.With("image", req.Image)
	dir, err := os.MkdirTemp(h.cfg.Dir, "build-")
	if err != nil {
		log.Error("create the build's directory", "err", err)
		http.Error(w, fmt.Sprintf("the builder node could not create a directory for the source tree: %v", err), http.StatusInternalServerError)
		return
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove the build's source tree", "dir", dir, "err", err)
		}
	}()
	started := time.Now()
	got, err := unpackTree(r.Body, dir, h.lim)
	if err == nil {
		err = drain(r.Body)
	}
	if err != nil {
		if ctx.Err() != nil {
			log.Info("the server went away while sending the source tree", "err", err)
			return
		}
		log.Info("refused a source tree", "err", err)
		code := http.StatusBadRequest
		if _, ok := errors.AsType[*limitError](err); ok {
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, oneLine(err.Error()), code)
		return
	}
	log.Info("build started", "files", got.files, "bytes", got.bytes, "received", time.Since(started))

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Trailer", trailerResult)
	w.WriteHeader(http.StatusOK)
	out := &streamWriter{w: w, rc: http.NewResponseController(w)}
	out.rc.Flush()
	res, err := h.build(ctx, dir, req, out)
	out.close()
	oc := outcome{Result: res}
	if err != nil {
		oc = outcome{Error: truncate(err.Error(), maxErrorLen), Reason: reasonOf(err)}
		log.Info("build failed", "err", err, "took", time.Since(started))
	} else {
		log.Info("build done", "result", res.Image, "steps", res.Steps, "cached", res.CachedSteps, "took", time.Since(started))
	}
	b, _ := json.Marshal(oc)
	w.Header().Set(trailerResult, string(b))
}

// build runs req on the node's executor.
func (h *handler) build(ctx context.Context, dir string, req Request, out io.Writer) (*Result, error) {
	b, err := h.cfg.Builder(ctx)
	if err != nil {
		err = &classified{fmt.Sprintf("the builder node's executor is not ready: %v", err), reasonUnavailable}
		fmt.Fprintf(out, "ERROR: %v\n", err)
		return nil, err
	}
	res, err := b.Build(ctx, build.Request{
		ContextDir: dir, Dockerfile: req.Dockerfile, Recipes: req.Recipes, BuildArgs: req.BuildArgs,
		Image: req.Image, Out: out,
		Timeout: time.Duration(req.TimeoutSeconds) * time.Second, Memory: req.MemoryBytes,
		PrivateImages: req.PrivateImages, ImageLabels: req.ImageLabels,
	})
	if err != nil {
		return nil, err
	}
	return &Result{Image: res.Image, Digest: res.Digest.String(), Kind: res.Kind, Processes: res.Processes,
		Port: res.Port, Steps: res.Steps, CachedSteps: res.CachedSteps, Arch: runtime.GOARCH}, nil
}

// classified is an error whose reason is known where it is made.
type classified struct{ msg, reason string }

func (e *classified) Error() string { return e.msg }

// reasonOf is the reason sent with a failed build's error: the node's
// own trouble (its containerd gone) is "unavailable"; anything else
// failed because of the app (its Dockerfile, a RUN step, the timeout or
// the memory limit) and is "invalid".
func reasonOf(err error) string {
	if c, ok := errors.AsType[*classified](err); ok {
		return c.reason
	}
	if cerrdefs.IsUnavailable(err) {
		return reasonUnavailable
	}
	return reasonInvalid
}

// decodeRequest reads the Skiff-Build header.
func decodeRequest(v string, req *Request) error {
	if v == "" {
		return fmt.Errorf("the %s header is missing; send the build's parameters as JSON in it", headerRequest)
	}
	if err := json.Unmarshal([]byte(v), req); err != nil {
		return fmt.Errorf("the %s header is not a build request: %v", headerRequest, err)
	}
	return req.validate()
}

// drain reads what follows the tar in the body, up to maxTrailingBytes:
// the body must be read to its end for the server to notice a client
// that goes away during the build (and cancel the request's context).
func drain(body io.Reader) error {
	n, err := io.Copy(io.Discard, io.LimitReader(body, maxTrailingBytes+1))
	if err != nil {
		return fmt.Errorf("read the source tree's tar: %w", err)
	}
	if n > maxTrailingBytes {
		return fmt.Errorf("the request body goes on for more than %d bytes after the end of its tar; send the tar alone", maxTrailingBytes)
	}
	return nil
}

// streamWriter writes the build log to the response, flushed after every
// write so that the server (and git push) sees each line as it comes.
// After close it drops writes: the response is the handler's to finish.
type streamWriter struct {
	mu     sync.Mutex
	w      io.Writer
	rc     *http.ResponseController
	closed bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return len(p), nil
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	return n, err
}

func (s *streamWriter) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// oneLine is msg's first line.
func oneLine(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	return msg
}

// truncate bounds msg to n bytes.
func truncate(msg string, n int) string {
	if len(msg) <= n {
		return msg
	}
	return msg[:n] + "…"
}
