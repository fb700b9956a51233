package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/client"
)

// requestInfo is what the audit log records of a request, filled in as it
// goes: the authenticator sets the identity, the authorizer the
// permission asked for and, when refused, why.
type requestInfo struct {
	id      *auth.Identity
	attrs   auth.Attributes
	reason  string
	allowed bool
	// audit forces an entry for a request the log would not keep (a
	// read): sign-ins, logs.
	audit bool
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, ri *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// infoFrom is the request's info; a throwaway one when none is attached
// (a handler called directly in a test).
func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// authorize decides whether the request's identity may do a (decide),
// and records the decision for the request's audit entry.
func (s *Server) authorize(ctx context.Context, a auth.Attributes) error {
	ri := infoFrom(ctx)
	ri.attrs = a
	id, _ := auth.IdentityFrom(ctx)
	if id == nil {
		ri.reason = "not authenticated"
		return fmt.Errorf("sign in first (skiff login): %w", errdefs.ErrUnauthorized)
	}
	if err := s.decide(ctx, id, a); err != nil {
		ri.reason = err.Error()
		return err
	}
	ri.allowed = true
	return nil
}

// allowed says whether the request's identity may do a, recording
// nothing: it asks what the caller could do, to word a refusal.
func (s *Server) allowed(ctx context.Context, a auth.Attributes) bool {
	id, _ := auth.IdentityFrom(ctx)
	return id != nil && s.decide(ctx, id, a) == nil
}

// decide is whether id may do a. Nodes are decided by nodeMay (and their
// writes by nodeMayWrite); everyone else by adminOnly, then the roles. A
// server without an authorizer (the foundation's single admin token)
// allows every other authenticated request.
func (s *Server) decide(ctx context.Context, id *auth.Identity, a auth.Attributes) error {
	if id.InGroup(auth.GroupNodes) {
		return s.nodeMay(ctx, id, a)
	}
	// Only what adminOnly refuses asks whether the caller is an admin
	// (the roles allow admins everything else on their own).
	if err := adminOnly(id, a); err != nil && !auth.IsAdmin(ctx, s.authz, id) {
		return err
	}
	if s.authz == nil {
		return nil
	}
	return s.authz.Authorize(ctx, id, a)
}

// adminOnly refuses, to all but full admins (auth.IsAdmin: skiff:admins,
// or the admin role everywhere) whatever their roles, what would make its
// holder an admin: any change to users, roles and role
// bindings (a role to write those is a role to grant oneself everything),
// the Secrets of skiff-system (join tokens, sessions, API tokens,
// password hashes: forging one is signing in as anyone), and any change
// in skiff-system (a pod there could mount them).
func adminOnly(id *auth.Identity, a auth.Attributes) error {
	base, _, _ := strings.Cut(a.Resource, "/")
	switch {
	case (base == "users" || base == "roles" || base == "rolebindings") && !readVerb(a.Verb):
		return fmt.Errorf("%s may not %s: users, roles and role bindings are changed by admins only (the admin role everywhere, or skiff:admins): %w", id.Name, a, errdefs.ErrForbidden)
	case a.Namespace == auth.JoinTokenNamespace && !readVerb(a.Verb) && base != "secrets":
		// A pod there could mount the credentials the rule below keeps
		// from its maker.
		return fmt.Errorf("%s may not %s: namespace %s is the system's, changed by admins only: %w", id.Name, a, auth.JoinTokenNamespace, errdefs.ErrForbidden)
	case base == "secrets" && (a.Namespace == auth.JoinTokenNamespace || a.Namespace == "" && a.Namespaced):
		if a.Namespace == "" {
			return fmt.Errorf("%s may not %s: Secrets across all namespaces include skiff-system's, which only admins read; name a namespace: %w", id.Name, a, errdefs.ErrForbidden)
		}
		return fmt.Errorf("%s may not %s: the Secrets of %s hold the cluster's credentials, for admins only: %w", id.Name, a, auth.JoinTokenNamespace, errdefs.ErrForbidden)
	}
	return nil
}

func readVerb(v string) bool { return v == "get" || v == "list" || v == "watch" }

// nodeReads are the non-object permissions a node has besides its
// objects: renewing its lease.
var nodeReads = map[string]bool{"nodes/status": true}

// nodeMay is what a node may do: read the object kinds its agent uses
// (not users, roles, bindings, or Secrets but its pods', see
// nodeMaySecret), write objects as nodeMayWrite allows (checked by each
// write), and renew its lease; none of the identity routes (passwords,
// invites, tokens, sessions, the audit log), nor pods' logs and exec.
func (s *Server) nodeMay(ctx context.Context, id *auth.Identity, a auth.Attributes) error {
	base, sub, _ := strings.Cut(a.Resource, "/")
	k, isKind := api.LookupResource(base)
	switch {
	case nodeReads[a.Resource]:
		return nil
	case !isKind || k.Resource != base || (sub != "" && sub != "status"):
		return fmt.Errorf("node %s may not %s: %w", id.NodeName(), a, errdefs.ErrForbidden)
	case base == "users" || base == "roles" || base == "rolebindings":
		return fmt.Errorf("node %s may not %s: nodes have no business with identities: %w", id.NodeName(), a, errdefs.ErrForbidden)
	case base == "secrets":
		return s.nodeMaySecret(ctx, id, a)
	}
	return nil
}

// objectVerb is the verb of a request on /api/v1 objects.
func objectVerb(method string, t target, watch bool) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case t.name != "":
			return "get"
		case watch:
			return "watch"
		}
		return "list"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return method
}

// objectAttributes is the permission a request on t needs.
func objectAttributes(method string, t target, watch bool) auth.Attributes {
	res := t.kind.Resource
	if t.subresource != "" {
		res += "/" + t.subresource
	}
	return auth.Attributes{Verb: objectVerb(method, t, watch), Resource: res, Namespace: t.namespace, Name: t.name, Namespaced: t.kind.Namespaced}
}

// nodeMaySecret narrows what a node reads of Secrets, as Kubernetes'
// Node authorizer does: only those a pod bound to it uses (by name; it
// may not list or watch them), and none of skiff-system's (join tokens,
// sessions, password hashes). Writing Secrets nodeMayWrite refuses.
func (s *Server) nodeMaySecret(ctx context.Context, id *auth.Identity, a auth.Attributes) error {
	node := id.NodeName()
	if a.Verb != "get" || a.Name == "" || a.Namespace == "" || a.Namespace == auth.JoinTokenNamespace {
		return fmt.Errorf("node %s may only get the Secrets its pods use, by name, not %s: %w", node, a, errdefs.ErrForbidden)
	}
	pods, err := client.ListAll(ctx, s.backend, "pods", a.Namespace, api.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return err
	}
	for _, o := range pods.Items {
		if slices.Contains(o.(*api.Pod).Spec.SecretNames(), a.Name) {
			return nil
		}
	}
	return fmt.Errorf("node %s may not get secret %s in namespace %s: no pod bound to it uses it: %w", node, a.Name, a.Namespace, errdefs.ErrForbidden)
}
