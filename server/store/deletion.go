package store

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The values of api.DeleteOptions.PropagationPolicy, as Kubernetes has
// them. "" leaves the finalizers as they are (Background on a first
// delete).
const (
	policyBackground = "Background"
	policyForeground = "Foreground"
	policyOrphan     = "Orphan"
)

// checkPolicy checks a delete's propagation policy for kind k.
func checkPolicy(k api.Kind, policy string) error {
	switch policy {
	case "", policyBackground, policyForeground:
	case policyOrphan:
		if k.Kind == "Namespace" {
			return api.FieldErrors{api.Invalid("propagationPolicy", policy,
				"a namespace's objects are always deleted with it; use Background or Foreground")}
		}
	default:
		return api.FieldErrors{api.NotSupported("propagationPolicy", policy, policyBackground, policyForeground, policyOrphan)}
	}
	return nil
}

// setDeletionFinalizers gives obj, which a delete is about to remove or
// mark, the finalizers and state that delete asks for, and reports whether
// anything changed:
//
//   - Foreground: foregroundDeletion, and not orphan;
//   - Orphan: orphan, and not foregroundDeletion;
//   - Background: neither (a delete that names Background takes back an
//     earlier Foreground or Orphan, as in Kubernetes);
//   - "": the finalizers as they are.
//
// A namespace takes neither: on its first delete it gets
// api.FinalizerNamespace and status.phase Terminating, and the garbage
// collector deletes everything in it, whatever the policy (checkPolicy
// refuses Orphan).
func setDeletionFinalizers(obj api.Object, policy string) bool {
	m := obj.GetObjectMeta()
	if ns, ok := obj.(*api.Namespace); ok {
		changed := false
		if m.DeletionTimestamp == nil && !slices.Contains(m.Finalizers, api.FinalizerNamespace) {
			m.Finalizers = append(m.Finalizers, api.FinalizerNamespace)
			changed = true
		}
		if ns.Status.Phase != api.NamespaceTerminating {
			ns.Status.Phase = api.NamespaceTerminating
			changed = true
		}
		return changed
	}
	var want, drop string
	switch policy {
	case policyForeground:
		want, drop = api.FinalizerForeground, api.FinalizerOrphan
	case policyOrphan:
		want, drop = api.FinalizerOrphan, api.FinalizerForeground
	case policyBackground:
	default:
		return false
	}
	before := len(m.Finalizers)
	m.Finalizers = slices.DeleteFunc(m.Finalizers, func(f string) bool {
		return f == drop || (policy == policyBackground && (f == api.FinalizerForeground || f == api.FinalizerOrphan))
	})
	changed := len(m.Finalizers) != before
	if want != "" && !slices.Contains(m.Finalizers, want) {
		m.Finalizers = append(m.Finalizers, want)
		changed = true
	}
	if len(m.Finalizers) == 0 {
		m.Finalizers = nil
	}
	return changed
}

// namespaceClosed refuses a create in a namespace that is being deleted.
// The registry checks this too, with a better message for a namespace
// that does not exist; the check here is in the create's transaction, so
// no object slips into a namespace after its deletion began (the garbage
// collector would not see it and could release the namespace). A
// namespace that is not stored at all is the registry's to refuse: the
// store keeps objects of namespaces it was never told about.
func (t *txn) namespaceClosed(ns string) error {
	b := resourceBucket(t.tx, "namespaces")
	if b == nil {
		return nil
	}
	data := b.Get(objectKey("", ns))
	if data == nil {
		return nil
	}
	data, err := t.tf.plain("namespaces", objectKey("", ns), data)
	if err != nil {
		return err
	}
	var meta struct {
		Metadata struct {
			DeletionTimestamp *api.Time `json:"deletionTimestamp"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return fmt.Errorf("store: decode namespace %q: %w", ns, err)
	}
	if meta.Metadata.DeletionTimestamp != nil {
		return fmt.Errorf("namespace %q is being deleted: %w", ns, errdefs.ErrForbidden)
	}
	return nil
}
