package auth

import (
	"context"
	"fmt"
	"strings"
)

// Attributes are what a request does, in the terms roles speak: a verb on
// a resource (or subresource) in a namespace, by name.
type Attributes struct {
	// Verb: get, list, watch, create, update, patch, delete; push for git
	// push to an app.
	Verb string
	// Resource is the plural resource ("deployments"), with a
	// subresource after a slash ("pods/log", "pods/exec", "pods/status"),
	// or a pseudo-resource of a non-object API ("audit", "apitokens").
	Resource string
	// Namespace is the object's namespace; "" for a cluster-scoped
	// resource or a list across all namespaces.
	Namespace string
	// Name is the object's name; "" for a collection.
	Name string
	// Namespaced says whether Resource is namespaced (a namespaced list
	// with Namespace "" is across all namespaces).
	Namespaced bool
}

// String names the permission, as a denial states it: "delete
// deployments/web in namespace prod".
func (a Attributes) String() string {
	var b strings.Builder
	b.WriteString(a.Verb)
	b.WriteByte(' ')
	b.WriteString(a.Resource)
	if a.Name != "" {
		b.WriteByte(' ')
		b.WriteString(a.Name)
	}
	switch {
	case a.Namespace != "":
		fmt.Fprintf(&b, " in namespace %s", a.Namespace)
	case a.Namespaced:
		b.WriteString(" in all namespaces")
	}
	return b.String()
}

// Authorizer decides whether an identity may do something. It returns
// nil when allowed, and an error wrapping errdefs.ErrForbidden that names
// the missing permission when not.
type Authorizer interface {
	Authorize(ctx context.Context, id *Identity, a Attributes) error
}

// AuthorizerFunc is a function as an Authorizer.
type AuthorizerFunc func(ctx context.Context, id *Identity, a Attributes) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, id *Identity, a Attributes) error {
	return f(ctx, id, a)
}

// Everything is the permission only a full admin holds: every verb on
// every resource, everywhere (a role rule of "*" × "*" bound without
// namespaces). Asking an Authorizer for it tells admins from the rest.
var Everything = Attributes{Verb: "*", Resource: "*"}

// IsAdmin says whether id is a full admin: in skiff:admins (an API
// token of theirs not narrowed by a scope), or allowed Everything by az
// (nil: the group alone counts).
func IsAdmin(ctx context.Context, az Authorizer, id *Identity) bool {
	if id == nil {
		return false
	}
	if id.InGroup(GroupAdmins) && id.Scope == nil {
		return true
	}
	if d, ok := az.(Decider); ok {
		return d.Allowed(ctx, id, Everything)
	}
	return az != nil && az.Authorize(ctx, id, Everything) == nil
}

// Decider is an Authorizer that can answer yes or no without explaining
// a refusal, for checks that are often no (IsAdmin).
type Decider interface {
	Allowed(ctx context.Context, id *Identity, a Attributes) bool
}
