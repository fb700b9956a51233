package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Build sends the tree under contextDir and req to the builder at url (e.g.
// https://10.0.0.5:10250/build) through hc (nil: http.DefaultClient),
// writes the build's output to out as it comes, and returns the result, or
// the build's error: its message as the builder said it (e.g. "line 2:
// VOLUME: …"), of class errdefs.ErrInvalid when the build failed (its
// Dockerfile, a RUN step, the timeout, the memory limit, a tree over the
// node's bounds) and errdefs.ErrUnavailable when the builder node is busy,
// not ready, could not be reached or takes no builds — only before the
// build started there, so that a caller may build elsewhere instead. The
// tree is streamed, never held in memory; out may be nil.
func Build(ctx context.Context, hc *http.Client, url, contextDir string, req Request, out io.Writer) (Result, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	if out == nil {
		out = io.Discard
	}
	hdr, err := json.Marshal(req)
	if err != nil {
		return Result{}, fmt.Errorf("remote build: encode the request: %w", err)
	}
	pr, pw := io.Pipe()
	defer pr.Close()
	sent := make(chan error, 1)
	go func() {
		err := tarTree(pw, contextDir)
		pw.CloseWithError(err)
		sent <- err
	}()
	// The tree's error, once the sending has stopped (pr closed).
	treeErr := func() error {
		pr.CloseWithError(errors.New("the request ended"))
		if err, ok := errors.AsType[*sourceError](<-sent); ok {
			return fmt.Errorf("remote build: read the source tree %s: %w", contextDir, err)
		}
		return nil
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	if err != nil {
		treeErr()
		return Result{}, fmt.Errorf("remote build: builder URL %q: %w", url, err)
	}
	hreq.Header.Set(headerRequest, string(hdr))
	hreq.Header.Set("Content-Type", "application/x-tar")
	resp, err := hc.Do(hreq)
	if err != nil {
		if terr := treeErr(); terr != nil {
			return Result{}, terr
		}
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("remote build on %s: %w", url, context.Cause(ctx))
		}
		return Result{}, unreachable(url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		treeErr()
		return Result{}, statusError(url, resp)
	}
	w := &keepGoing{w: out}
	_, err = io.Copy(w, resp.Body)
	if terr := treeErr(); terr != nil {
		return Result{}, terr
	}
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("remote build on %s: %w", url, context.Cause(ctx))
		}
		// Not ErrUnavailable: the build may still run there, and the
		// server must not start a second one.
		return Result{}, &buildError{fmt.Sprintf("the builder node at %s stopped answering during the build: %v", url, err), nil}
	}
	v := resp.Trailer.Get(trailerResult)
	if v == "" {
		return Result{}, &buildError{fmt.Sprintf("the builder node at %s ended the build without its result; see the build log", url), nil}
	}
	var oc outcome
	if err := json.Unmarshal([]byte(v), &oc); err != nil {
		return Result{}, fmt.Errorf("the builder node at %s sent a %s trailer that is not a build outcome: %v", url, trailerResult, err)
	}
	if oc.Error != "" {
		return Result{}, &buildError{oc.Error, reasonClass(oc.Reason)}
	}
	if oc.Result == nil {
		return Result{}, fmt.Errorf("the builder node at %s sent a %s trailer with neither a result nor an error", url, trailerResult)
	}
	return *oc.Result, nil
}

// buildError is the builder's message with an errdefs class (nil: none).
type buildError struct {
	msg   string
	class error
}

func (e *buildError) Error() string { return e.msg }
func (e *buildError) Unwrap() error { return e.class }

// reasonClass is the errdefs class of an outcome's reason.
func reasonClass(reason string) error {
	switch reason {
	case reasonInvalid:
		return errdefs.ErrInvalid
	case reasonUnavailable:
		return errdefs.ErrUnavailable
	}
	return nil
}

// unreachable is a transport failure.
func unreachable(url string, err error) error {
	return &buildError{fmt.Sprintf("the builder node could not be reached at %s: %v; check that the node is up and its agent running", url, err), errdefs.ErrUnavailable}
}

// statusError turns a refusal before the build into an error with the
// builder's one-line message.
func statusError(url string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	msg := strings.TrimSpace(oneLine(string(b)))
	if msg == "" {
		msg = resp.Status
	}
	var class error
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		class = errdefs.ErrInvalid
	case http.StatusServiceUnavailable:
		class = errdefs.ErrUnavailable
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		// An agent without POST /build (an older skiff): it cannot build.
		msg = fmt.Sprintf("the builder node at %s does not take builds (%s; is its skiff older than the server's?)", url, resp.Status)
		class = errdefs.ErrUnavailable
	default:
		msg = fmt.Sprintf("the builder node at %s answered %s: %s", url, resp.Status, msg)
	}
	return &buildError{msg, class}
}

// keepGoing writes to w until it fails, then discards: the build's
// outcome still comes after a log nobody reads any more.
type keepGoing struct {
	w      io.Writer
	failed bool
}

func (k *keepGoing) Write(p []byte) (int, error) {
	if !k.failed {
		if _, err := k.w.Write(p); err != nil {
			k.failed = true
		}
	}
	return len(p), nil
}
