package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// JSON merge patch (RFC 7386) on raw JSON documents.

func unmarshalGeneric(data []byte, what string) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s is not JSON: %v: %w", what, err, errdefs.ErrBadRequest)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s has data after the document: %w", what, errdefs.ErrBadRequest)
	}
	return v, nil
}

// MergePatch applies patch to original.
func MergePatch(original, patch []byte) ([]byte, error) {
	o, err := unmarshalGeneric(original, "the document")
	if err != nil {
		return nil, err
	}
	p, err := unmarshalGeneric(patch, "the patch")
	if err != nil {
		return nil, err
	}
	return json.Marshal(applyMerge(o, p))
}

func applyMerge(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
		} else {
			tm[k] = applyMerge(tm[k], v)
		}
	}
	return tm
}

// CreateMergePatch returns the patch that turns original into modified.
func CreateMergePatch(original, modified []byte) ([]byte, error) {
	o, err := unmarshalGeneric(original, "the original")
	if err != nil {
		return nil, err
	}
	m, err := unmarshalGeneric(modified, "the modified document")
	if err != nil {
		return nil, err
	}
	om, ook := o.(map[string]any)
	mm, mok := m.(map[string]any)
	if !ook || !mok {
		return json.Marshal(m)
	}
	return json.Marshal(diffMaps(om, mm, om))
}

// diffMaps sets what differs between cur and mod, and deletes (null) what
// was in last but is gone from mod.
func diffMaps(last, mod, cur map[string]any) map[string]any {
	patch := map[string]any{}
	for k, mv := range mod {
		cv, has := cur[k]
		if has && reflect.DeepEqual(cv, mv) {
			continue
		}
		mvm, mIsMap := mv.(map[string]any)
		cvm, cIsMap := cv.(map[string]any)
		if mIsMap && cIsMap {
			lvm, _ := last[k].(map[string]any)
			if sub := diffMaps(lvm, mvm, cvm); len(sub) > 0 {
				patch[k] = sub
			}
			continue
		}
		patch[k] = mv
	}
	for k := range last {
		if _, kept := mod[k]; kept {
			continue
		}
		if _, has := cur[k]; has {
			patch[k] = nil
		}
	}
	return patch
}

// CreateThreeWayMergePatch returns the patch `skiff apply` sends: every
// field of modified that differs from current, and a deletion of every
// field that lastApplied had and modified no longer has. Fields only
// current has (set by the server or other writers) are left alone.
// lastApplied may be empty (first apply through skiff).
func CreateThreeWayMergePatch(lastApplied, modified, current []byte) ([]byte, error) {
	var l any = map[string]any{}
	if len(bytes.TrimSpace(lastApplied)) > 0 {
		var err error
		if l, err = unmarshalGeneric(lastApplied, "the last-applied configuration"); err != nil {
			return nil, err
		}
	}
	m, err := unmarshalGeneric(modified, "the manifest")
	if err != nil {
		return nil, err
	}
	c, err := unmarshalGeneric(current, "the live object")
	if err != nil {
		return nil, err
	}
	lm, _ := l.(map[string]any)
	mm, mok := m.(map[string]any)
	cm, cok := c.(map[string]any)
	if !mok || !cok {
		return nil, fmt.Errorf("apply needs JSON objects: %w", errdefs.ErrBadRequest)
	}
	return json.Marshal(diffMaps(lm, mm, cm))
}
