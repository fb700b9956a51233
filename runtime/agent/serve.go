package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/runtime/logs"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/client/execstream"
)

// Handler is the agent's HTTPS API, for the API server only (which
// authenticates people and proxies to it):
//
//	GET /containerLogs/{namespace}/{pod}/{container}   ?follow ?tailLines ?previous ?timestamps ?sinceSeconds ?sinceTime
//	GET /exec/{namespace}/{pod}/{container}            WebSocket, ?command=… (repeated) ?stdin ?tty
//
// Callers must present a client certificate of the cluster CA naming the
// API server; the TLS config (ServeTLSConfig in cmd/skiff) demands one,
// and Handler checks whose it is.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.serveLogs)
	mux.HandleFunc("GET /exec/{namespace}/{pod}/{container}", a.serveExec)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	for pattern, h := range a.cfg.Routes {
		mux.Handle(pattern, h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != api.UserAPIServer {
				writeStatus(w, http.StatusForbidden, "Forbidden", "the agent answers only the API server; use skiff logs or skiff exec")
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// writeStatus answers with an API Status, as the API server does, so the
// proxied answer reads the same to the CLI.
func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(api.Status{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   "Failure", Message: msg, Reason: reason, Code: code,
	})
}

// containerRuns finds the pod and the runs of one of its containers,
// newest first, or answers why not.
func (a *Agent) containerRuns(w http.ResponseWriter, r *http.Request) (*api.Pod, []container.Status, bool) {
	ns, name, cname := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	pod, ok := a.pods.Get(ns, name)
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("pod %s/%s is not on node %s", ns, name, a.cfg.NodeName))
		return nil, nil, false
	}
	init := false
	found := false
	for _, c := range pod.Spec.Containers {
		found = found || c.Name == cname
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == cname {
			found, init = true, true
		}
	}
	if !found {
		writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("container %q is not in pod %s/%s", cname, ns, name))
		return nil, nil, false
	}
	return pod, byName(a.cache.runs(pod.UID), init)[cname], true
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	pod, runs, ok := a.containerRuns(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	cname := r.PathValue("container")
	idx := 0
	if b, _ := strconv.ParseBool(q.Get("previous")); b {
		idx = 1
	}
	if len(runs) <= idx {
		msg := fmt.Sprintf("container %q in pod %s has not started yet", cname, pod.Name)
		if wr, ok := a.waitingFor(pod.UID, cname); ok {
			msg = fmt.Sprintf("container %q in pod %s is waiting to start: %s", cname, pod.Name, wr.reason)
		}
		if idx == 1 {
			msg = fmt.Sprintf("previous terminated container %q in pod %s not found", cname, pod.Name)
		}
		writeStatus(w, http.StatusBadRequest, "BadRequest", msg)
		return
	}
	opts := logs.ReadOptions{Tail: -1}
	opts.Follow, _ = strconv.ParseBool(q.Get("follow"))
	opts.Timestamps, _ = strconv.ParseBool(q.Get("timestamps"))
	if s := q.Get("tailLines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("tailLines %q must be a whole number of lines", s))
			return
		}
		opts.Tail = n
	}
	if s := q.Get("sinceSeconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("sinceSeconds %q must be a positive number", s))
			return
		}
		opts.Since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if s := q.Get("sinceTime"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("sinceTime %q must be an RFC 3339 time", s))
			return
		}
		opts.Since = t
	}
	run := runs[idx]
	// A run that has exited has nothing more to follow.
	if run.State != container.StateRunning {
		opts.Follow = false
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	if err := logs.Read(r.Context(), run.LogPath, opts, fw); err != nil && r.Context().Err() == nil && !fw.wrote {
		writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error())
	}
}

// flushWriter sends each write at once: a followed log is live.
type flushWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

func (a *Agent) serveExec(w http.ResponseWriter, r *http.Request) {
	pod, runs, ok := a.containerRuns(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	cmd := q["command"]
	if len(cmd) == 0 {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "exec needs a command")
		return
	}
	if len(runs) == 0 || runs[0].State != container.StateRunning {
		writeStatus(w, http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("container %q in pod %s is not running", r.PathValue("container"), pod.Name))
		return
	}
	id := runs[0].ID
	tty, _ := strconv.ParseBool(q.Get("tty"))
	stdin, _ := strconv.ParseBool(q.Get("stdin"))
	if !slices.Contains(websocketProtocols(r), execstream.Subprotocol) {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "exec is a WebSocket speaking "+execstream.Subprotocol)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{execstream.Subprotocol}})
	if err != nil {
		return // Accept has answered
	}
	a.log.Info("exec", "pod", pod.Namespace+"/"+pod.Name, "container", r.PathValue("container"), "command", cmd[0], "tty", tty)
	execstream.Serve(r.Context(), conn, stdin, func(ctx context.Context, s execstream.Streams) (int, error) {
		resize := make(chan container.TermSize, 1)
		go func() {
			defer close(resize)
			for {
				select {
				case <-ctx.Done():
					return
				case ts, ok := <-s.Resize:
					if !ok {
						return
					}
					select {
					case resize <- container.TermSize{Width: ts.Width, Height: ts.Height}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
		spec := container.ExecSpec{Command: cmd, TTY: tty, Stdout: s.Stdout, Stderr: s.Stderr, Resize: resize}
		if s.Stdin != nil {
			spec.Stdin = s.Stdin
		}
		code, err := a.cfg.Runtime.Exec(ctx, id, spec)
		switch {
		case err != nil && ctx.Err() != nil:
			return -1, fmt.Errorf("exec in %s/%s: the connection ended", pod.Name, r.PathValue("container"))
		case err != nil:
			return -1, fmt.Errorf("exec in %s/%s: %s", pod.Name, r.PathValue("container"), strings.ReplaceAll(err.Error(), id, "the container"))
		}
		return code, nil
	})
}

// websocketProtocols lists the subprotocols a WebSocket request offers.
func websocketProtocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			out = append(out, strings.TrimSpace(p))
		}
	}
	return out
}
