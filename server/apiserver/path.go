package apiserver

import (
	"fmt"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// target is what an /api/v1/... path names.
type target struct {
	kind        api.Kind
	namespace   string // "" for cluster-scoped kinds, or a list across namespaces
	name        string // "" for a collection
	subresource string // "" or "status"
}

// parsePath reads the part of the path after /api/v1/:
//
//	namespaces                              the namespaces collection
//	namespaces/{name}[/status]              one namespace
//	namespaces/{ns}/{resource}              a namespaced collection
//	namespaces/{ns}/{resource}/{name}[/status]
//	{resource}                              cluster-scoped collection, or all namespaces
//	{resource}/{name}[/status]              a cluster-scoped object
func parsePath(p string) (target, error) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for _, s := range segs {
		if s == "" {
			return target{}, fmt.Errorf("path /api/v1/%s has an empty segment: %w", p, errdefs.ErrNotFound)
		}
	}
	var t target
	var resource string
	var rest []string
	switch {
	case segs[0] == "namespaces" && len(segs) >= 3 && !(len(segs) == 3 && segs[2] == "status"):
		t.namespace, resource, rest = segs[1], segs[2], segs[3:]
	default:
		resource, rest = segs[0], segs[1:]
	}
	k, ok := api.LookupResource(resource)
	if !ok || k.Resource != resource {
		return target{}, fmt.Errorf("the server has no resource %q: %w", resource, errdefs.ErrNotFound)
	}
	t.kind = k
	switch len(rest) {
	case 0:
	case 1:
		t.name = rest[0]
	case 2:
		t.name, t.subresource = rest[0], rest[1]
	default:
		return target{}, fmt.Errorf("path /api/v1/%s is too long: %w", p, errdefs.ErrNotFound)
	}
	if t.subresource != "" && (t.subresource != "status" || !k.HasStatus) {
		return target{}, fmt.Errorf("%s has no subresource %q: %w", k.Resource, t.subresource, errdefs.ErrNotFound)
	}
	if t.namespace != "" && !k.Namespaced {
		return target{}, fmt.Errorf("%s is not namespaced; use /api/v1/%s: %w", k.Resource, k.Resource, errdefs.ErrNotFound)
	}
	if t.namespace == "" && k.Namespaced && t.name != "" {
		return target{}, fmt.Errorf("%s is namespaced; use /api/v1/namespaces/{namespace}/%s/%s: %w", k.Resource, k.Resource, t.name, errdefs.ErrNotFound)
	}
	return t, nil
}
