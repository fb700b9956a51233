package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// HTTP is a Backend that talks to the API server over HTTPS.
type HTTP struct {
	base  *url.URL
	token string
	tls   *tls.Config
	hc    *http.Client
	// cert is the client certificate new connections present (a node's,
	// renewed in place by SetClientCertificate); nil: none.
	cert atomic.Pointer[tls.Certificate]
	tr   *swappableTransport
	// session, for a config from `skiff login`, keeps the access token
	// fresh.
	session *sessionTokens
}

// sessionTokens is a signed-in person's access token and the refresh
// token that renews it.
type sessionTokens struct {
	mu      sync.Mutex
	access  string
	expires time.Time
	refresh string
	// saved is called with the new tokens after a refresh, to keep them
	// (the CLI rewrites its config file).
	saved func(TokenResponse)
}

// refreshMargin: an access token this close to expiry is renewed first.
const refreshMargin = 30 * time.Second

// OnRefresh sets what is done with the tokens a refresh brings (the CLI
// writes them to its config file).
func (h *HTTP) OnRefresh(f func(TokenResponse)) {
	if h.session != nil {
		h.session.mu.Lock()
		h.session.saved = f
		h.session.mu.Unlock()
	}
}

// bearer is the bearer token of the next request: the fixed token, or
// the session's access token, renewed first when it is about to expire.
func (h *HTTP) bearer(ctx context.Context) (string, error) {
	if h.session == nil {
		return h.token, nil
	}
	st := h.session
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.access != "" && time.Until(st.expires) > refreshMargin {
		return st.access, nil
	}
	t, err := h.Token(ctx, TokenGrant{GrantType: GrantRefreshToken, RefreshToken: st.refresh})
	if err != nil {
		if errdefs.IsUnauthorized(err) {
			return "", fmt.Errorf("your session has ended (%v): sign in again with `skiff login %s`: %w", err, h.base.String(), errdefs.ErrUnauthorized)
		}
		return "", fmt.Errorf("renew the session's access token: %w", err)
	}
	st.access, st.expires = t.AccessToken, t.ExpiresAt
	if t.RefreshToken != "" {
		st.refresh = t.RefreshToken
	}
	if st.saved != nil {
		st.saved(t)
	}
	return st.access, nil
}

var _ Backend = (*HTTP)(nil)

// New returns a Backend for the server in c. The server's certificate is
// checked against c's CA only — never the system roots.
func New(c Config) (*HTTP, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("client config: %w", err)
	}
	u, err := url.Parse(c.Server)
	if err != nil {
		return nil, fmt.Errorf("client config: server %q: %w", c.Server, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.CA)) {
		return nil, errors.New("client config: certificateAuthority holds no PEM certificate")
	}
	h := &HTTP{base: u, token: c.Token}
	if c.RefreshToken != "" {
		h.session = &sessionTokens{access: c.AccessToken, expires: c.AccessTokenExpires, refresh: c.RefreshToken}
	}
	tlsConfig := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if c.ClientCertificate != "" {
		pair, err := tls.X509KeyPair([]byte(c.ClientCertificate), []byte(c.ClientKey))
		if err != nil {
			return nil, fmt.Errorf("client config: clientCertificate/clientKey: %w", err)
		}
		h.cert.Store(&pair)
		// Read per handshake: a renewed certificate is used from the next
		// connection on; open ones (a watch) keep theirs.
		tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return h.cert.Load(), nil
		}
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsConfig,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	h.tr = &swappableTransport{}
	h.tr.cur.Store(tr)
	h.tls, h.hc = tlsConfig, &http.Client{Transport: h.tr}
	return h, nil
}

// SetClientCertificate makes pair the certificate of every request from
// now on (a client made with one): new requests go over new connections
// (an HTTP/2 connection is shared by all requests and would carry the
// old certificate for as long as a watch keeps it busy), while requests
// in progress — watches — run on over the old ones, undisturbed.
func (h *HTTP) SetClientCertificate(pair tls.Certificate) {
	h.cert.Store(&pair)
	old := h.tr.cur.Load()
	h.tr.cur.Store(old.Clone())
	old.CloseIdleConnections()
}

// swappableTransport sends each request through the transport current
// when it starts.
type swappableTransport struct {
	cur atomic.Pointer[http.Transport]
}

func (t *swappableTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.cur.Load().RoundTrip(r)
}

// Server is the server's URL and HTTPClient the client the requests go
// through (the cluster CA trusted, a node's certificate presented): what
// talks to the server's other endpoints, such as a node fetching apps'
// images from /v2/. Only certificate credentials ride on it; a token is
// added per request, by this client's own calls.
func (h *HTTP) Server() *url.URL { u := *h.base; return &u }

// HTTPClient: see Server.
func (h *HTTP) HTTPClient() *http.Client { return h.hc }

// CloseIdleConnections is http.Client's, for the current transport.
func (t *swappableTransport) CloseIdleConnections() { t.cur.Load().CloseIdleConnections() }

// path builds /api/v1/[namespaces/{ns}/]{resource}[/{name}[/{sub}]].
func objectPath(resource, namespace, name, sub string) string {
	p := "/api/v1/"
	if namespace != "" {
		p += "namespaces/" + url.PathEscape(namespace) + "/"
	}
	p += resource
	if name != "" {
		p += "/" + url.PathEscape(name)
		if sub != "" {
			p += "/" + sub
		}
	}
	return p
}

// do sends one request and returns the response if it is a success; an
// error answer becomes an error of its class.
func (h *HTTP) do(ctx context.Context, method, path string, query url.Values, body []byte, contentType string) (*http.Response, error) {
	u := *h.base
	u.Path = path
	u.RawQuery = query.Encode()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, err
	}
	token := h.token
	if h.session != nil && path != "/auth/v1/token" {
		if token, err = h.bearer(ctx); err != nil {
			return nil, err
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Host, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

// StatusError is an error answer from the server. It matches its errdefs
// class with errors.Is and, for 422, api.FieldErrors with errors.As.
type StatusError struct {
	Status api.Status
	class  error
	fields api.FieldErrors
}

func (e *StatusError) Error() string { return e.Status.Message }

// Unwrap gives the class and the field errors.
func (e *StatusError) Unwrap() []error {
	errs := []error{e.class}
	if len(e.fields) > 0 {
		errs = append(errs, e.fields)
	}
	return errs
}

// reasons is the reverse of the API server's table (docs/api.md).
var reasons = map[string]error{
	"BadRequest":            errdefs.ErrBadRequest,
	"Unauthorized":          errdefs.ErrUnauthorized,
	"Forbidden":             errdefs.ErrForbidden,
	"NotFound":              errdefs.ErrNotFound,
	"AlreadyExists":         errdefs.ErrAlreadyExists,
	"Conflict":              errdefs.ErrConflict,
	"Expired":               errdefs.ErrExpired,
	"RequestEntityTooLarge": errdefs.ErrTooLarge,
	"Invalid":               errdefs.ErrInvalid,
	"ServiceUnavailable":    errdefs.ErrUnavailable,
	"TooManyRequests":       errdefs.ErrTooManyRequests,
}

var codes = map[int]error{
	400: errdefs.ErrBadRequest, 401: errdefs.ErrUnauthorized, 403: errdefs.ErrForbidden,
	404: errdefs.ErrNotFound, 409: errdefs.ErrConflict, 410: errdefs.ErrExpired,
	413: errdefs.ErrTooLarge, 422: errdefs.ErrInvalid, 429: errdefs.ErrTooManyRequests, 503: errdefs.ErrUnavailable,
}

func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st api.Status
	if json.Unmarshal(data, &st) != nil || st.Kind != "Status" {
		st = api.Status{Code: resp.StatusCode, Message: fmt.Sprintf("the server answered %s: %s", resp.Status, bytes.TrimSpace(data))}
	}
	if st.Code == 0 {
		st.Code = resp.StatusCode
	}
	return statusError(st)
}

func statusError(st api.Status) *StatusError {
	e := &StatusError{Status: st, class: reasons[st.Reason]}
	if e.class == nil {
		e.class = codes[st.Code]
	}
	if e.class == nil {
		e.class = fmt.Errorf("server error %d %s", st.Code, st.Reason)
	}
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			e.fields = append(e.fields, fieldError(c))
		}
	}
	return e
}

// decodeObject decodes a server answer by its kind, falling back to the
// resource's kind. Not strict: a newer server may send fields this client
// does not know.
func decodeObject(data []byte, resource string) (api.Object, error) {
	var tm api.TypeMeta
	json.Unmarshal(data, &tm)
	k, ok := api.LookupKind(tm.Kind)
	if !ok {
		if k, ok = api.LookupResource(resource); !ok {
			return nil, fmt.Errorf("the server sent an object of unknown kind %q", tm.Kind)
		}
	}
	obj := k.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decode %s from the server: %w", k.Kind, err)
	}
	return obj, nil
}

func (h *HTTP) object(ctx context.Context, method, path string, query url.Values, body []byte, ct, resource string) (api.Object, error) {
	resp, err := h.do(ctx, method, path, query, body, ct)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	return decodeObject(data, resource)
}

// Create posts a new object.
func (h *HTTP) Create(ctx context.Context, resource, namespace string, obj api.Object) (api.Object, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return h.object(ctx, http.MethodPost, objectPath(resource, namespace, "", ""), nil, body, "application/json", resource)
}

// Get reads one object.
func (h *HTTP) Get(ctx context.Context, resource, namespace, name string) (api.Object, error) {
	return h.object(ctx, http.MethodGet, objectPath(resource, namespace, name, ""), nil, nil, "", resource)
}

func listQuery(opts api.ListOptions) url.Values {
	q := url.Values{}
	if opts.LabelSelector != "" {
		q.Set("labelSelector", opts.LabelSelector)
	}
	if opts.FieldSelector != "" {
		q.Set("fieldSelector", opts.FieldSelector)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.FormatInt(opts.Limit, 10))
	}
	if opts.Continue != "" {
		q.Set("continue", opts.Continue)
	}
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	return q
}

// List reads a page of objects.
func (h *HTTP) List(ctx context.Context, resource, namespace string, opts api.ListOptions) (*ObjectList, error) {
	resp, err := h.do(ctx, http.MethodGet, objectPath(resource, namespace, "", ""), listQuery(opts), nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var l api.List[json.RawMessage]
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, fmt.Errorf("decode %s list: %w", resource, err)
	}
	out := &ObjectList{ResourceVersion: l.ListMeta.ResourceVersion, Continue: l.ListMeta.Continue, Items: make([]api.Object, 0, len(l.Items))}
	for _, raw := range l.Items {
		obj, err := decodeObject(raw, resource)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, obj)
	}
	return out, nil
}

// Update replaces an object (or its status).
func (h *HTTP) Update(ctx context.Context, resource, namespace string, obj api.Object, subresource string) (api.Object, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	name := obj.GetObjectMeta().Name
	return h.object(ctx, http.MethodPut, objectPath(resource, namespace, name, subresource), nil, body, "application/json", resource)
}

// Patch sends a JSON merge patch.
func (h *HTTP) Patch(ctx context.Context, resource, namespace, name string, patch []byte, subresource string) (api.Object, error) {
	return h.object(ctx, http.MethodPatch, objectPath(resource, namespace, name, subresource), nil, patch, "application/merge-patch+json", resource)
}

// Delete deletes an object.
func (h *HTTP) Delete(ctx context.Context, resource, namespace, name string, opts api.DeleteOptions) (api.Object, error) {
	body, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	return h.object(ctx, http.MethodDelete, objectPath(resource, namespace, name, ""), nil, body, "application/json", resource)
}

// Version reads GET /version.
func (h *HTTP) Version(ctx context.Context) (map[string]string, error) {
	resp, err := h.do(ctx, http.MethodGet, "/version", nil, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	v := map[string]string{}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("decode version: %w", err)
	}
	return v, nil
}

// Watch opens a watch stream. A revision too old for the server's history
// fails here with errdefs.ErrExpired.
func (h *HTTP) Watch(ctx context.Context, resource, namespace string, opts api.ListOptions) (api.Watcher, error) {
	q := listQuery(opts)
	q.Set("watch", "true")
	q.Del("limit")
	q.Del("continue")
	ctx, cancel := context.WithCancel(ctx)
	resp, err := h.do(ctx, http.MethodGet, objectPath(resource, namespace, "", ""), q, nil, "")
	if err != nil {
		cancel()
		return nil, err
	}
	w := &httpWatch{ch: make(chan api.WatchEvent, 16), cancel: cancel}
	go w.read(ctx, resp.Body, resource)
	return w, nil
}

type httpWatch struct {
	ch     chan api.WatchEvent
	cancel context.CancelFunc
}

func (w *httpWatch) ResultChan() <-chan api.WatchEvent { return w.ch }
func (w *httpWatch) Stop()                             { w.cancel() }

func (w *httpWatch) read(ctx context.Context, body io.ReadCloser, resource string) {
	defer close(w.ch)
	defer body.Close()
	defer w.cancel()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		e, err := DecodeWatchEvent(sc.Bytes(), resource)
		if err != nil {
			e = api.WatchEvent{Type: api.Error, Err: err}
		}
		select {
		case w.ch <- e:
		case <-ctx.Done():
			return
		}
		if e.Type == api.Error {
			return
		}
	}
}

// DecodeWatchEvent decodes one line of a watch stream.
func DecodeWatchEvent(line []byte, resource string) (api.WatchEvent, error) {
	var raw struct {
		Type   api.EventType   `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return api.WatchEvent{}, fmt.Errorf("malformed watch event: %v: %w", err, errdefs.ErrBadRequest)
	}
	switch raw.Type {
	case api.Added, api.Modified, api.Deleted, api.Bookmark:
		obj, err := decodeObject(raw.Object, resource)
		if err != nil {
			return api.WatchEvent{}, err
		}
		return api.WatchEvent{Type: raw.Type, Object: obj}, nil
	case api.Error:
		var st api.Status
		if err := json.Unmarshal(raw.Object, &st); err != nil {
			return api.WatchEvent{}, fmt.Errorf("malformed watch error: %v: %w", err, errdefs.ErrBadRequest)
		}
		return api.WatchEvent{Type: api.Error, Err: statusError(st)}, nil
	}
	return api.WatchEvent{}, fmt.Errorf("watch event of unknown type %q: %w", raw.Type, errdefs.ErrBadRequest)
}

// fieldError rebuilds a FieldError from a Status cause, whose message is
// the error's text after "field: " (the reverse of api.FieldError.Error).
func fieldError(c api.StatusCause) *api.FieldError {
	fe := &api.FieldError{Type: api.FieldErrorType(c.Reason), Field: c.Field, Detail: c.Message}
	switch fe.Type {
	case api.FieldRequired:
		fe.Detail = strings.TrimPrefix(strings.TrimPrefix(c.Message, "required"), ": ")
	case api.FieldUnknown:
		fe.Detail = ""
	}
	return fe
}

// CloseIdleConnections closes the connections not in use, so that the
// next request makes a new one (with the current client certificate).
func (h *HTTP) CloseIdleConnections() { h.hc.CloseIdleConnections() }
