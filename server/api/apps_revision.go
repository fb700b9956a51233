package api

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ControllerRevision is an immutable snapshot of a controller's pod
// template: StatefulSets and DaemonSets keep their rollout history in
// them, one per revision, named <owner>-<template hash>, controlled by
// the owner and labelled with its selector's labels and
// controller-revision-hash.
type ControllerRevision struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Data is the state the revision holds, a JSON object, kept as it
	// was given. StatefulSets and DaemonSets store
	// {"spec":{"template":<PodTemplateSpec>}}, the shape Kubernetes
	// stores (RevisionData, ControllerRevision.Template). It may not
	// change after creation.
	Data json.RawMessage `json:"data,omitempty"`
	// Revision orders the owner's revisions: the newest is the highest.
	// As in Kubernetes it may change: a controller that returns to an
	// old template (a rollback) gives that revision the next number.
	Revision int64 `json:"revision,omitempty"`
}

// revisionData is the shape of a workload revision's data.
type revisionData struct {
	Spec struct {
		Template *PodTemplateSpec `json:"template"`
	} `json:"spec"`
}

// RevisionData is the data of a revision of a workload with pod
// template t: {"spec":{"template":t}}.
func RevisionData(t *PodTemplateSpec) (json.RawMessage, error) {
	var d revisionData
	d.Spec.Template = t
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("revision data: %w", err)
	}
	return b, nil
}

// Template is the pod template r's data holds, or an error if the data
// holds none. Fields it does not know (such as Kubernetes'
// "$patch":"replace") are ignored.
func (r *ControllerRevision) Template() (*PodTemplateSpec, error) {
	var d revisionData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, fmt.Errorf("controller revision %s/%s: data: %w", r.Namespace, r.Name, err)
	}
	if d.Spec.Template == nil {
		return nil, fmt.Errorf("controller revision %s/%s: data has no spec.template", r.Namespace, r.Name)
	}
	return d.Spec.Template, nil
}

// validateControllerRevision requires data, a JSON object, and a
// revision that is not negative.
func validateControllerRevision(r *ControllerRevision) FieldErrors {
	var errs FieldErrors
	switch d := bytes.TrimSpace(r.Data); {
	case len(d) == 0:
		errs = append(errs, Required("data", "data is mandatory"))
	case d[0] != '{' || !json.Valid(d):
		errs = append(errs, Invalid("data", string(d), "must be a JSON object"))
	}
	return nonNegative(errs, "revision", r.Revision)
}

// validateControllerRevisionUpdate keeps the data, compared as JSON (a
// change of whitespace is no change).
func validateControllerRevisionUpdate(old, new *ControllerRevision) FieldErrors {
	if compactJSON(old.Data) != compactJSON(new.Data) {
		return FieldErrors{Invalid("data", "", immutableDetail)}
	}
	return nil
}

// compactJSON is b without insignificant space, or b as it is if it is
// not JSON.
func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}
