package api

import (
	"bytes"
	"encoding/json"
	"time"
)

// TypeMeta names an object's kind and API version. It is embedded, untagged,
// in every type so that `apiVersion` and `kind` sit at the top of the JSON.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta for reading and writing.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// ObjectMeta is the metadata every stored object has. Fields follow
// Kubernetes' meta/v1 ObjectMeta.
type ObjectMeta struct {
	Name         string `json:"name,omitempty"`
	GenerateName string `json:"generateName,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	// UID is set by the store at creation and never changes.
	UID string `json:"uid,omitempty"`
	// ResourceVersion is the store revision of the object's last change, as
	// a decimal string. Send it back on update for optimistic concurrency.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Generation counts changes to the desired state (everything but
	// metadata and status). Set by the store.
	Generation        int64 `json:"generation,omitempty"`
	CreationTimestamp Time  `json:"creationTimestamp,omitzero"`
	// DeletionTimestamp is set when deletion was asked for but is waiting on
	// finalizers or a grace period.
	DeletionTimestamp          *Time             `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            []OwnerReference  `json:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
}

// GetObjectMeta returns the object's metadata for reading and writing. It
// is promoted to every kind, which is how they all satisfy Object.
func (m *ObjectMeta) GetObjectMeta() *ObjectMeta { return m }

// OwnerReference points at the object that owns this one; the garbage
// collector deletes dependents whose owners are gone.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// ListMeta is the metadata of a list: the revision it was read at and, for
// a paged list, the token for the next page.
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Continue        string `json:"continue,omitempty"`
}

// Time is a timestamp that encodes as RFC 3339 in UTC with second
// precision, and as null when zero.
type Time struct {
	time.Time
}

// Now returns the current time truncated to seconds, as stored.
func Now() Time { return Time{time.Now().UTC().Truncate(time.Second)} }

// NewTime wraps t.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Second)} }

// MarshalJSON encodes t as RFC 3339 or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON decodes RFC 3339 or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	t.Time = v.UTC().Truncate(time.Second)
	return nil
}
