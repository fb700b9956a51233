package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/skiffhq/skiff/server/client/execstream"
)

// LogOptions choose what PodLogs streams.
type LogOptions struct {
	Container  string
	Follow     bool
	Previous   bool
	Timestamps bool
	// TailLines, when not nil, prints only the last lines (0: none).
	TailLines *int
	// SinceSeconds, when above 0, skips older lines.
	SinceSeconds int
}

// PodLogs streams a container's log; the answer's headers say which
// container the server chose when opts named none.
func (h *HTTP) PodLogs(ctx context.Context, namespace, pod string, opts LogOptions) (io.ReadCloser, http.Header, error) {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Previous {
		q.Set("previous", "true")
	}
	if opts.Timestamps {
		q.Set("timestamps", "true")
	}
	if opts.TailLines != nil {
		q.Set("tailLines", strconv.Itoa(*opts.TailLines))
	}
	if opts.SinceSeconds > 0 {
		q.Set("sinceSeconds", strconv.Itoa(opts.SinceSeconds))
	}
	resp, err := h.do(ctx, http.MethodGet, objectPath("pods", namespace, pod, "log"), q, nil, "")
	if err != nil {
		return nil, nil, err
	}
	return resp.Body, resp.Header, nil
}

// ExecOptions describe a command to run in a pod's container.
type ExecOptions struct {
	Container string
	Command   []string
	TTY       bool
	// Stdin, when not nil, is sent to the command; its end closes the
	// command's stdin.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Resize         <-chan execstream.TermSize
	// Connected, when set, is called once the command is about to run,
	// with the container the server chose if the request named none.
	Connected func(defaulted string)
}

// Exec runs a command in a pod's container over a WebSocket (through the
// API server to the node's agent) and returns its exit code, and the
// container the server chose when opts named none.
func (h *HTTP) Exec(ctx context.Context, namespace, pod string, opts ExecOptions) (code int, defaulted string, err error) {
	q := url.Values{"command": opts.Command}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	if opts.TTY {
		q.Set("tty", "true")
	}
	if opts.Stdin != nil {
		q.Set("stdin", "true")
	}
	u := *h.base
	u.Scheme = "wss"
	u.Path = objectPath("pods", namespace, pod, "exec")
	u.RawQuery = q.Encode()
	// WebSocket needs HTTP/1.1: a transport of its own, same trust.
	tlsConfig := h.tls.Clone()
	tlsConfig.NextProtos = []string{"http/1.1"}
	hc := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
	defer hc.CloseIdleConnections()
	hdr := http.Header{}
	token, err := h.bearer(ctx)
	if err != nil {
		return -1, "", err
	}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:   hc,
		HTTPHeader:   hdr,
		Subprotocols: []string{execstream.Subprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode >= 300 {
			defer resp.Body.Close()
			return -1, "", readError(resp)
		}
		return -1, "", fmt.Errorf("exec: %w", err)
	}
	defaulted = resp.Header.Get("Skiff-Defaulted-Container")
	if opts.Connected != nil {
		opts.Connected(defaulted)
	}
	code, err = execstream.Run(ctx, conn, opts.Stdin, opts.Stdout, opts.Stderr, opts.Resize)
	return code, defaulted, err
}
