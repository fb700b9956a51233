package apiserver

import (
	"context"
	"fmt"
	"net/http"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// nodeMayWrite is the rule for a node's writes (Kubernetes' Node
// authorizer and NodeRestriction, cut to what skiff's agent does): its
// own Node and its status; the status of pods bound to it, and deleting
// them; claims unbound or bound to it (the agent binds a claim a pod on
// it names); Events. Nothing else — so a node cannot rewrite another
// node's addresses or overlay keys (the WireGuard overlay trusts the
// Node annotations), another node's pods, or any workload. created is
// the name in a create's body. Reads stay open to nodes until roles
// (the identity issue) narrow them.
func (s *Server) nodeMayWrite(ctx context.Context, node, method string, t target, created string) error {
	name := t.name
	if method == http.MethodPost {
		name = created
	}
	deny := func(why string) error {
		return fmt.Errorf("node %q may not %s %s %q: %s: %w", node, verbOf(method, t.subresource), t.kind.Resource, name, why, errdefs.ErrForbidden)
	}
	switch t.kind.Resource {
	case "events":
		return nil
	case "nodes":
		if method == http.MethodDelete {
			return deny("a node does not delete Node objects")
		}
		if name != node {
			return deny("a node writes only its own Node")
		}
		return nil
	case "pods":
		if method == http.MethodPost {
			return deny("a node does not create pods")
		}
		if (method == http.MethodPut || method == http.MethodPatch) && t.subresource != "status" {
			return deny("a node writes only the status of pods")
		}
		obj, err := s.backend.Get(ctx, "pods", t.namespace, t.name)
		if err != nil {
			return err
		}
		if bound := obj.(*api.Pod).Spec.NodeName; bound != node {
			return deny(fmt.Sprintf("the pod is bound to %q", bound))
		}
		return nil
	case "persistentvolumeclaims":
		if method != http.MethodPut && method != http.MethodPatch {
			return deny("a node only binds claims")
		}
		obj, err := s.backend.Get(ctx, "persistentvolumeclaims", t.namespace, t.name)
		if err != nil {
			return err
		}
		if sel := obj.GetObjectMeta().Annotations[api.AnnotationSelectedNode]; sel != "" && sel != node {
			return deny(fmt.Sprintf("the claim is bound to node %q", sel))
		}
		return nil
	}
	return deny("nodes write only their Node, their pods' status, claims and events")
}

func verbOf(method, sub string) string {
	v := map[string]string{http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete"}[method]
	if sub != "" {
		v += " the " + sub + " of"
	}
	return v
}
