package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/registry"
)

// serveObjects dispatches every /api/v1/... request.
func (s *Server) serveObjects(c *echo.Context) error {
	t, err := parsePath(c.Param("*"))
	if err != nil {
		return err
	}
	r := c.Request()
	q := r.URL.Query()
	watch := q.Get("watch") == "true" || q.Get("watch") == "1"
	if err := s.authorize(r.Context(), objectAttributes(r.Method, t, watch)); err != nil {
		return err
	}
	if id, _ := auth.IdentityFrom(r.Context()); id != nil && id.InGroup(auth.GroupNodes) && (r.Method == http.MethodPatch || r.Method == http.MethodDelete) {
		if err := s.nodeMayWrite(r.Context(), id.NodeName(), r.Method, t, nil); err != nil {
			return err
		}
	}
	switch {
	case t.name == "" && r.Method == http.MethodGet:
		if watch {
			return s.watch(c, t)
		}
		return s.list(c, t)
	case t.name == "" && r.Method == http.MethodPost:
		return s.create(c, t)
	case t.name != "" && r.Method == http.MethodGet:
		if rg, ok := s.backend.(rawGetter); ok {
			data, ok, err := rg.GetRaw(r.Context(), t.kind.Resource, t.namespace, t.name)
			if ok {
				if err != nil {
					return err
				}
				w := c.Response()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_, err = w.Write(append(data, '\n'))
				return err
			}
		}
		obj, err := s.backend.Get(r.Context(), t.kind.Resource, t.namespace, t.name)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, obj)
	case t.name != "" && r.Method == http.MethodPut:
		return s.update(c, t)
	case t.name != "" && r.Method == http.MethodPatch:
		return s.patch(c, t)
	case t.name != "" && r.Method == http.MethodDelete:
		return s.delete(c, t)
	}
	return fmt.Errorf("%s is not allowed on %s: %w", r.Method, r.URL.Path, echo.ErrMethodNotAllowed)
}

// rawGetter is a backend that can answer a GET with the stored JSON as is
// (the registry over the bbolt store); the answer is the same object a
// decode and re-encode would give, for less work.
type rawGetter interface {
	GetRaw(ctx context.Context, resource, namespace, name string) ([]byte, bool, error)
}

// writeJSON answers with v encoded as JSON.
func writeJSON(c *echo.Context, code int, v any) error {
	w := c.Response()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

// readBody reads a request body of at most s.maxBody bytes.
func (s *Server) readBody(c *echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > s.maxBody {
		return nil, fmt.Errorf("request body of %d bytes is over the limit of %d: %w", r.ContentLength, s.maxBody, errdefs.ErrTooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("request body is over the limit of %d bytes: %w", s.maxBody, errdefs.ErrTooLarge)
	}
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", errdefs.ErrBadRequest)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("the request has no body; send a %s as JSON: %w", "object", errdefs.ErrBadRequest)
	}
	return body, nil
}

// decodeBody strictly decodes an object of t's kind from the body.
func (s *Server) decodeBody(c *echo.Context, t target) (api.Object, error) {
	body, err := s.readBody(c)
	if err != nil {
		return nil, err
	}
	obj := t.kind.New()
	if err := api.DecodeInto(body, obj); err != nil {
		// With only unknown fields, report the object's other problems
		// in the same answer.
		var unknown api.FieldErrors
		if !errors.As(err, &unknown) || !api.UnknownOnly(unknown) {
			return nil, err
		}
		check := api.Clone(obj)
		if m := check.GetObjectMeta(); t.kind.Namespaced && m.Namespace == "" {
			m.Namespace = t.namespace
		}
		api.Default(check)
		if t.name == "" || t.subresource == "" {
			unknown = append(unknown, api.Validate(check)...)
		}
		return nil, &registry.InvalidError{Kind: t.kind.Kind, Name: obj.GetObjectMeta().Name, Errs: unknown}
	}
	tm := obj.GetTypeMeta()
	if tm.Kind != "" && tm.Kind != t.kind.Kind {
		return nil, fmt.Errorf("the body is a %s but the path is for %s: %w", tm.Kind, t.kind.Resource, errdefs.ErrBadRequest)
	}
	if tm.APIVersion != "" && tm.APIVersion != t.kind.APIVersion {
		return nil, api.FieldErrors{api.Invalid("apiVersion", tm.APIVersion, t.kind.Kind+" is "+t.kind.APIVersion)}
	}
	api.SetTypeMeta(obj)
	return obj, nil
}

func listOptions(c *echo.Context) (api.ListOptions, error) {
	q := c.Request().URL.Query()
	opts := api.ListOptions{
		LabelSelector:   q.Get("labelSelector"),
		FieldSelector:   q.Get("fieldSelector"),
		Continue:        q.Get("continue"),
		ResourceVersion: q.Get("resourceVersion"),
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return opts, fmt.Errorf("limit %q is not a non-negative integer: %w", l, errdefs.ErrBadRequest)
		}
		opts.Limit = n
	}
	return opts, nil
}

func (s *Server) list(c *echo.Context, t target) error {
	opts, err := listOptions(c)
	if err != nil {
		return err
	}
	res, err := s.backend.List(c.Request().Context(), t.kind.Resource, t.namespace, opts)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, api.List[api.Object]{
		TypeMeta: api.TypeMeta{APIVersion: t.kind.APIVersion, Kind: t.kind.Kind + "List"},
		ListMeta: api.ListMeta{ResourceVersion: res.ResourceVersion, Continue: res.Continue},
		Items:    res.Items,
	})
}

func (s *Server) create(c *echo.Context, t target) error {
	obj, err := s.decodeBody(c, t)
	if err != nil {
		return err
	}
	if id, _ := auth.IdentityFrom(c.Request().Context()); id != nil && id.InGroup(auth.GroupNodes) {
		if err := s.nodeMayWrite(c.Request().Context(), id.NodeName(), http.MethodPost, t, obj); err != nil {
			return err
		}
	}
	out, err := s.backend.Create(c.Request().Context(), t.kind.Resource, t.namespace, obj)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, out)
}

func (s *Server) update(c *echo.Context, t target) error {
	obj, err := s.decodeBody(c, t)
	if err != nil {
		return err
	}
	if name := obj.GetObjectMeta().Name; name != t.name {
		return api.FieldErrors{api.Invalid("metadata.name", name, fmt.Sprintf("must match the name in the path (%q)", t.name))}
	}
	if id, _ := auth.IdentityFrom(c.Request().Context()); id != nil && id.InGroup(auth.GroupNodes) {
		if err := s.nodeMayWrite(c.Request().Context(), id.NodeName(), http.MethodPut, t, obj); err != nil {
			return err
		}
	}
	out, err := s.backend.Update(c.Request().Context(), t.kind.Resource, t.namespace, obj, t.subresource)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) patch(c *echo.Context, t target) error {
	ct, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if ct != "application/merge-patch+json" && ct != "application/json" {
		return fmt.Errorf("PATCH needs Content-Type application/merge-patch+json, not %q: %w", ct, echo.ErrUnsupportedMediaType)
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	out, err := s.backend.Patch(c.Request().Context(), t.kind.Resource, t.namespace, t.name, body, t.subresource)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) delete(c *echo.Context, t target) error {
	if t.subresource != "" {
		return fmt.Errorf("DELETE of a subresource: %w", echo.ErrMethodNotAllowed)
	}
	var opts api.DeleteOptions
	r := c.Request()
	if r.ContentLength != 0 && r.Body != nil {
		body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.maxBody))
		if err != nil {
			return fmt.Errorf("read delete options: %w", errdefs.ErrBadRequest)
		}
		if len(body) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&opts); err != nil {
				return fmt.Errorf("delete options: %v: %w", err, errdefs.ErrBadRequest)
			}
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return fmt.Errorf("gracePeriodSeconds %q is not an integer: %w", g, errdefs.ErrBadRequest)
		}
		opts.GracePeriodSeconds = &n
	}
	if p := q.Get("propagationPolicy"); p != "" {
		opts.PropagationPolicy = p
	}
	out, err := s.backend.Delete(r.Context(), t.kind.Resource, t.namespace, t.name, opts)
	if err != nil {
		return err
	}
	if t.kind.Resource == "nodes" {
		// A node deleted from the cluster is done: its certificate opens
		// nothing more (it joins again with a token if it comes back).
		if err := s.nodeCerts.drop(r.Context(), t.name); err != nil {
			s.log.Warn("cannot drop a deleted node's certificate record", "node", t.name, "err", err)
		}
	}
	return writeJSON(c, http.StatusOK, out)
}
