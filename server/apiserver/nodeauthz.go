package apiserver

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"time"

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
func (s *Server) nodeMayWrite(ctx context.Context, node, method string, t target, obj api.Object) error {
	name := t.name
	if method == http.MethodPost && obj != nil {
		name = obj.GetObjectMeta().Name
	}
	deny := func(why string) error {
		return fmt.Errorf("node %q may not %s %s %q: %s: %w", node, verbOf(method, t.subresource), t.kind.Resource, name, why, errdefs.ErrForbidden)
	}
	if node == "" {
		return deny("its certificate names no node")
	}
	switch t.kind.Resource {
	case "events":
		return nil
	case "nodes":
		switch {
		case method == http.MethodDelete:
			return deny("a node does not delete Node objects")
		case name != node:
			return deny("a node writes only its own Node")
		case method == http.MethodPatch:
			return deny("a node updates its Node with PUT")
		case t.subresource == "status":
			return nil
		}
		return s.nodeMayChangeNode(ctx, t, obj, deny)
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
		if method != http.MethodPut {
			return deny("a node only binds claims (with PUT)")
		}
		cur, err := s.backend.Get(ctx, "persistentvolumeclaims", t.namespace, t.name)
		if err != nil {
			return err
		}
		old := cur.(*api.PersistentVolumeClaim)
		if sel := old.Annotations[api.AnnotationSelectedNode]; sel != "" && sel != node {
			return deny(fmt.Sprintf("the claim is bound to node %q", sel))
		}
		if t.subresource == "status" {
			return nil
		}
		// Binding is all: the selected-node annotation set to itself,
		// nothing else changed.
		next, ok := obj.(*api.PersistentVolumeClaim)
		if !ok {
			return deny("no claim in the request")
		}
		if sel := next.Annotations[api.AnnotationSelectedNode]; sel != node {
			return deny("a node binds a claim only to itself")
		}
		masked := func(c *api.PersistentVolumeClaim) api.PersistentVolumeClaim {
			m := *c
			m.Annotations = maps.Clone(c.Annotations)
			delete(m.Annotations, api.AnnotationSelectedNode)
			if len(m.Annotations) == 0 {
				m.Annotations = nil
			}
			m.ResourceVersion, m.Status = "", api.PersistentVolumeClaimStatus{}
			return m
		}
		if !reflect.DeepEqual(masked(old), masked(next)) {
			return deny("a node changes nothing of a claim but binding it to itself")
		}
		return nil
	case "apps":
		// The node's app router wakes an app scaled to zero and records
		// when it last had a request; nothing else of an App is a node's.
		if method != http.MethodPut || t.subresource != "status" {
			return deny("a node writes only an app's status (its router wakes idle apps)")
		}
		cur, err := s.backend.Get(ctx, "apps", t.namespace, t.name)
		if err != nil {
			return err
		}
		old := cur.(*api.App)
		next, ok := obj.(*api.App)
		if !ok {
			return deny("no app in the request")
		}
		switch {
		case next.ResourceVersion == "":
			return deny("a node's write of an app's status names the resourceVersion it read")
		case next.ResourceVersion != old.ResourceVersion:
			return nil // stale: the store refuses it as a conflict, and the node reads again
		case next.Status.Idle && !old.Status.Idle:
			return deny("a node wakes apps; it does not put them to sleep")
		}
		if lr := next.Status.LastRequest; !reflect.DeepEqual(lr, old.Status.LastRequest) {
			// Moving it back would put a busy app to sleep; far ahead,
			// keep an idle one awake.
			switch {
			case lr == nil:
				return deny("a node does not clear an app's last request")
			case old.Status.LastRequest != nil && lr.Before(old.Status.LastRequest.Time):
				return deny("an app's last request only moves forward")
			case lr.After(time.Now().Add(time.Minute)):
				return deny("an app's last request is not in the future")
			}
		}
		masked := func(s api.AppStatus) api.AppStatus {
			s.Idle, s.LastRequest = false, nil
			return s
		}
		if !reflect.DeepEqual(masked(old.Status), masked(next.Status)) {
			return deny("a node changes only an app's idle flag and last request")
		}
		return nil
	}
	return deny("nodes write only their Node, their pods' status, claims, apps' last requests and events")
}

// nodeLabels are the labels a node sets on itself; others (roles,
// zones the scheduler trusts) are an admin's.
func nodeLabel(k string) bool {
	switch k {
	case "kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch":
		return true
	}
	return strings.HasPrefix(k, "node.skiff.dev/")
}

// nodeMayChangeNode: a node's own Node, created or updated by it, keeps
// its spec as the server and admins set it (pod subnet, taints, cordon)
// and changes only its own labels; annotations (its overlay key and
// MAC) are its own.
func (s *Server) nodeMayChangeNode(ctx context.Context, t target, obj api.Object, deny func(string) error) error {
	n, ok := obj.(*api.Node)
	if !ok {
		return deny("no Node in the request")
	}
	var old *api.Node
	if t.name != "" {
		cur, err := s.backend.Get(ctx, "nodes", "", t.name)
		if err != nil {
			return err
		}
		old = cur.(*api.Node)
	}
	oldSpec, oldLabels := api.NodeSpec{}, map[string]string{}
	if old != nil {
		oldSpec, oldLabels = old.Spec, old.Labels
	}
	if !reflect.DeepEqual(n.Spec, oldSpec) {
		return deny("spec (pod subnet, taints, unschedulable) is the server's and admins'")
	}
	if h, ok := n.Labels["kubernetes.io/hostname"]; ok && h != n.Name {
		// Pods pinned to a node by this label (an app's, to the node
		// with its image) must not be drawn to another.
		return deny(fmt.Sprintf("label kubernetes.io/hostname is the node's own name %q, not %q", n.Name, h))
	}
	for k, v := range n.Labels {
		if ov, had := oldLabels[k]; (!had || ov != v) && !nodeLabel(k) {
			return deny(fmt.Sprintf("label %s is an admin's (a node sets kubernetes.io/hostname, os, arch and node.skiff.dev/*)", k))
		}
	}
	for k := range oldLabels {
		if _, kept := n.Labels[k]; !kept && !nodeLabel(k) {
			return deny(fmt.Sprintf("label %s is an admin's", k))
		}
	}
	return nil
}

func verbOf(method, sub string) string {
	v := map[string]string{http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete"}[method]
	if sub != "" {
		v += " the " + sub + " of"
	}
	return v
}
