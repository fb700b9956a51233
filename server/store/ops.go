package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// Create stores a new object.
func (s *Bolt) Create(ctx context.Context, in api.Object) (api.Object, error) {
	k, err := api.KindOf(in)
	if err != nil {
		return nil, err
	}
	obj := api.Clone(in)
	api.SetTypeMeta(obj)
	m := obj.GetObjectMeta()
	if m.Name == "" && m.GenerateName == "" {
		return nil, api.FieldErrors{api.Required("metadata.name", "name or generateName is required")}
	}
	if k.Namespaced && m.Namespace == "" {
		return nil, api.FieldErrors{api.Required("metadata.namespace", "")}
	}
	if !k.Namespaced {
		m.Namespace = ""
	}
	if m.UID == "" { // the registry gives one before defaulting, which may use it
		m.UID = NewUID()
	}
	m.CreationTimestamp = api.Now()
	m.Generation = 1
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = nil, nil
	return s.do(ctx, func(t *txn) (api.Object, error) {
		if m.Name == "" {
			name, ok := generateName(m.GenerateName, func(n string) bool {
				return t.exists(k, api.Key{Resource: k.Resource, Namespace: m.Namespace, Name: n})
			})
			if !ok {
				return nil, fmt.Errorf("%s: no free name with prefix %q: %w", k.Kind, m.GenerateName, errdefs.ErrAlreadyExists)
			}
			m.Name = name
		}
		if t.exists(k, api.Key{Resource: k.Resource, Namespace: m.Namespace, Name: m.Name}) {
			return nil, fmt.Errorf("%s %q: %w", k.Kind, m.Name, errdefs.ErrAlreadyExists)
		}
		if k.Namespaced {
			if err := t.namespaceClosed(m.Namespace); err != nil {
				return nil, err
			}
		}
		return t.put(k, obj, nil)
	})
}

// Update replaces an object; see Updater.
func (s *Bolt) Update(ctx context.Context, in api.Object, opts UpdateOptions) (api.Object, error) {
	k, err := api.KindOf(in)
	if err != nil {
		return nil, err
	}
	status := false
	switch {
	case opts.Subresource == "status" && k.HasStatus:
		status = true
	case opts.Subresource != "":
		return nil, fmt.Errorf("%s has no subresource %q: %w", k.Kind, opts.Subresource, errdefs.ErrNotFound)
	}
	obj := api.Clone(in)
	api.SetTypeMeta(obj)
	nm := obj.GetObjectMeta()
	if !k.Namespaced {
		nm.Namespace = ""
	}
	key := api.Key{Resource: k.Resource, Namespace: nm.Namespace, Name: nm.Name}
	return s.do(ctx, func(t *txn) (api.Object, error) {
		old, oldData, err := t.get(k, key)
		if err != nil {
			return nil, err
		}
		om := old.GetObjectMeta()
		if nm.ResourceVersion != "" && nm.ResourceVersion != om.ResourceVersion {
			return nil, fmt.Errorf("%s %q: resourceVersion %s is not the latest (%s); read it again and retry: %w",
				k.Kind, nm.Name, nm.ResourceVersion, om.ResourceVersion, errdefs.ErrConflict)
		}
		if nm.UID != "" && nm.UID != om.UID {
			return nil, fmt.Errorf("%s %q: uid %s does not match the stored object's %s: %w", k.Kind, nm.Name, nm.UID, om.UID, errdefs.ErrConflict)
		}
		next := obj
		if status {
			// Only the status changes: start from the stored object.
			if next, err = decode(k, oldData); err != nil {
				return nil, err
			}
			api.CopyStatus(next, obj)
		} else {
			if k.HasStatus {
				api.CopyStatus(next, old)
			}
			m := next.GetObjectMeta()
			m.UID, m.CreationTimestamp = om.UID, om.CreationTimestamp
			m.DeletionTimestamp, m.DeletionGracePeriodSeconds = om.DeletionTimestamp, om.DeletionGracePeriodSeconds
			m.Generation = om.Generation
			if !sameDesiredState(next, old) {
				m.Generation++
			}
		}
		next.GetObjectMeta().ResourceVersion = om.ResourceVersion
		data, err := json.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("store: encode %s %q: %w", k.Kind, nm.Name, err)
		}
		if bytes.Equal(data, oldData) {
			return old, nil // no change: no write, no event
		}
		m := next.GetObjectMeta()
		if m.DeletionTimestamp != nil && len(m.Finalizers) == 0 && (m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds == 0) {
			if err := t.del(k, next); err != nil {
				return nil, err
			}
			return api.Clone(next), nil
		}
		return t.put(k, next, old)
	})
}

// Delete deletes an object; see Deleter. In one transaction it checks
// the preconditions, sets the finalizers the propagation policy asks for
// (setDeletionFinalizers), and then removes the object, or — when it has
// finalizers or a pod grace period — sets its deletionTimestamp. A delete
// of an object already being deleted writes only if it changes the
// finalizers or shortens the grace period.
func (s *Bolt) Delete(ctx context.Context, key api.Key, opts api.DeleteOptions) (api.Object, error) {
	k, ok := api.LookupResource(key.Resource)
	if !ok {
		return nil, fmt.Errorf("resource %q: %w", key.Resource, errdefs.ErrNotFound)
	}
	if err := checkPolicy(k, opts.PropagationPolicy); err != nil {
		return nil, err
	}
	now := time.Now()
	return s.do(ctx, func(t *txn) (api.Object, error) {
		old, oldData, err := t.get(k, key)
		if err != nil {
			return nil, err
		}
		om := old.GetObjectMeta()
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != om.UID {
				return nil, fmt.Errorf("%s %q: precondition failed: uid is %s, not %s: %w", k.Kind, key.Name, om.UID, *p.UID, errdefs.ErrConflict)
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != om.ResourceVersion {
				return nil, fmt.Errorf("%s %q: precondition failed: resourceVersion is %s, not %s: %w", k.Kind, key.Name, om.ResourceVersion, *p.ResourceVersion, errdefs.ErrConflict)
			}
		}
		next, err := decode(k, oldData)
		if err != nil {
			return nil, err
		}
		m := next.GetObjectMeta()
		changed := setDeletionFinalizers(next, opts.PropagationPolicy)
		grace := api.DeletionGrace(old, opts.GracePeriodSeconds)
		if len(m.Finalizers) == 0 && grace == 0 {
			if err := t.del(k, next); err != nil {
				return nil, err
			}
			return api.Clone(next), nil
		}
		sooner := m.DeletionTimestamp == nil || (m.DeletionGracePeriodSeconds != nil && grace < *m.DeletionGracePeriodSeconds)
		if !sooner && !changed {
			return old, nil // already being deleted, no sooner than asked, as asked
		}
		if sooner {
			ts := api.NewTime(now.Add(time.Duration(grace) * time.Second))
			m.DeletionTimestamp, m.DeletionGracePeriodSeconds = &ts, &grace
		}
		return t.put(k, next, old)
	})
}

// sameDesiredState reports whether a and b agree on everything but type,
// metadata and status: the part whose changes bump generation.
func sameDesiredState(a, b api.Object) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		ja, _ := json.Marshal(va.Field(i).Interface())
		jb, _ := json.Marshal(vb.Field(i).Interface())
		if !bytes.Equal(ja, jb) {
			return false
		}
	}
	return true
}

// NewUID returns a random (version 4) UUID.
func NewUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// generateName appends a random suffix to prefix, as Kubernetes does, and
// retries a few times if taken.
func generateName(prefix string, taken func(string) bool) (string, bool) {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	for try := 0; try < 8; try++ {
		var b [5]byte
		rand.Read(b[:])
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		name := prefix + string(b[:])
		if !taken(name) {
			return name, true
		}
	}
	return "", false
}
